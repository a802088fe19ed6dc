"""Money arithmetic of the plans domain: integer fen, Decimal rates, the accounts' rounding.

The plans service quotes what the accounts service will apply, so these follow the same
rules (services never import each other, hence the copy): a computed amount is rounded
half up to whole fen once, where it is computed; shares of a total are split so that they
differ by at most one fen and the first shares take the odd fen.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal


def round_fen(amount: Decimal) -> int:
    """`amount` (in fen) rounded half up to whole fen."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def floor_fen(amount: Decimal) -> int:
    """`amount` (in fen) rounded down to whole fen: for limits that must never be exceeded."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_FLOOR))


def split_exactly(total: int, parts: int) -> list[int]:
    """`total` fen in `parts` shares that differ by at most 1 fen and sum to `total`."""
    share, extra = divmod(total, parts)
    return [share + (1 if i < extra else 0) for i in range(parts)]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
