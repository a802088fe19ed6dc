"""Errors the platform raises, each carrying a reason a person can act on."""

from __future__ import annotations

from pydantic import ValidationError


class ArrearsError(Exception):
    """Base of every error arrears raises on purpose."""


class InvalidEvent(ArrearsError):
    """An event that cannot be decoded or does not match its schema."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEventType(InvalidEvent):
    """An event whose (type, schema_version) the catalogue does not know."""


class Rejected(ArrearsError):
    """A well-formed event or command that the domain refuses; permanent, not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConcurrencyError(ArrearsError):
    """Someone else appended to the stream since it was read."""


def describe_validation_error(exc: ValidationError, prefix: str = "data") -> str:
    """One line per problem, each naming the field path, for humans and DLQ records."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else (loc or prefix or "event")
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)
