"""Tiered response (分级响应): which queue and channels a case gets, by bucket and segment.

The strategy table is data, read top to bottom: the first row whose bucket and segment
match (`*` matches anything) gives the treatment. Bucket names are the accounts service's
(per product and configurable there), so the table must end with a `*`/`*` row: a case
in a bucket the table never heard of still gets a treatment, never none.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from shared.events.contact import CaseSegment, ContactChannel
from shared.policy_values import PolicyError

SEGMENTS: tuple[str, ...] = get_args(CaseSegment)
CHANNELS: tuple[str, ...] = get_args(ContactChannel)
ANY = "*"
_QUEUE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Treatment:
    """Where a case is worked and how the borrower is approached."""

    queue: str
    channels: tuple[ContactChannel, ...]


@dataclass(frozen=True)
class StrategyRow:
    """One line of the table: a bucket and a segment (or `*`) and their treatment."""

    bucket: str
    segment: str
    treatment: Treatment

    def matches(self, bucket: str, segment: str) -> bool:
        """Whether this row applies to a case in `bucket` and `segment`."""
        return self.bucket in (ANY, bucket) and self.segment in (ANY, segment)


def segment_of(
    *, disputed: bool, hardship: bool, lost_contact: bool, broken_promise: bool
) -> CaseSegment:
    """The one segment of a case, the most delicate first.

    A dispute pauses collection, so it beats everything; hardship needs a specialist
    whatever else is true; an unreachable borrower cannot break a new promise.
    """
    if disputed:
        return "dispute"
    if hardship:
        return "hardship"
    if lost_contact:
        return "lost_contact"
    if broken_promise:
        return "broken_promise"
    return "standard"


@dataclass(frozen=True)
class Strategy:
    """The strategy table and the escalation order of its queues (lowest tier first)."""

    rows: tuple[StrategyRow, ...]
    tiers: tuple[str, ...]

    def __post_init__(self) -> None:
        _validate(self)

    def treatment(self, bucket: str, segment: str) -> Treatment:
        """The treatment of the first matching row (validation guarantees one matches)."""
        return next(r.treatment for r in self.rows if r.matches(bucket, segment))

    @property
    def queues(self) -> tuple[str, ...]:
        """Every queue the table routes to, in first-mention order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.setdefault(row.treatment.queue, None)
        return tuple(seen)

    def tier(self, queue: str | None) -> int:
        """How high a queue stands in escalation (-1: not a tier, e.g. specialist)."""
        return self.tiers.index(queue) if queue in self.tiers else -1

    @classmethod
    def from_mapping(cls, raw: Any) -> Strategy:
        """A table from settings: `{"rows": [{bucket, segment, queue, channels}], "tiers": []}`."""
        if not isinstance(raw, Mapping):
            raise PolicyError("strategy: must be a mapping with rows and tiers")
        unknown = sorted(set(raw) - {"rows", "tiers"})
        if unknown:
            raise PolicyError(f"strategy.{unknown[0]}: unknown key (known: rows, tiers)")
        rows = DEFAULT_STRATEGY.rows
        if "rows" in raw:
            if not isinstance(raw["rows"], list) or not raw["rows"]:
                raise PolicyError("strategy.rows: must be a non-empty list")
            rows = tuple(_row(f"strategy.rows[{i}]", r) for i, r in enumerate(raw["rows"]))
        tiers = DEFAULT_STRATEGY.tiers
        if "tiers" in raw:
            value = raw["tiers"]
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise PolicyError("strategy.tiers: must be a list of queue names")
            tiers = tuple(value)
        return cls(rows, tiers)


def _row(key: str, raw: Any) -> StrategyRow:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{key}: must be {{bucket, segment, queue, channels}}")
    unknown = sorted(set(raw) - {"bucket", "segment", "queue", "channels"})
    if unknown:
        raise PolicyError(
            f"{key}.{unknown[0]}: unknown key (known: bucket, segment, queue, channels)"
        )
    bucket = raw.get("bucket", ANY)
    if not isinstance(bucket, str) or not bucket:
        raise PolicyError(f"{key}.bucket: must be a bucket name or '*'")
    segment = raw.get("segment", ANY)
    if segment != ANY and segment not in SEGMENTS:
        raise PolicyError(f"{key}.segment: unknown {segment!r} (known: {[*SEGMENTS, ANY]})")
    queue = raw.get("queue")
    if not isinstance(queue, str) or not _QUEUE.match(queue):
        raise PolicyError(f"{key}.queue: must be a lowercase name such as 'agents', got {queue!r}")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels:
        raise PolicyError(f"{key}.channels: must be a non-empty list from {list(CHANNELS)}")
    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise PolicyError(f"{key}.channels: unknown {bad[0]!r} (known: {list(CHANNELS)})")
    return StrategyRow(bucket, segment, Treatment(queue, tuple(channels)))


def _validate(s: Strategy) -> None:
    if not s.rows:
        raise PolicyError("strategy.rows: must be a non-empty list")
    last = s.rows[-1]
    if (last.bucket, last.segment) != (ANY, ANY):
        raise PolicyError(
            f"strategy.rows[{len(s.rows) - 1}]: the last row must match every case "
            "(bucket '*', segment '*'), so no case is left without a treatment"
        )
    queues = {r.treatment.queue for r in s.rows}
    for i, tier in enumerate(s.tiers):
        if tier not in queues:
            raise PolicyError(f"strategy.tiers[{i}]: {tier!r} is no queue of the table")
    if len(set(s.tiers)) != len(s.tiers):
        raise PolicyError("strategy.tiers: a queue appears twice")


_REMIND: tuple[ContactChannel, ...] = ("app_push", "sms", "email")
_CALL: tuple[ContactChannel, ...] = ("call", "sms", "email")

DEFAULT_STRATEGY = Strategy(
    rows=(
        # A dispute pauses collection: only verification, in writing, by a specialist.
        StrategyRow(ANY, "dispute", Treatment("specialist", ("email", "letter"))),
        StrategyRow(ANY, "hardship", Treatment("specialist", ("call", "email"))),
        StrategyRow(ANY, "lost_contact", Treatment("senior", ("call", "sms", "email", "letter"))),
        # A broken promise skips the automated reminders: a person calls.
        StrategyRow("current", "broken_promise", Treatment("agents", _CALL)),
        StrategyRow("1-30", "broken_promise", Treatment("agents", _CALL)),
        StrategyRow(ANY, "broken_promise", Treatment("senior", _CALL)),
        StrategyRow("current", ANY, Treatment("reminders", _REMIND)),
        StrategyRow("1-30", ANY, Treatment("reminders", _REMIND)),
        StrategyRow("31-60", ANY, Treatment("agents", _CALL)),
        StrategyRow(ANY, ANY, Treatment("senior", _CALL)),
    ),
    tiers=("reminders", "agents", "senior"),
)
"""Early days: automated reminders; 31-60 DPD: agents call; beyond: senior advisors;
disputes and hardship: specialists."""
