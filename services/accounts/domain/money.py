"""Money arithmetic of the accounts domain: integer fen, Decimal rates, one rounding rule."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

ROUNDING = ROUND_HALF_UP
"""The one rounding rule: a computed amount is rounded half up to whole fen, once, where
it is computed (each day's late fee on each bill; each installment's fee). Never round
running totals: sums of rounded amounts stay exact integers."""


def round_fen(amount: Decimal) -> int:
    """`amount` (in fen) rounded to whole fen by the one rounding rule."""
    return int(amount.quantize(Decimal(1), rounding=ROUNDING))


def daily_late_fee(base: int, rate: Decimal, minimum: int, room: int | None) -> int:
    """One day's late fee on `base` fen: rounded, at least `minimum` when anything is owed.

    `room` is what a cap still allows (None: no cap); the minimum never breaks the cap.
    """
    if base <= 0 or rate <= 0:
        return 0
    fee = max(round_fen(base * rate), minimum)
    return fee if room is None else max(0, min(fee, room))


def split_exactly(total: int, parts: int) -> list[int]:
    """`total` fen in `parts` shares that differ by at most 1 fen and sum to `total`.

    The first shares take the extra fen, so the borrower pays the odd fen early.
    """
    share, extra = divmod(total, parts)
    return [share + (1 if i < extra else 0) for i in range(parts)]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
