"""The accounts domain's own money rule: a day's late fee. The shared rules are in shared.money."""

from __future__ import annotations

from decimal import Decimal

from shared.money import round_fen


def daily_late_fee(base: int, rate: Decimal, minimum: int, room: int | None) -> int:
    """One day's late fee on `base` fen: rounded, at least `minimum` when anything is owed.

    `room` is what a cap still allows (None: no cap); the minimum never breaks the cap.
    """
    if base <= 0 or rate <= 0:
        return 0
    fee = max(round_fen(base * rate), minimum)
    return fee if room is None else max(0, min(fee, room))
