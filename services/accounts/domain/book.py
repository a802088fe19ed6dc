"""The book of closes of every account, and the integrator's submission log, as values."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.envelope import Envelope
from shared.pii import redact

ALL_ACCOUNTS = ""
"""The scope of a close of every account that covered every account (not one opener's)."""

Outcome = tuple[str, str, str | None]
"""What became of one submitted event: (event id, status, reason)."""


@dataclass(frozen=True)
class BookClose:
    """A business date a close of every account closed, and that close (the `*` event)."""

    business_date: date
    event: Envelope


def submission_rows(
    submitter: str, outcomes: Sequence[Outcome], known: Collection[str], now: datetime
) -> dict[str, dict[str, object]]:
    """The submission rows a batch of outcomes leaves, by event id (the latest of each).

    A duplicate of an event `known` (or earlier in the batch) is not recorded again; any
    other duplicate was accepted earlier by another channel, so it is recorded as accepted.
    Reasons are redacted: they may quote what the integrator sent.
    """
    rows: dict[str, dict[str, object]] = {}
    for event_id, status, reason in outcomes:
        if status == "duplicate":
            if event_id in known or event_id in rows:
                continue
            status, reason = "accepted", None
        rows[event_id] = {
            "submitter": submitter,
            "event_id": event_id,
            "status": status,
            "reason": redact(reason) if reason else None,
            "submitted_at": now,
        }
    return rows


def submission_view(row: Mapping[Any, Any]) -> dict[str, object]:
    """One submission as the API shows it."""
    submitted_at = row["submitted_at"]
    assert isinstance(submitted_at, datetime)
    return {
        "event_id": row["event_id"],
        "status": row["status"],
        "reason": row["reason"],
        "submitted_at": submitted_at.isoformat(),
    }
