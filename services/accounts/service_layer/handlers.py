"""Accounts handlers: apply one inbound event inside a unit of work (which the caller commits)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import ClassVar
from zoneinfo import ZoneInfo

from services.accounts.domain.book import ALL_ACCOUNTS, BookClose
from services.accounts.domain.model import Account
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.catalogue import Catalogue, EventData, new_envelope
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.accounts import AccountDayClosed, PlanTermsRefused
from shared.events.inbound import (
    PLATFORM_ACCOUNT,
    AccountOpened,
    BillIssued,
    BusinessDayClosed,
    ContactPointReported,
    PaymentReceived,
)
from shared.events.plans import PlanActivated
from shared.money import add_months
from shared.topics import Topics

SOURCE = "accounts"
FAN_OUT_PAGE = 5_000
"""How many accounts' closes a close of every account builds and writes at a time."""


def end_of_day(day: date, time_zone: str) -> datetime:
    """The last instant of a business date in a time zone."""
    return datetime.combine(day, time.max, tzinfo=ZoneInfo(time_zone or "UTC"))


def _day_close(cause: Envelope, account_id: str, data: BusinessDayClosed, name: str) -> Envelope:
    """A close of one account that `cause` leads to; its id derives from the cause's and
    `name`, so a redelivered cause leads to the same close, which is then seen already."""
    return Envelope(
        id=uuid.uuid5(cause.id, name),
        type=BusinessDayClosed.event_type,
        schema_version=BusinessDayClosed.schema_version,
        account_id=account_id,
        occurred_at=cause.occurred_at,
        source=SOURCE,
        data=data.model_dump(mode="json"),
        correlation_id=cause.correlation_id or cause.id,
        causation_id=cause.id,
        metadata=cause.metadata,
    )


def _fanned_out(booked: BookClose, account_id: str) -> Envelope:
    """The close of one account that the fan-out of a booked close gave (or would have
    given) it: the same id and fields, whichever path builds it."""
    data = BusinessDayClosed(business_date=booked.business_date)
    return _day_close(booked.event, account_id, data, account_id)


def _scopes(opened_by: str | None) -> list[str]:
    """The book scopes whose closes cover an account: every account's, and its opener's."""
    return [ALL_ACCOUNTS, opened_by] if opened_by else [ALL_ACCOUNTS]


class PlansHandler:
    """Applies the relief agreed in the plans service to the account's schedule and fees.

    PlanActivated carries a plan's exact terms (waiver, deferral, re-installment at the
    plan's rate); PlanAgreed (the older contract) names one measure. While a plan has
    installments, delinquency is paused until plans says it completed, broke or was
    cancelled. Terms the account cannot take (more than 13 months of deferral in total,
    a waiver larger than the fees, a balance that moved) are refused with the reason and
    dead-lettered for people.
    """

    ENDINGS: ClassVar[dict[str, str]] = {
        "PlanBroken": "broken",
        "PlanCompleted": "completed",
        "PlanCancelled": "cancelled",
    }

    def __init__(self, catalogue: Catalogue, topics: Topics) -> None:
        self._catalogue = catalogue
        self._topics = topics

    async def __call__(self, uow: AccountsUnitOfWork, env: Envelope) -> None:
        if env.type not in ("PlanAgreed", "PlanActivated", *self.ENDINGS):
            return
        account = await uow.accounts.get(env.account_id)
        if not account.opened:
            raise Rejected(f"unknown account {env.account_id}")
        if env.type == "PlanAgreed":
            events = self._agreed(account, env)
        elif env.type == "PlanActivated":
            data = self._catalogue.parse(env)
            assert isinstance(data, PlanActivated)
            try:
                events = account.apply_plan(data)
            except Rejected as exc:
                # Not a dead letter: the borrower's plan must end visibly, so plans is told
                # (and cancels it) rather than left believing it applies.
                events = [
                    PlanTermsRefused(
                        plan_id=data.plan_id, reason=exc.reason, business_date=account.today
                    )
                ]
        elif env.data["plan_id"] not in account.active_plans:
            return  # a plan that never paused this account has nothing to end
        else:
            events = account.end_plan(env.data["plan_id"], self.ENDINGS[env.type])
        emitted = [InboundHandler._emit(uow, env, e, env.occurred_at) for e in events]
        await uow.save(account, [], emitted, self._topics.accounts)

    @staticmethod
    def _agreed(account: Account, env: Envelope) -> list[EventData]:
        plan = env.data
        if plan["currency"] != account.currency:
            raise Rejected(f"plan currency {plan['currency']} is not the account's")
        agreed_on = account.business_date_of(env.occurred_at)
        plan_id = plan["plan_id"]
        match plan["plan_type"]:
            case "deferral":
                measure = account.apply_deferral(plan_id, plan["months"])
            case "reinstallment":
                measure = account.apply_reinstallment(
                    plan_id, plan["months"], add_months(agreed_on, 1)
                )
            case "waiver":
                # A one-off reduction: nothing stays active, so nothing is paused.
                return account.apply_waiver(plan_id, plan["amount"] or None)
            case _:
                raise Rejected(
                    f"PlanAgreed cannot carry a {plan['plan_type']} plan; PlanActivated does"
                )
        # Then the plan pauses delinquency until plans says it was completed or broken;
        # the pause is decided on a copy that already has the measure applied.
        after = account.scratch()
        for event in measure:
            after.apply_data(event)
        return [*measure, *after.start_plan(plan_id)]


class InboundHandler:
    """Applies integrators' events to accounts and emits what follows from them."""

    def __init__(
        self,
        catalogue: Catalogue,
        topics: Topics,
        *,
        future_days: int = 1,
        max_catch_up_days: int | None = None,
        scoped: bool = False,
    ) -> None:
        self._catalogue = catalogue
        self._topics = topics
        self._future_days = future_days
        self._max_catch_up = max_catch_up_days
        self._scoped = scoped

    async def __call__(self, uow: AccountsUnitOfWork, env: Envelope) -> None:
        # recorded_at is when arrears recorded the fact: ours to set, whatever came in.
        fact = env.recorded(uow.now)
        data = self._catalogue.parse(fact)
        match data:
            case AccountOpened():
                await self._open(uow, fact, data)
            case BillIssued():
                account = await uow.accounts.get(fact.account_id)
                await self._catch_up(uow, account, account.business_date_of(fact.occurred_at))
                emitted = [
                    self._emit(uow, fact, event, fact.occurred_at)
                    for event in account.issue_bill(data)
                ]
                await uow.save(account, [fact], emitted, self._topics.accounts)
            case PaymentReceived():
                account = await uow.accounts.get(fact.account_id)
                await self._catch_up(uow, account, account.business_date_of(fact.occurred_at))
                emitted = [
                    self._emit(uow, fact, event, data.paid_at)
                    for event in account.receive_payment(data)
                ]
                await uow.save(account, [fact], emitted, self._topics.accounts)
            case BusinessDayClosed():
                await self._close_day(uow, fact, data)
            case ContactPointReported():
                return  # how to reach the borrower is the contact service's business
            case _:
                raise Rejected(f"accounts does not accept {fact.type} on the inbound topic")

    async def _open(self, uow: AccountsUnitOfWork, fact: Envelope, data: AccountOpened) -> None:
        if fact.account_id == PLATFORM_ACCOUNT:
            raise Rejected(f"account id {PLATFORM_ACCOUNT!r} is reserved")
        account = await uow.accounts.get(fact.account_id)
        account.open(data)
        await uow.save(account, [fact], [], self._topics.accounts)  # indexes it too
        # A close of every account covers the accounts opened on or before its date, however
        # late the opening is applied: one the fan-out could not see (it ran first) reaches
        # this account as the fan-out would have sent it, after what is queued for it here.
        await uow.order_with_fan_outs(exclusive=False)
        opened_on = account.business_date_of(fact.occurred_at)
        allowed = self._latest_allowed(uow.now, account.time_zone) + timedelta(days=1)
        span = await uow.book.span(_scopes(fact.source), opened_on, allowed)
        if span is not None:
            # The latest is enough: closing it, the account first catches up from the
            # book's first close on or after its opening date (see `_catch_up`).
            _, last = span
            await uow.outbox.add(self._topics.inbound, [_fanned_out(last, fact.account_id)])

    async def _close_day(
        self, uow: AccountsUnitOfWork, fact: Envelope, data: BusinessDayClosed
    ) -> None:
        started = perf_counter()
        closed = await self._close(uow, fact, data)
        metrics = uow.metrics
        if metrics is not None:
            kind = "fan_out" if fact.account_id == PLATFORM_ACCOUNT else "account"
            seconds = perf_counter() - started

            def count() -> None:
                metrics.day_close_latency.labels(kind).observe(seconds)
                metrics.accounts_closed.inc(closed)

            uow.after_commit(count)

    async def _close(self, uow: AccountsUnitOfWork, fact: Envelope, data: BusinessDayClosed) -> int:
        """Close the day (or fan a `*` close out); how many account days it closed."""
        if fact.account_id == PLATFORM_ACCOUNT:
            # No zone is ahead of UTC+14: a date later than today there is later everywhere.
            self._refuse_future(data.business_date, uow.now, "Etc/GMT-14")
            await self._fan_out(uow, fact, data)
            return 0
        account = await uow.accounts.get(fact.account_id)
        if not account.opened:
            raise Rejected(f"unknown account {fact.account_id}")
        self._refuse_future(data.business_date, uow.now, account.time_zone)
        used = await self._catch_up(uow, account, data.business_date, self._max_catch_up)
        budget = None if self._max_catch_up is None else self._max_catch_up - used
        # A business day ends at midnight where the borrower lives.
        closed_at = end_of_day(data.business_date, account.time_zone)
        emitted = [
            self._emit(uow, fact, event, closed_at)
            for event in account.close_day(data.business_date, budget)
        ]
        await uow.save(account, [], emitted, self._topics.accounts)
        if account.last_closed is not None and account.last_closed < data.business_date:
            # A long catch-up goes on in the account's next transaction, after whatever
            # else is queued for it, so no transaction holds more than the cap of days.
            more = _day_close(fact, fact.account_id, data, f"after {account.last_closed}")
            await uow.outbox.add(self._topics.inbound, [more])
        return used + sum(e.type == AccountDayClosed.event_type for e in emitted)

    async def _catch_up(
        self,
        uow: AccountsUnitOfWork,
        account: Account,
        before: date,
        max_days: int | None = None,
    ) -> int:
        """Close first the dates the book closed before `before` that this account has not
        (at most `max_days` of them); returns how many dates it closed.

        An account the fan-out of a close did not reach (not applied yet then), or whose
        fanned-out close is still on its way, closes those dates as the fan-out's closes
        would have, before the event at hand: a payment of a later date is then not taken
        as if those days had not ended. Its first close is the book's first on or after its
        opening date. Before a bill or a payment every such date closes (the event cannot
        wait for a continuation, and the lag bounds them); a close of the account passes its
        DAY_CLOSE_MAX_CATCH_UP_DAYS, and continues in its next transactions as ever. The
        fanned-out closes that arrive afterwards find their dates closed and do nothing.
        """
        if not account.opened:
            return 0
        # Never a date a close of the account itself would be refused for.
        before = min(before, self._latest_allowed(uow.now, account.time_zone) + timedelta(days=1))
        bounds = await uow.book.bounds()  # one read a transaction
        last = account.last_closed
        # Most often the book closed nothing before `before` this account has not (it is
        # current, or it is closing the one date it is behind by): no further read.
        lo = last + timedelta(days=1) if last is not None else date.min
        if lo >= before or not any(lo <= b and a < before for a, b in bounds.values()):
            return 0
        entry = await uow.accounts.index_entry(account.account_id)
        if entry is None:
            return 0
        opened_at, opened_by = entry
        start = account.business_date_of(opened_at) if last is None else lo
        span = await uow.book.span(_scopes(opened_by), start, before)
        if span is None:
            return 0
        first, target = span
        # An account's first close closes only its date: the book's first, then the rest.
        steps = [(first, 1), (target, None)] if last is None else [(target, None)]
        used = 0
        for booked, days in steps:
            budget = None if max_days is None else max_days - used
            if budget is not None and budget <= 0:
                break
            if days is not None:
                budget = days if budget is None else min(days, budget)
            cause = _fanned_out(booked, account.account_id)
            closed_at = end_of_day(booked.business_date, account.time_zone)
            emitted = [
                self._emit(uow, cause, event, closed_at)
                for event in account.close_day(booked.business_date, budget)
            ]
            await uow.save(account, [], emitted, self._topics.accounts)
            used += sum(e.type == AccountDayClosed.event_type for e in emitted)
        return used

    def _scope_of(self, fact: Envelope) -> str | None:
        """Whose accounts a `*` close covers: an integrator's own, when scoped; else all."""
        actor = fact.metadata.get("actor") or {}
        if self._scoped and actor.get("role") == "integrator":
            return fact.source
        return None

    def _latest_allowed(self, now: datetime, time_zone: str) -> date:
        """The latest business date a close may name in `time_zone` now."""
        today = now.astimezone(ZoneInfo(time_zone or "UTC")).date()
        return today + timedelta(days=self._future_days)

    def _refuse_future(self, business_date: date, now: datetime, time_zone: str) -> None:
        today = now.astimezone(ZoneInfo(time_zone or "UTC")).date()
        latest = self._latest_allowed(now, time_zone)
        if business_date > latest:
            raise Rejected(
                f"business_date {business_date} is after today ({today} in {time_zone}) "
                f"plus DAY_CLOSE_FUTURE_DAYS={self._future_days}: a day cannot be closed "
                f"before it has happened"
            )

    async def _fan_out(
        self, uow: AccountsUnitOfWork, fact: Envelope, data: BusinessDayClosed
    ) -> None:
        """A close of every account becomes one close per account on the inbound topic.

        Closing them all here would load every account in one transaction; fanned out,
        each close is a small transaction on its account's partition, spread over however
        many consumers run, and ordered after what the account already has there. The ids
        derive from the fact's, so a redelivered `*` close fans out to the same events,
        which consumers have already seen.

        The date is booked in the same transaction, before the index is read: an account
        opened too late for this read finds the close in the book and catches up (`_open`,
        `_catch_up`), and a second `*` close of a booked date fans out nothing.
        """
        scope = self._scope_of(fact)
        # Booked first, then the index read, in an order openings share (see `_open`).
        await uow.order_with_fan_outs(exclusive=True)
        if not await uow.book.record(scope or ALL_ACCOUNTS, data.business_date, fact):
            # Closed already (by another `*` close of this date, or this one redelivered):
            # every account indexed then got its close, and any since catches up.
            return
        async for page in uow.accounts.id_pages(FAN_OUT_PAGE, scope):
            closes = [_day_close(fact, account_id, data, account_id) for account_id in page]
            await uow.outbox.add(self._topics.inbound, closes)
            # Written page by page: memory holds one page of a book of millions, not all.
            await uow.outbox.flush()

    @staticmethod
    def _emit(
        uow: AccountsUnitOfWork, cause: Envelope, data: EventData, occurred_at: datetime
    ) -> Envelope:
        return new_envelope(
            data,
            account_id=cause.account_id,
            occurred_at=occurred_at,
            recorded_at=uow.now,
            source=SOURCE,
            cause=cause,
        )
