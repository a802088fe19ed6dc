"""Automated reminders (pre-due and early days): which channels to try, and what to say.

Pure: no I/O. A reminder is one message per bill, due date and kind; the worker in the
service layer checks each channel with the compliance engine before anything goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal, get_args

from services.contact.domain.compliance import (
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    RulePack,
    check,
)
from shared.events.contact import ContactChannel

ReminderKey = tuple[str, str, date, str]
"""(account_id, bill_id, due_date, kind): one reminder."""

ReminderKind = Literal["due_soon", "overdue"]
"""`due_soon`: accounts' PaymentDueSoon; `overdue`: an early-days BillBecameOverdue."""
ReminderStatus = Literal["pending", "sent", "skipped"]
KINDS: tuple[str, ...] = get_args(ReminderKind)

AUTOMATED_CHANNELS: tuple[ContactChannel, ...] = ("app_push", "sms", "email")
"""Channels a provider delivers text on by itself; calls and letters need people or paper,
so a strategy table naming them for reminders does not make the worker use them."""

# A fixed namespace, so a reminder's message id is the same in every process and on every
# try: the provider can drop a message it already delivered (a send whose commit failed).
_MESSAGES = uuid.UUID("5d0c7a8e-3c1b-4b7e-9d53-2f0e6b1a9c47")

PAYMENT_RECEIVED = "payment received"
"""The reason a pending reminder is skipped when a payment reaches its bill."""


def message_id(account_id: str, bill_id: str, due_date: date, kind: str) -> str:
    """The provider's idempotency key of one reminder (stable across tries and replicas)."""
    return str(uuid.uuid5(_MESSAGES, f"{account_id}/{bill_id}/{due_date.isoformat()}/{kind}"))


def reminder_channels(
    treatment: Iterable[str], preferred: Iterable[str], opted_out: Iterable[str]
) -> list[ContactChannel]:
    """The channels to try, in order: the borrower's preferred ones first, then the
    treatment's order; only automated channels of the treatment, never an opted-out one.

    Opted-out channels are left out here rather than left to the engine: not every rule
    pack has an opt-out rule (CN has none), yet the borrower's wish holds everywhere.
    """
    out = set(opted_out)
    usable = {c: c for c in AUTOMATED_CHANNELS if c not in out}
    allowed = [usable[c] for c in treatment if c in usable]
    first = [usable[c] for c in preferred if c in allowed]
    return list(dict.fromkeys([*first, *allowed]))


def yuan(fen: int) -> str:
    """An amount of minor units as major units with two decimals, exactly (no floats)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def reminder_text(
    kind: str, amount_due: int, currency: str, due_date: date, channel: ContactChannel
) -> str:
    """A short, neutral message: the amount and the due date, nothing else personal.

    Messages may be read by whoever sees the phone's lock screen, so they name no person,
    no account number and no consequence. SMS and e-mail say how to opt out, as the
    checks declared (`carries_opt_out`).
    """
    amount = f"{yuan(amount_due)} {currency}"
    if kind == "overdue":
        text = f"Reminder: a payment of {amount} was due on {due_date.isoformat()}."
    else:
        text = f"Reminder: a payment of {amount} is due on {due_date.isoformat()}."
    if channel in ("sms", "email"):
        text += " Reply STOP to opt out."
    return text


def carries_opt_out(channel: ContactChannel) -> bool:
    """Whether a reminder on `channel` carries an opt-out (SMS and e-mail always do)."""
    return channel in ("sms", "email")


def next_open(
    channels: Sequence[ContactChannel],
    attempt_at: Callable[[ContactChannel, datetime], ContactAttempt],
    ledger: ContactLedger,
    state: ConsumerState,
    pack: RulePack,
    after: datetime,
    *,
    step: timedelta = timedelta(minutes=15),
    horizon: timedelta = timedelta(days=1),
) -> datetime | None:
    """The first instant after `after` (on a `step` grid, within `horizon`) at which some
    channel would be allowed, or None: a reminder blocked by quiet hours waits for the
    morning instead of being checked again every hour of the night. A block that time
    does not lift (a cease request, a dispute) finds nothing."""
    at = after + step
    while at <= after + horizon:
        if any(check(attempt_at(c, at), ledger, state, pack).allowed for c in channels):
            return at
        at += step
    return None
