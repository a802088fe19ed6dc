"""The audit trail chained a batch at once: the same chain as one event at a time, at a
constant number of statements per batch."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from services.audit.adapters.tables import (
    audit_entries,
    audit_personal_values,
    audit_subject_keys,
)
from services.audit.bootstrap import bootstrap
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from services.registry import migrations_dir
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.contract.audit_contract import event
from tests.support import settings_for, statements_on

ACCOUNTS = ("A1", "A2", "A3")
START = datetime(2026, 3, 1, tzinfo=UTC)


def envelope(n: int, account: str, personal: bool) -> Envelope:
    """The n-th event: a dispute (with personal free text) or a late fee (none)."""
    return event(n, account, personal)


@asynccontextmanager
async def audit_runtime(directory: Path) -> AsyncIterator[ServiceRuntime[AuditUnitOfWork]]:
    """A migrated audit database whose accounts' commitment keys are fixed in advance, so
    two databases fed the same events must hold byte-identical trails."""
    s = settings_for("audit", directory)
    await asyncio.to_thread(upgrade, s, migrations_dir("audit"))
    runtime = bootstrap(s)
    async with runtime.uow() as uow:
        await uow.session.execute(
            insert(audit_subject_keys),
            [{"account_id": a, "key": a.encode() * 16, "created_at": START} for a in ACCOUNTS],
        )
        await uow.commit()
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


async def trail(runtime: ServiceRuntime[AuditUnitOfWork]) -> tuple[list[Any], list[Any]]:
    t, v = audit_entries, audit_personal_values
    async with runtime.uow() as uow:
        entries = (
            await uow.session.execute(
                select(
                    t.c.account_id, t.c.seq, t.c.event_id, t.c.event, t.c.hash, t.c.prev_hash
                ).order_by(t.c.account_id, t.c.seq)
            )
        ).all()
        values = (await uow.session.execute(select(v).order_by(v.c.account_id, v.c.seq))).all()
    return list(entries), list(values)


events_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(ACCOUNTS), st.booleans()), max_size=40
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events_strategy, batch=st.integers(1, 15))
def test_a_trail_chained_in_batches_equals_one_chained_event_by_event(
    events: list[tuple[int, str, bool]], batch: int
) -> None:
    # Repeated numbers are redeliveries of one event (same id, same account): chained once.
    first_account: dict[int, tuple[str, bool]] = {}
    envs = [
        envelope(n, *first_account.setdefault(n, (account, personal)))
        for n, account, personal in events
    ]

    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
            async with audit_runtime(Path(one)) as single, audit_runtime(Path(many)) as batched:
                for env in envs:
                    async with single.uow() as uow:
                        await uow.append_entry(env)
                        await uow.commit()
                for i in range(0, len(envs), batch):
                    async with batched.uow() as uow:
                        await uow.prefetch(envs[i : i + batch])
                        for env in envs[i : i + batch]:
                            await uow.append_entry(env)
                        await uow.commit()
                expected, got = await trail(single), await trail(batched)
                assert got == expected
                assert len(got[0]) == len(first_account)
                async with batched.uow() as uow:
                    for account in ACCOUNTS:
                        assert await uow.trail.verify(account) is None

    asyncio.run(scenario())


async def statements_for(
    runtime: ServiceRuntime[AuditUnitOfWork], envs: list[Envelope]
) -> list[str]:
    with statements_on(runtime.engine) as seen:
        async with runtime.uow() as uow:
            await uow.prefetch(envs)
            for env in envs:
                await uow.append_entry(env)
            await uow.commit()
    return seen


async def test_a_batch_costs_the_same_statements_whether_it_holds_20_events_or_400(
    tmp_path: Path,
) -> None:
    def batch(offset: int, n: int) -> list[Envelope]:
        return [envelope(offset + i, f"S{i % 97}", i % 5 == 0) for i in range(n)]

    async with audit_runtime(tmp_path) as runtime:
        small = await statements_for(runtime, batch(0, 20))
        large = await statements_for(runtime, batch(1_000, 400))
        again = await statements_for(runtime, batch(1_000, 400))  # all redelivered
    # ids present, heads, keys (read, create, reread); entries, personal values and the
    # order they were chained in (one TrailChained in the outbox).
    assert small == large
    assert small.count("INSERT") == 4 and len(small) <= 9, small
    assert "INSERT" not in again


async def test_verify_names_the_first_broken_link_of_a_batched_chain(tmp_path: Path) -> None:
    envs = [envelope(n, "A1", n % 3 == 0) for n in range(12)]
    async with audit_runtime(tmp_path) as runtime:
        async with runtime.uow() as uow:
            await uow.prefetch(envs)
            for env in envs:
                await uow.append_entry(env)
            await uow.commit()
        t = audit_entries
        async with runtime.uow() as uow:
            await uow.session.execute(
                update(t).where(t.c.account_id == "A1", t.c.seq.in_([5, 9])).values(event="{}")
            )
            await uow.commit()
        async with runtime.uow() as uow:
            broken = await uow.trail.verify("A1")
    assert broken is not None and broken.seq == 5
