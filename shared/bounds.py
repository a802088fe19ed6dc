"""The limits every input is held to, so a value that no store or reader can hold is
refused at the door with its field named, never deep inside a consumer.

- Amounts: below 2^53 minor units (about 90 trillion yuan), the largest integer a JSON
  reader that uses doubles (JavaScript, many BI tools) still holds exactly; sums of many
  of them stay inside a 64-bit column.
- Counts and other integers in events: bounded per field in the catalogue; query
  parameters (offsets, sequence numbers, ids) below 2^63, the largest a 64-bit column
  and SQLite hold.
- Instants and dates: within EARLIEST .. LATEST (1970 to 2199), so converting any of them
  to UTC, adding a day or a year, or storing it never overflows. A fact's time must also
  not lie in the future: an event's `occurred_at` may be at most
  `MAX_FUTURE_SKEW` ahead of the receiving service's clock (checked where integrators'
  events enter: HTTP ingest and the inbound topic).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

MAX_MINOR = 2**53 - 1
"""The largest amount in minor units (fen) arrears accepts."""

MAX_INT64 = 2**63 - 1
"""The largest integer a query parameter may carry (a 64-bit column's maximum)."""

EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2199, 12, 31)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest instant arrears accepts."""
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""The instant after the latest arrears accepts."""

MAX_FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of the receiving clock an integrator's `occurred_at` may be (clock skew)."""


def _instant_in_window(value: datetime) -> datetime:
    # Compare the wall-clock reading first: converting 9999-12-31T23:59-23:59 to UTC
    # would itself overflow, so out-of-range years are refused before any arithmetic.
    naive = value.replace(tzinfo=None)
    if not (EARLIEST_DATE.year <= naive.year <= LATEST_DATE.year):
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    if not (EARLIEST <= value < LATEST):
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _date_in_window(value: date) -> date:
    if not (EARLIEST_DATE <= value <= LATEST_DATE):
        raise ValueError(f"must lie between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


def _no_numbers(value: object) -> object:
    # pydantic would read 0 or 0.58 as seconds since 1970; an instant must be written out.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date-time with an offset, not a number")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_no_numbers), AfterValidator(_instant_in_window)]
"""A timezone-aware instant between 1970 and 2199, written as ISO 8601 text."""

BoundedDate = Annotated[date, BeforeValidator(_no_numbers), AfterValidator(_date_in_window)]
"""A calendar date between 1970-01-01 and 2199-12-31."""

MAX_ID_LENGTH = 100
"""The longest identifier (bill, payment, plan, case ...) an event may carry."""

MAX_ITEMS = 1000
"""The most items a list or map inside one event may hold."""

MAX_DAYS = 100_000
"""The largest count of days an event may carry (more than 1970 to 2199)."""

MAX_COUNT = 1_000_000
"""The largest other count (attempts, months, matches) an event may carry."""

Ref = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
"""An identifier another record uses to refer to a bill, payment, plan or case."""

Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]
"""A count of days."""

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
"""A count of things."""

QueryInt = Annotated[int, Field(ge=0, le=MAX_INT64)]
"""A non-negative integer query parameter that a 64-bit column can hold."""


def not_in_future(occurred_at: datetime, now: datetime, skew: timedelta = MAX_FUTURE_SKEW) -> str:
    """Why `occurred_at` is too far ahead of `now`, or '' if it is not."""
    if occurred_at > now + skew:
        return (
            f"occurred_at: {occurred_at.isoformat()} is in the future (more than "
            f"{int(skew.total_seconds())} s after this service's clock, {now.isoformat()})"
        )
    return ""
