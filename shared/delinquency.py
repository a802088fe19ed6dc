"""The one definition of days past due, shared by accounts (which decides it) and audit
(which reconstructs it from the trail), so the two can never count differently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

Pause = tuple[date, date | None]
"""A pause of delinquency: its first paused date and the date it ended (None: still on)."""


def paused_days(pauses: Sequence[Pause], first: date, last: date) -> int:
    """How many days of [first, last] were paused."""
    total, stop = 0, last + timedelta(days=1)
    for start, end in pauses:
        lo, hi = max(first, start), stop if end is None else min(stop, end)
        total += max(0, (hi - lo).days)
    return total


def bill_days_past_due(
    due_date: date, grace_days: int, outstanding: int, on: date, pauses: Sequence[Pause]
) -> int:
    """A bill's DPD at the close of `on`: `on` - due date - grace days - paused days,
    while it is unpaid; 0 at the close of the due date (the borrower has the whole day)."""
    start = due_date + timedelta(days=grace_days)
    if outstanding <= 0 or on <= start:
        return 0
    return max(0, (on - start).days - paused_days(pauses, start + timedelta(days=1), on))
