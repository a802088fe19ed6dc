"""Automated reminders: scheduled from the accounts service's events, sent by a worker.

Scheduling is a read model (`reminders`, a work queue) fed by the accounts handler:
`PaymentDueSoon` (pre-due) and an early-days `BillBecameOverdue` put a pending reminder
there; a payment reaching the bill skips it. The worker sends each due reminder on the
first channel the compliance engine allows, and records every decision and the message
sent on the account's contact stream, like an agent's check and record would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from services.contact.adapters.notifier import Notifier, NotifierError
from services.contact.domain.compliance import (
    ContactAttempt,
    ContactLedger,
    RecordedAttempt,
    check,
    decision_event,
    recorded_attempt,
)
from services.contact.domain.reminders import (
    PAYMENT_RECEIVED,
    carries_opt_out,
    message_id,
    next_open,
    reminder_channels,
    reminder_text,
)
from services.contact.service_layer.streams import (
    append_contact,
    consumer_state,
    preferred_channels,
)
from services.contact.service_layer.unit_of_work import ContactUnitOfWork, ReminderKey
from shared.catalogue import EventData
from shared.envelope import Envelope
from shared.events.contact import ContactChannel
from shared.topics import Topics

log = logging.getLogger(__name__)

# The strategy row whose channels reminders use: a borrower not (yet) behind, no segment.
REMINDER_BUCKET = "current"
REMINDER_SEGMENT = "standard"


def _reminders_queue(uow: ContactUnitOfWork) -> str:
    return uow.policy.strategy.treatment(REMINDER_BUCKET, REMINDER_SEGMENT).queue


async def _case_elsewhere(uow: ContactUnitOfWork, account_id: str) -> str | None:
    """The queue of the account's open case when people, not reminders, work it."""
    row = await uow.cases.row(account_id)
    if row is not None and row["queue"] != _reminders_queue(uow):
        return str(row["queue"])
    return None


# -- scheduling (called by the accounts handler, in its unit of work) ---------------------------


async def due_soon(uow: ContactUnitOfWork, env: Envelope) -> None:
    """Accounts' `PaymentDueSoon`: a pre-due reminder, once per bill and due date."""
    d = env.data
    key = (env.account_id, d["bill_id"], date.fromisoformat(d["due_date"]), "due_soon")
    await uow.reminders.schedule(key, amount_due=d["amount_due"], currency=d["currency"])


async def became_overdue(uow: ContactUnitOfWork, env: Envelope) -> None:
    """An early-days reminder for a bill that just went overdue, unless one is still
    pending (it will go out anyway) or the case is already worked by people."""
    d = env.data
    if await uow.reminders.has_pending(env.account_id, d["bill_id"]):
        return
    if await _case_elsewhere(uow, env.account_id) is not None:
        return
    key = (env.account_id, d["bill_id"], date.fromisoformat(d["due_date"]), "overdue")
    await uow.reminders.schedule(key, amount_due=d["overdue_amount"], currency=d["currency"])


async def payment_allocated(uow: ContactUnitOfWork, env: Envelope) -> None:
    """A payment reached these bills: their pending reminders would only annoy."""
    bills = sorted({a["bill_id"] for a in env.data["allocations"]})
    await uow.reminders.skip_pending(env.account_id, bills, PAYMENT_RECEIVED)


# -- sending ----------------------------------------------------------------------------------


class ReminderWorker:
    """Sends due reminders every `poll_seconds`, one unit of work per reminder.

    The message goes out before the unit of work commits: a commit that then fails (a
    concurrent write to the contact stream, the database gone) leaves the reminder
    pending, and the next try sends it again with the same message id, which the
    provider uses to drop the duplicate. A reminder is never marked sent unless the
    provider accepted it.
    """

    def __init__(
        self,
        uow_factory: Callable[[], ContactUnitOfWork],
        topics: Topics,
        notifier: Notifier,
        *,
        poll_seconds: float = 60,
        batch: int = 100,
    ) -> None:
        self._uow = uow_factory
        self._topics = topics
        self._notifier = notifier
        self._poll_seconds = poll_seconds
        self._batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)
            if stop.is_set():
                return
            try:
                await self.process_due()
            except Exception:
                log.exception("reminder pass failed; trying again next interval")

    async def process_due(self) -> int:
        """Try every reminder due now (up to one batch); how many were sent."""
        async with self._uow() as uow:
            keys = await uow.reminders.due(self._batch)
        sent = 0
        for key in keys:
            try:
                sent += await self._process(key)
            except Exception:
                # One broken reminder must not stop the others; it stays due and is
                # tried again on the next pass.
                log.exception("reminder %s/%s failed; trying again later", key[0], key[1])
        return sent

    async def _process(self, key: ReminderKey) -> int:
        account_id, bill_id, due_date, kind = key
        async with self._uow() as uow:
            row = await uow.reminders.get(key)
            # Another replica (or a payment) may have dealt with it since the listing.
            if row is None or row["status"] != "pending" or row["next_try_at"] > uow.now:
                return 0
            where = await uow.accounts.borrower(account_id)
            if where is None:
                # Borrowers come from the inbound topic, reminders from the accounts one:
                # the account may not be known here yet.
                await _retry(uow, key, row, "account not known to contact yet")
                await uow.commit()
                return 0
            queue = await _case_elsewhere(uow, account_id)
            if queue is not None:
                await _skip(uow, key, f"case worked in queue {queue}")
                await uow.commit()
                return 0
            zone, jurisdiction = where
            events, version = await uow.contact_log(account_id)
            state = consumer_state(zone, events)
            ledger = ContactLedger.from_events(events)
            pack = uow.packs.for_jurisdiction(jurisdiction)
            treatment = uow.policy.strategy.treatment(REMINDER_BUCKET, REMINDER_SEGMENT)
            channels = reminder_channels(
                treatment.channels, preferred_channels(events), state.opted_out_channels
            )
            if not channels:
                await _skip(uow, key, "opted out of every reminder channel")
                await uow.commit()
                return 0
            mid = message_id(account_id, bill_id, due_date, kind)
            decided: list[EventData] = []
            chosen: ContactAttempt | None = None
            blocked_by: list[str] = []

            def attempt_at(channel: ContactChannel, at: datetime) -> ContactAttempt:
                return ContactAttempt(
                    attempt_id=f"rem-{mid}-{row['tries'] + 1}-{channel}",
                    channel=channel,
                    planned_at=at,
                    debt_id=bill_id,
                    purpose="collection",
                    carries_opt_out=carries_opt_out(channel),
                )

            for channel in channels:
                attempt = attempt_at(channel, uow.now)
                decision = check(attempt, ledger, state, pack)
                decided.append(decision_event(decision))
                if decision.allowed:
                    chosen = attempt
                    break
                blocked_by.extend(r for r in decision.rule_ids if r not in blocked_by)
            if chosen is None:
                await append_contact(uow, self._topics, account_id, version, decided)
                opens = next_open(channels, attempt_at, ledger, state, pack, uow.now)
                await _retry(uow, key, row, ", ".join(blocked_by), at=opens)
                await uow.commit()
                return 0
            text = reminder_text(kind, row["amount_due"], row["currency"], due_date, chosen.channel)
            try:
                await self._notifier.send(mid, account_id, chosen.channel, text)
            except NotifierError as exc:
                # The check stays on record (it was decided); the message did not go out.
                await append_contact(uow, self._topics, account_id, version, decided)
                await _retry(uow, key, row, f"notifier: {exc}")
                await uow.commit()
                return 0
            made = RecordedAttempt(
                attempt_id=chosen.attempt_id,
                channel=chosen.channel,
                at=uow.now,
                outcome="sent",
                debt_id=bill_id,
            )
            decided.append(recorded_attempt(made))
            await append_contact(uow, self._topics, account_id, version, decided)
            await uow.reminders.update(
                key, status="sent", tries=row["tries"] + 1, last_reason=f"sent by {chosen.channel}"
            )
            await uow.commit()
        log.info("reminder %s sent by %s", mid, chosen.channel)
        return 1


async def _retry(
    uow: ContactUnitOfWork,
    key: ReminderKey,
    row: dict[str, Any],
    reason: str,
    *,
    at: datetime | None = None,
) -> None:
    """Try again at `at` (when the rules open), else `retry_minutes` from now; give up
    after `max_tries`."""
    rules = uow.policy.reminders
    tries = row["tries"] + 1
    if tries >= rules.max_tries:
        await _skip(uow, key, f"{reason} (gave up after {tries} tries)"[:500], tries=tries)
        return
    await uow.reminders.update(
        key,
        tries=tries,
        next_try_at=at or uow.now + timedelta(minutes=rules.retry_minutes),
        last_reason=reason[:500],
    )


async def _skip(
    uow: ContactUnitOfWork, key: ReminderKey, reason: str, *, tries: int | None = None
) -> None:
    values: dict[str, Any] = {"status": "skipped", "last_reason": reason[:500]}
    if tries is not None:
        values["tries"] = tries
    await uow.reminders.update(key, **values)
