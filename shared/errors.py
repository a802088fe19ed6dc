"""Errors the platform raises, each carrying a reason a person can act on."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from shared.eventlog.port import LogUnavailable


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


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says a dependency (database, broker) cannot be reached now, rather than
    that something is wrong with the work: worth one log line a retry, not a traceback."""
    return any(isinstance(e, OSError | TimeoutError | LogUnavailable) for e in _chain(exc))


def describe_outage(exc: BaseException) -> str:
    """The reachability error under `exc` in one line: its type, and for a socket error its
    text (never a driver's message, which may quote a statement and its parameters)."""
    for e in _chain(exc):
        if isinstance(e, OSError | TimeoutError):
            return f"{type(e).__name__}: {e}".splitlines()[0][:300]
        if isinstance(e, LogUnavailable):
            return str(e).splitlines()[0][:300] if str(e) else type(e).__name__
    return type(exc).__name__
