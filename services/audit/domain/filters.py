"""What a compliance reader narrows an account's trail to. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class HistoryFilters:
    """What a compliance reader narrowed the trail to; both "as of" axes included.

    `as_of_recorded` is what the system knew then: recorded by a service by that time (an
    event no service stamped counts from when audit received it)."""

    types: tuple[str, ...] = ()
    source: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    as_of_occurred: datetime | None = None
    as_of_recorded: datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The filters as logged in the access log."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, ())}
