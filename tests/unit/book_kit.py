"""An accounts database driven by hand, as its inbound consumer would drive it, for tests of
closes of every account (`*`): which accounts they reach, in which order, how often."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.accounts.bootstrap import bootstrap
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork, stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.envelope import Envelope, decode_envelope
from shared.errors import Rejected
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.support import envelope, settings_for

Runtime = ServiceRuntime[AccountsUnitOfWork]

# Late enough that every March date may be closed (DAY_CLOSE_FUTURE_DAYS).
NOW = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)


async def runtime_at(data_dir: Path, **overrides: Any) -> Runtime:
    """A migrated accounts runtime on a fixed clock (nothing started: no consumer, no relay)."""
    cfg = settings_for("accounts", data_dir, **overrides)
    await asyncio.to_thread(upgrade, cfg, migrations_dir("accounts"))
    return bootstrap(cfg, clock=FixedClock(NOW))


def day(n: int) -> date:
    """2026-03-`n`."""
    return date(2026, 3, n)


def star(n: int, *, by: str | None = None) -> dict[str, Any]:
    """A close of every account of 2026-03-`n`; `by` an integrator, as HTTP ingest marks it."""
    iso = day(n).isoformat()
    env = envelope(
        "BusinessDayClosed", "*", {"business_date": iso}, occurred_at=f"{iso}T23:59:00+08:00"
    )
    if by is not None:
        env["source"] = by
        env["metadata"] = {"actor": {"subject": by, "role": "integrator"}}
    return env


def at_day(raw: dict[str, Any], n: int, hour: int = 10) -> dict[str, Any]:
    """`raw` as occurring on 2026-03-`n` in Shanghai (opened, billed or paid that day)."""
    return {**raw, "occurred_at": f"{day(n).isoformat()}T{hour:02d}:00:00+08:00"}


def by(raw: dict[str, Any], integrator: str) -> dict[str, Any]:
    """`raw` as published by an integrator (its source is whoever opened the account)."""
    return {**raw, "source": integrator}


class Book:
    """One accounts database driven by hand. `apply` is one consumer run (one transaction,
    the processed ledger included); `queued` is what its outbox holds for the inbound
    topic, in outbox order, for the test to deliver as the topic would."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.handler = runtime.consumers["inbound"].handler
        self.ledger = runtime.consumers["inbound"].name
        self._seen_position = 0

    def envelope(self, item: dict[str, Any] | Envelope) -> Envelope:
        """A validated envelope, as the consumer decodes a record."""
        raw = item if isinstance(item, Envelope) else decode_envelope(item)
        return self.runtime.catalogue.validate(raw)

    async def apply(self, *items: dict[str, Any] | Envelope) -> None:
        """Apply events in one run, skipping those the ledger has (a redelivery)."""
        envs = [self.envelope(i) for i in items]
        async with self.runtime.uow() as uow:
            done = await uow.processed.seen_many(self.ledger, [str(e.id) for e in envs])
            fresh = [e for e in envs if str(e.id) not in done]
            await uow.prefetch(fresh)
            for env in fresh:
                await self.handler(uow, env)
            await uow.processed.add_many(self.ledger, [str(e.id) for e in fresh])
            await uow.commit()

    async def apply_bypassing_ledger(self, item: dict[str, Any] | Envelope) -> None:
        """Apply an event as a consumer whose ledger lost it would (a refusal changes nothing)."""
        try:
            async with self.runtime.uow() as uow:
                await self.handler(uow, self.envelope(item))
                await uow.commit()
        except Rejected:
            pass

    async def queued(self) -> list[Envelope]:
        """Every message the outbox holds for the inbound topic, in outbox order."""
        outbox = self.runtime.tables.outbox
        async with self.runtime.uow() as uow:
            rows = await uow.session.execute(
                select(outbox.c.value)
                .where(outbox.c.topic == self.runtime.settings.topics.inbound)
                .order_by(outbox.c.position)
            )
            return [decode_envelope(v) for (v,) in rows]

    async def new_messages(self) -> list[Envelope]:
        """The inbound messages queued since the last call, in outbox order."""
        outbox = self.runtime.tables.outbox
        async with self.runtime.uow() as uow:
            rows = list(
                await uow.session.execute(
                    select(outbox.c.position, outbox.c.value)
                    .where(
                        outbox.c.topic == self.runtime.settings.topics.inbound,
                        outbox.c.position > self._seen_position,
                    )
                    .order_by(outbox.c.position)
                )
            )
        if rows:
            self._seen_position = rows[-1][0]
        return [decode_envelope(v) for _, v in rows]

    async def drain(self) -> None:
        """Deliver every queued message until nothing new is queued, one run each."""
        while messages := await self.new_messages():
            for env in messages:
                await self.apply(env)

    async def stream(self, account_id: str) -> list[Envelope]:
        async with self.runtime.uow() as uow:
            events, _ = await uow.events.load(stream_id(account_id))
        return events

    async def closes(self, account_id: str) -> list[date]:
        """The dates the account closed, in stream order."""
        return [
            date.fromisoformat(e.data["business_date"])
            for e in await self.stream(account_id)
            if e.type == "AccountDayClosed"
        ]

    async def late_fee_days(self, account_id: str) -> list[tuple[str, str]]:
        """(bill, date) of every day's late fee (corrections of a backdated payment aside)."""
        return [
            (e.data["bill_id"], e.data["business_date"])
            for e in await self.stream(account_id)
            if e.type == "LateFeeAccrued" and not e.data.get("correction")
        ]

    async def state(self, account_id: str) -> dict[str, Any]:
        """What an account's API shows of its standing."""
        async with self.runtime.uow() as uow:
            account = await uow.accounts.get(account_id)
        return {
            "balances": account.balances(),
            "credit": account.credit,
            "last_closed": account.last_closed,
            "days_past_due": account.days_past_due,
            "bucket": account.bucket,
        }

    async def book(self) -> list[tuple[str, date, str]]:
        """The book's closes: (scope, date, id of the `*` close)."""
        from services.accounts.adapters.tables import book_closes as t

        async with self.runtime.uow() as uow:
            rows = await uow.session.execute(
                select(t.c.scope, t.c.business_date, t.c.event_id).order_by(
                    t.c.business_date, t.c.scope
                )
            )
            return [(s, d, i) for s, d, i in rows]


def contiguous(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`."""
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


def payload(env: Envelope) -> dict[str, Any]:
    """An envelope as the topic carries it (JSON), for comparing ids and fields."""
    data: dict[str, Any] = json.loads(env.to_json())
    return data


def ids(envs: Sequence[Envelope]) -> list[str]:
    return [str(e.id) for e in envs]
