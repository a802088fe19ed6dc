"""Money is integer minor units (fen) with an ISO 4217 currency; never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code such as CNY."""

PositiveMinor = Annotated[int, Field(gt=0, strict=True)]
"""A strictly positive amount in minor units (fen)."""

NonNegativeMinor = Annotated[int, Field(ge=0, strict=True)]
"""An amount in minor units (fen) that may be zero."""
