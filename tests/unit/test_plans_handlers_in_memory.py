"""Plans' handlers on the in-memory unit of work: the service layer runs on its ports
alone, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.plans.service_layer.handlers import AccountsHandler, on_inbound, quote_account
from services.plans.service_layer.lifecycle import OfferChoice, accept_plan, request_plan
from shared.clock import FixedClock
from shared.events.inbound import AccountOpened
from shared.topics import Topics
from tests.fakes.plans import FakePlansUnitOfWork, PlansStore
from tests.unit.test_plans_batch import BORROWER, FIRST, closed, fact, paid

TOPICS = Topics("arrears")


async def test_an_active_deferral_counts_a_payment_and_its_close_prices_again() -> None:
    store = PlansStore()
    clock = FixedClock(datetime(2026, 3, 12, 16, tzinfo=UTC))
    handler = AccountsHandler(TOPICS)
    opened = AccountOpened(
        customer_id="c", product="consumer_credit", currency="CNY", time_zone="Asia/Shanghai"
    )
    async with FakePlansUnitOfWork(store, clock) as uow:
        await on_inbound(uow, fact(opened, "A1", FIRST))
        await handler(uow, closed("A1", FIRST))
        await uow.commit()
    async with FakePlansUnitOfWork(store, clock) as uow:
        plan = await request_plan(
            uow, TOPICS, "A1", "deferral", BORROWER, "app", choice=OfferChoice("deferral-1")
        )
        assert plan.offered is not None
        sha = plan.offered.disclosure_sha256
        await accept_plan(uow, TOPICS, "A1", plan.plan_id, BORROWER, "app", sha)
        await uow.commit()
    day = FIRST + timedelta(days=1)
    async with FakePlansUnitOfWork(store, clock) as uow:
        await uow.prefetch([paid("A1", day, 1)])
        await handler(uow, paid("A1", day, 1))
        moved = await quote_account(uow, "A1", None, False)
        await handler(uow, closed("A1", day))
        await uow.commit()
    async with FakePlansUnitOfWork(store, clock) as uow:
        again, snapshot = await quote_account(uow, "A1", None, False)
    types = [env.type for _, env in store.outbox]
    assert types[-1] == "PlanPaymentApplied" and "PlanActivated" in types
    assert [f.type for f in store.inbox] == [
        "AccountOpened",
        "AccountDayClosed",
        "PaymentAllocated",
        "AccountDayClosed",
    ]
    assert any("a payment reached the account" in n for n in moved[0].notes)
    assert not any("a payment reached the account" in n for n in again.notes)
    assert (snapshot.today, snapshot.active_plan_id) == (day, plan.plan_id)
    assert store.plans[plan.plan_id]["state"] == "active"
