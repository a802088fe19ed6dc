"""Plans' consumer runs in batches: a constant number of statements per run, whatever its
events, and the same streams, outbox and read models as one event at a time."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.plans.adapters.tables import (
    account_standings,
    inbox,
    known_accounts,
    plan_bills,
    plan_index,
    platform,
)
from services.plans.bootstrap import bootstrap
from services.plans.domain.plan import Actor
from services.plans.service_layer.handlers import AccountsHandler, on_inbound
from services.plans.service_layer.lifecycle import OfferChoice, accept_plan, request_plan
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from services.registry import migrations_dir
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.events.accounts import AccountDayClosed, Allocation, PaymentAllocated
from shared.events.inbound import AccountOpened
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.support import settings_for, statements_on

FIRST = date(2026, 3, 12)
BORROWER = Actor("borrower-1", "borrower")
BALANCES = {"principal": 300_000, "interest": 6_000, "fees": 1_500, "late_fee": 4_200}
OVERDUE = {"principal": 100_000, "interest": 2_000, "fees": 500, "late_fee": 4_200}

Runtime = ServiceRuntime[PlansUnitOfWork]


def fact(data: EventData, account: str, day: date) -> Envelope:
    """An event of the accounts service about `account`, on `day`."""
    at = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    return new_envelope(data, account_id=account, occurred_at=at, recorded_at=at, source="accounts")


def closed(account: str, day: date) -> Envelope:
    """The account's close of `day`, 40 days past due, with its standing."""
    data = AccountDayClosed(
        business_date=day,
        days_past_due=40,
        bucket="31-60",
        balances=BALANCES,
        overdue=OVERDUE,
        deferral_months_used=0,
    )
    return fact(data, account, day)


def paid(account: str, day: date, n: int) -> Envelope:
    """A payment of 10.00 allocated to the account's overdue bill on `day`."""
    data = PaymentAllocated(
        payment_id=f"P{n}",
        currency="CNY",
        amount=1_000,
        allocations=[Allocation(bill_id="B1", amount=1_000)],
        unallocated=0,
        business_date=day,
    )
    return fact(data, account, day)


def rounds(accounts: list[str], days: range) -> list[Envelope]:
    """A payment and a close of each account on each of `days` after the first close."""
    out = []
    for k in days:
        day = FIRST + timedelta(days=k)
        out += [e for a in accounts for e in (paid(a, day, k), closed(a, day))]
    return out


@asynccontextmanager
async def plans_runtime(directory: Path) -> AsyncIterator[Runtime]:
    """A migrated plans database."""
    s = settings_for("plans", directory)
    await asyncio.to_thread(upgrade, s, migrations_dir("plans"))
    runtime = bootstrap(s)
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


async def handle(runtime: Runtime, envs: list[Envelope]) -> None:
    """Handle `envs` in one transaction, as a consumer run does."""
    accounts = AccountsHandler(runtime.settings.topics)
    async with runtime.uow() as uow:
        await uow.prefetch(envs)
        for env in envs:
            opened = env.type == AccountOpened.event_type
            await (on_inbound if opened else accounts)(uow, env)
        await uow.commit()


async def seed(runtime: Runtime, accounts: list[str]) -> None:
    """Each account opened and closed once; every third with an active deferral."""
    data = AccountOpened(
        customer_id="c", product="consumer_credit", currency="CNY", time_zone="Asia/Shanghai"
    )
    await handle(runtime, [fact(data, a, FIRST) for a in accounts])
    await handle(runtime, [closed(a, FIRST) for a in accounts])
    topics = runtime.settings.topics
    for account in accounts[::3]:
        async with runtime.uow() as uow:
            choice = OfferChoice("deferral-1")
            plan = await request_plan(
                uow, topics, account, "deferral", BORROWER, "app", choice=choice
            )
            assert plan.offered is not None
            sha = plan.offered.disclosure_sha256
            await accept_plan(uow, topics, account, plan.plan_id, BORROWER, "app", sha)
            await uow.commit()


async def statements_for(runtime: Runtime, envs: list[Envelope]) -> list[str]:
    with statements_on(runtime.engine) as seen:
        await handle(runtime, envs)
    return seen


async def test_a_run_costs_the_same_statements_whether_it_holds_12_events_or_240(
    tmp_path: Path,
) -> None:
    accounts = [f"A{n:03d}" for n in range(60)]
    async with plans_runtime(tmp_path) as runtime:
        await seed(runtime, accounts)
        small = await statements_for(runtime, rounds(accounts[:6], range(1, 2)))
        large = await statements_for(runtime, rounds(accounts, range(2, 4)))
        async with runtime.uow() as uow:
            applied = (
                await uow.session.execute(
                    select(platform.events.c.type).where(
                        platform.events.c.type == "PlanPaymentApplied"
                    )
                )
            ).all()
    # Known accounts, standings, plan rows, plan bills, the open plans' streams; then the
    # events, the outbox, the inbox, the standings and the plan rows written.
    assert small == large, (small, large)
    assert small == ["SELECT"] * 5 + ["INSERT"] * 5, small
    # The large run did the plans' work: the active plans counted each payment.
    assert len(applied) == 2 + 20 * 2, applied


async def test_a_run_in_one_transaction_leaves_what_one_event_at_a_time_leaves(
    tmp_path: Path,
) -> None:
    accounts = [f"A{n:03d}" for n in range(12)]
    one, batched = tmp_path / "one", tmp_path / "batched"
    one.mkdir()
    async with plans_runtime(one) as runtime:
        await seed(runtime, accounts)
    shutil.copytree(one, batched, dirs_exist_ok=True)
    work = rounds(accounts, range(1, 4))
    async with plans_runtime(one) as runtime:
        for env in work:
            await handle(runtime, [env])
        expected = await contents(runtime)
    async with plans_runtime(batched) as runtime:
        await handle(runtime, work)
        got = await contents(runtime)
    assert got == expected
    assert len(got["plan_index"]) == 4 and len(got["events"]) > 8


async def contents(runtime: Runtime) -> dict[str, list[Any]]:
    """Every read model's rows, the inbox, the streams and the outbox, without the ids and
    times that differ between two runs of the same work."""
    e, o = platform.events, platform.outbox
    queries = {
        "known_accounts": select(known_accounts),
        "account_standings": select(account_standings),
        "plan_index": select(plan_index),
        "plan_bills": select(plan_bills),
        "inbox": select(inbox.c.event_id, inbox.c.type, inbox.c.data).order_by(inbox.c.position),
        "events": select(e.c.stream_id, e.c.stream_version, e.c.type).order_by(
            e.c.stream_id, e.c.stream_version
        ),
        "outbox": select(o.c.topic, o.c.key).order_by(o.c.position),
    }
    out: dict[str, list[Any]] = {}
    async with runtime.uow() as uow:
        for name, query in queries.items():
            rows = [tuple(r) for r in await uow.session.execute(query)]
            out[name] = sorted(rows) if name not in ("inbox", "outbox") else rows
    return out
