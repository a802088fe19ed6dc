"""The field types of contact's requests: strict, bounded, and said in the error.

Request bodies are validated from decoded JSON, so pydantic's strict mode would refuse
ISO strings for dates and times; these types take exactly their ISO form instead (never a
number of seconds, never a date for a date-time), and ids and texts refuse what cannot be
meant: empty or blank ids, control characters, surrounding whitespace.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, Strict

from shared.bounds import Instant

_NO_CONTROL = r"\x00-\x1f\x7f-\x9f"
ID_PATTERN = rf"^[^\s{_NO_CONTROL}](?:[^{_NO_CONTROL}]*[^\s{_NO_CONTROL}])?$"
"""An id: printable, no control characters, no whitespace at either end."""
_TEXT_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # tabs and line breaks are text
TEXT_PATTERN = rf"^(?:[^{_TEXT_CONTROL}]*[^\s{_NO_CONTROL}][^{_TEXT_CONTROL}]*)?$"
"""Free text: empty, or something besides whitespace, without control characters."""

_ID, _TEXT = re.compile(ID_PATTERN), re.compile(TEXT_PATTERN)


def _an_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            "must be printable, without control characters or whitespace at either end"
        )
    return value


def _a_text(value: str) -> str:
    if not _TEXT.match(value):
        raise ValueError("must be empty or say something, without control characters")
    return value


# The pattern is enforced by the validator (for its message) and shown in the OpenAPI schema.
_ID_SCHEMA = {"pattern": ID_PATTERN}
Id = Annotated[
    str,
    Strict(),
    Field(min_length=1, max_length=64, json_schema_extra=_ID_SCHEMA),
    AfterValidator(_an_id),
]
"""An id a client names (attempt, debt, contact point)."""
Name = Annotated[
    str,
    Strict(),
    Field(min_length=1, max_length=100, json_schema_extra=_ID_SCHEMA),
    AfterValidator(_an_id),
]
"""A short name a client gives (an agency)."""
Text = Annotated[
    str,
    Strict(),
    Field(max_length=500, json_schema_extra={"pattern": TEXT_PATTERN}),
    AfterValidator(_a_text),
]
"""A reason or note, in words; may be empty."""
Address = Annotated[
    str,
    Strict(),
    Field(min_length=3, max_length=254, json_schema_extra={"pattern": TEXT_PATTERN}),
    AfterValidator(_a_text),
]
"""A phone number or e-mail address as given (its form is checked by kind later)."""
Flag = Annotated[bool, Strict()]
"""true or false, never 0, 1 or "yes"."""

PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
"""An id in a path (account, contact point, queue, debt)."""

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOCAL_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")


def _iso_date_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError(
            "must be an ISO 8601 date-time with an offset, e.g. 2026-03-10T09:00:00+08:00"
        )
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("must be an ISO 8601 date, e.g. 2026-03-10")
    return value


def _local_time(value: Any) -> Any:
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        # An offset would make a wall-clock hour an instant of no particular day.
        raise ValueError(
            "must be a local wall-clock time HH:MM or HH:MM:SS without an offset, e.g. 09:00"
        )
    return value


# Stricter than shared.bounds.Instant in form (a string in ISO 8601 shape), same window.
IsoDateTime = Annotated[Instant, Strict(False), BeforeValidator(_iso_date_time)]
"""An instant as an ISO 8601 string with an offset (refuses numbers and naive times)."""
IsoDate = Annotated[date, Strict(False), BeforeValidator(_iso_date)]
"""A calendar date as an ISO 8601 string (YYYY-MM-DD)."""
LocalTime = Annotated[time, Strict(False), BeforeValidator(_local_time)]
"""A wall-clock time of day in the borrower's zone, HH:MM[:SS] (refuses offsets and numbers)."""
