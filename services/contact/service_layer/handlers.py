"""Contact handlers: react to the accounts service's events, and to contact's own."""

from __future__ import annotations

import logging
from datetime import date
from zoneinfo import ZoneInfo

from services.contact.adapters.skip_trace import SkipTraceProvider
from services.contact.domain.contact_points import ContactBook, ContactPoint
from services.contact.domain.model import CloseReason
from services.contact.service_layer import cases, contact_points, reminders
from services.contact.service_layer.attempts import on_inbound
from services.contact.service_layer.projections import payment_fact, standing_fact
from services.contact.service_layer.streams import append_contact
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.catalogue import EventData
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.contact import HardshipReported, SkipTraceCompleted
from shared.topics import Topics

log = logging.getLogger(__name__)

# Accounts' facts that end a collection case, and the reason each gives.
SETTLED: dict[str, CloseReason] = {
    "AccountCured": "cured",
    "AccountChargedOff": "charged_off",
    "DelinquencyPaused": "plan",
}
HANDLED = ("BillBecameOverdue", "PaymentAllocated", "DelinquencyBucketChanged", "AccountDayClosed")


class AccountsEventHandler:
    """Opens, routes and closes collection cases, settles promises and schedules reminders,
    as accounts reports."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type == "PaymentDueSoon":
            await reminders.due_soon(uow, env)
            return
        if env.type not in (*HANDLED, *SETTLED):
            return
        case_file = await uow.case_file(env.account_id)
        day = env.data.get("business_date")
        on = date.fromisoformat(day) if day else None
        topics = self._topics
        if env.type == "BillBecameOverdue":
            assert on is not None
            opened = case_file.on_overdue(env.data["bill_id"], on)
            if opened is not None:
                await cases.append_case(uow, topics, case_file, [opened], cause=env)
                await cases.refresh(uow, topics, case_file, reason="case opened", cause=env)
            await reminders.became_overdue(uow, env)
        elif env.type in SETTLED:
            closed = case_file.on_settled(SETTLED[env.type], on)
            if closed is not None:
                await cases.append_case(uow, topics, case_file, [closed], cause=env)
        elif env.type == "PaymentAllocated":
            paid_on = on or await self._local_date(uow, env)
            await uow.accounts.take_in(payment_fact(env, paid_on))
            await reminders.payment_allocated(uow, env)
            kept, _ = await cases.settle_promises(
                uow, topics, case_file, paid_on, closed=False, cause=env
            )
            if kept:  # a kept promise ends the broken-promise segment
                await cases.refresh(uow, topics, case_file, reason="promise to pay kept", cause=env)
        elif env.type == "DelinquencyBucketChanged":
            assert on is not None
            d = env.data
            await uow.accounts.take_in(standing_fact(env, d["to_bucket"], d["days_past_due"], on))
            await cases.refresh(
                uow, topics, case_file, reason=f"bucket {d['to_bucket']}", cause=env
            )
        else:  # AccountDayClosed
            assert on is not None
            d = env.data
            moved = await uow.accounts.take_in(
                standing_fact(env, d["bucket"], d["days_past_due"], on)
            )
            kept, broken = await cases.settle_promises(
                uow, topics, case_file, on, closed=True, cause=env
            )
            if broken or kept or moved:
                await cases.refresh(
                    uow,
                    topics,
                    case_file,
                    reason="promise to pay broken"
                    if broken
                    else f"day closed in bucket {d['bucket']}",
                    escalation="promise to pay broken" if broken else None,
                    cause=env,
                )

    @staticmethod
    async def _local_date(uow: ContactUnitOfWork, env: Envelope) -> date:
        # v1 allocations carry no business date: the borrower's date when it happened.
        where = await uow.accounts.borrower(env.account_id)
        zone = ZoneInfo(where[0]) if where else ZoneInfo("UTC")
        return env.occurred_at.astimezone(zone).date()


class SkipTraceHandler:
    """On contact's own `ContactLost`, asks the provider and records what it found.

    Consuming our own topic makes the request durable: a provider that is down is retried
    by the consumer (then dead-lettered), and the request id makes a retry idempotent.
    """

    def __init__(self, topics: Topics, provider: SkipTraceProvider) -> None:
        self._topics = topics
        self._provider = provider

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type != "ContactLost" or env.source != "contact":
            return
        request_id = env.data["request_id"]
        events, version = await uow.contact_log(env.account_id)
        if any(
            e.type == "SkipTraceCompleted" and e.data["request_id"] == request_id for e in events
        ):
            return
        found = await self._provider.trace(request_id, env.account_id)
        book = ContactBook.from_events(events)
        decided: list[EventData] = []
        for point in found:
            try:
                added = book.add(point.kind, point.value, "skip_trace", request_id=request_id)
            except Rejected:
                # A malformed value from the provider is dropped, unlogged: personal data.
                continue
            if added is not None:
                decided.append(added)
                # Fold it in, so the same point twice in one answer is added once.
                book.points[added.point_id] = ContactPoint(
                    added.point_id, added.kind, added.value, "skip_trace"
                )
        decided.append(
            SkipTraceCompleted(
                request_id=request_id,
                provider=self._provider.name,
                found=len(decided),
            )
        )
        await append_contact(uow, self._topics, env.account_id, version, decided, cause=env)
        log.info("skip-trace %s recorded %d new contact points", request_id, len(decided) - 1)


class PlansEventHandler:
    """Hardship evidence given to the plans service moves the case to the specialists."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type != "HardshipEvidenceReceived":
            return
        evidence = env.data["evidence"]
        _, version = await uow.contact_log(env.account_id)
        reported = HardshipReported(kind=evidence["kind"], evidence_sha256=evidence["sha256"])
        await append_contact(uow, self._topics, env.account_id, version, [reported], cause=env)
        case_file = await uow.case_file(env.account_id)
        if case_file.open_case_id is not None:
            await cases.refresh(
                uow, self._topics, case_file, reason="hardship evidence received", cause=env
            )


class InboundEventHandler:
    """Learns borrowers from AccountOpened and their contact points from the platform."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: ContactUnitOfWork, env: Envelope) -> None:
        if env.type == "AccountOpened":
            await on_inbound(uow, env)
        elif env.type == "ContactPointReported":
            if await uow.accounts.borrower(env.account_id) is None:
                raise Rejected(f"unknown account {env.account_id}")
            await contact_points.point_reported(uow, self._topics, env)
