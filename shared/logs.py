"""Log context (service, correlation id, event, account) and the JSON lines format.

The context rides in context variables: a request sets its correlation id, a consumer sets
the event it is applying, and every log line below says so without being passed them.
An account id is personal data: a JSON line carries it only as a keyed hash, and only
when LOG_ACCOUNT_KEY is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationIds",
    "JsonFormatter",
    "configure_logging",
    "current_correlation",
    "log_context",
    "service_context",
]

CORRELATION_HEADER = "x-correlation-id"
CORRELATION_NAMESPACE = uuid.UUID("0b6c1f0e-2d4f-4f39-9a0e-6f2b9c8d1a57")

_service: ContextVar[str | None] = ContextVar("arrears_service", default=None)
_correlation: ContextVar[str | None] = ContextVar("arrears_correlation", default=None)
_event: ContextVar[str | None] = ContextVar("arrears_event", default=None)
_account: ContextVar[str | None] = ContextVar("arrears_account", default=None)

_VARS = {"service": _service, "correlation_id": _correlation, "event_id": _event}


@contextmanager
def service_context(name: str) -> Iterator[None]:
    """Name the service in the log lines of the block and of every task it starts."""
    token = _service.set(name)
    try:
        yield
    finally:
        _service.reset(token)


@contextmanager
def log_context(
    *,
    correlation_id: str | None = None,
    event_id: str | None = None,
    account_id: str | None = None,
) -> Iterator[None]:
    """Log lines inside the block carry these (the previous values come back after)."""
    tokens = [
        (_correlation, _correlation.set(correlation_id)),
        (_event, _event.set(event_id)),
        (_account, _account.set(account_id)),
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_correlation() -> uuid.UUID | None:
    """The correlation id of the request being answered, if any."""
    value = _correlation.get()
    return uuid.UUID(value) if value else None


def correlation_of(header: str | None) -> uuid.UUID:
    """The correlation id for a request: its `X-Correlation-ID` if that is a UUID, the same
    UUID every time for any other value, or a new one when there is none."""
    if not header:
        return uuid.uuid4()
    try:
        return uuid.UUID(header)
    except ValueError:
        return uuid.uuid5(CORRELATION_NAMESPACE, header[:200])


class CorrelationIds:
    """ASGI middleware: the request's correlation id in its log context and its answer."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(CORRELATION_HEADER.encode())
        correlation = str(correlation_of(header.decode("latin-1") if header else None))

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-correlation-id", correlation.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with service_context(self.service), log_context(correlation_id=correlation):
            await self.app(scope, receive, answer)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the log context."""

    def __init__(self, account_key: bytes | None = None) -> None:
        super().__init__()
        self._key = account_key

    def format(self, record: logging.LogRecord) -> str:
        """The record (already redacted by the handler's filter) as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _VARS.items():
            value = var.get()
            if value is not None:
                line[name] = value
        account = _account.get()
        if account is not None and self._key is not None:
            digest = hmac.new(self._key, account.encode(), hashlib.sha256).hexdigest()
            line["account"] = digest[:16]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    log_format: str, account_key: bytes | None, uvicorn_config: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Put every root handler (and, given its config, uvicorn's) on `log_format`; returns
    the uvicorn config to use."""
    config = dict(uvicorn_config) if uvicorn_config is not None else None
    if log_format != "json":
        return config
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter(account_key))
    if config is not None:
        config["formatters"] = {
            name: {"()": JsonFormatter, "account_key": account_key}
            for name in config.get("formatters", {})
        }
    return config
