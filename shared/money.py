"""Money is integer minor units (fen) with an ISO 4217 currency; never floats."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.bounds import MAX_MINOR

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", max_length=3)]
"""An ISO 4217 currency code such as CNY."""

PositiveMinor = Annotated[int, Field(gt=0, le=MAX_MINOR, strict=True)]
"""A strictly positive amount in minor units (fen), below 2^53 (shared.bounds)."""

NonNegativeMinor = Annotated[int, Field(ge=0, le=MAX_MINOR, strict=True)]
"""An amount in minor units (fen) that may be zero, below 2^53 (shared.bounds)."""

SignedMinor = Annotated[int, Field(ge=-MAX_MINOR, le=MAX_MINOR, strict=True)]
"""A balance in minor units (fen) that may be negative (a credit), below 2^53 in size."""


def split_by_component(parts: Mapping[str, int], count: int) -> dict[str, list[int]]:
    """Spread each component over `count` installments so each sums exactly.

    Within a component the shares differ by at most 1 fen. The odd fen of each
    component continue, cyclically, from where the previous component's stopped, so
    the installments' totals also differ by at most 1 fen: 24 fen split as 1 fen of
    fees and 23 of late fee over 24 installments is 1 fen each, never 2 and 0.
    Both the plans quote and the accounts bill use this one rule.
    """
    if count < 1:
        raise ValueError("at least one installment")
    out: dict[str, list[int]] = {}
    start = 0
    for component, total in parts.items():
        if total < 0:
            raise ValueError(f"{component} is negative")
        share, extra = divmod(total, count)
        shares = [share] * count
        for k in range(extra):
            shares[(start + k) % count] += 1
        start = (start + extra) % count
        out[component] = shares
    return out


ROUNDING = ROUND_HALF_UP
"""The one rounding rule: a computed amount is rounded half up to whole fen, once, where
it is computed (each day's late fee on each bill; each installment's fee). Never round
running totals: sums of rounded amounts stay exact integers. Plans quotes what accounts
will bill, so both use these functions."""


def round_fen(amount: Decimal) -> int:
    """`amount` (in fen) rounded to whole fen by the one rounding rule."""
    return int(amount.quantize(Decimal(1), rounding=ROUNDING))


def floor_fen(amount: Decimal) -> int:
    """`amount` (in fen) rounded down: for limits that must never be exceeded."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_FLOOR))


def split_exactly(total: int, parts: int) -> list[int]:
    """`total` fen in `parts` shares that differ by at most 1 fen; the first take the odd fen."""
    share, extra = divmod(total, parts)
    return [share + (1 if i < extra else 0) for i in range(parts)]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 -> 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
