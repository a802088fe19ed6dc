"""Money is integer minor units (fen) with an ISO 4217 currency; never floats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StringConstraints

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code such as CNY."""

PositiveMinor = Annotated[int, Field(gt=0, strict=True)]
"""A strictly positive amount in minor units (fen)."""

NonNegativeMinor = Annotated[int, Field(ge=0, strict=True)]
"""An amount in minor units (fen) that may be zero."""


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
