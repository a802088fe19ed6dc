"""Builders for the contact-compliance tests: explicit clocks, attempts, ledgers."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.contact.domain.compliance import (
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    RecordedAttempt,
)

SH = "Asia/Shanghai"
NY = "America/New_York"
UTC = ZoneInfo("UTC")

_ids = itertools.count(1)


def local(tz: str, y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A wall-clock time in a zone (never an ambiguous or missing one in these tests)."""
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz))


def utc(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def attempt(when: datetime, channel: Any = "call", debt: str = "D1", **kw: Any) -> ContactAttempt:
    if channel in ("sms", "email"):
        kw.setdefault("carries_opt_out", True)
    return ContactAttempt(
        attempt_id=f"T{next(_ids)}", channel=channel, planned_at=when, debt_id=debt, **kw
    )


def made(
    when: datetime, channel: Any = "call", outcome: Any = "no_answer", debt: str = "D1", **kw: Any
) -> RecordedAttempt:
    return RecordedAttempt(
        attempt_id=f"R{next(_ids)}",
        channel=channel,
        at=when,
        outcome=outcome,
        debt_id=debt,
        **kw,
    )


def ledger(*attempts: RecordedAttempt) -> ContactLedger:
    return ContactLedger(tuple(attempts))


def state(tz: str, **kw: Any) -> ConsumerState:
    return ConsumerState(time_zone=tz, **kw)
