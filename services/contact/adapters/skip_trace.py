"""Skip tracing: asking a data provider for new ways to reach an unreachable borrower.

`SkipTraceProvider` is the port; `HttpSkipTraceProvider` talks to a real provider over
HTTP, `FakeSkipTraceProvider` answers locally (development and tests). Neither logs a
found value: they are personal data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from services.contact.adapters.http_json import ProviderFailed, post_json
from shared.events.contact import ContactPointKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundPoint:
    """A contact point a provider found."""

    kind: ContactPointKind
    value: str


class SkipTraceError(Exception):
    """The provider could not answer (down, refused, or answered nonsense); retry later."""


class SkipTraceProvider(Protocol):
    """Finds contact points for a borrower; `request_id` makes a repeated request idempotent."""

    name: str

    async def trace(self, request_id: str, account_id: str) -> list[FoundPoint]: ...


@dataclass
class FakeSkipTraceProvider:
    """Answers from a table (account id → points); unknown accounts yield nothing.

    It remembers every request, so a test can see what was asked.
    """

    found: dict[str, list[FoundPoint]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    name: str = "fake"

    async def trace(self, request_id: str, account_id: str) -> list[FoundPoint]:
        self.requests.append((request_id, account_id))
        return list(self.found.get(account_id, []))


class HttpSkipTraceProvider:
    """POSTs `{request_id, account_id}` to the provider's URL; expects `{"contact_points":
    [{"kind": "phone"|"email", "value": "..."}]}` back."""

    name = "http"

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._transport = transport

    async def trace(self, request_id: str, account_id: str) -> list[FoundPoint]:
        body = {"request_id": request_id, "account_id": account_id}
        try:
            payload = await post_json(
                self._url,
                body,
                what=f"skip-trace provider failed for request {request_id}",
                timeout=self._timeout,
                transport=self._transport,
                want_json=True,
            )
        except ProviderFailed as exc:
            raise SkipTraceError(str(exc)) from None
        return _parse(request_id, payload)


def _parse(request_id: str, payload: Any) -> list[FoundPoint]:
    points = payload.get("contact_points") if isinstance(payload, dict) else None
    if not isinstance(points, list):
        raise SkipTraceError(f"skip-trace answer to {request_id}: no contact_points list")
    out = []
    for i, item in enumerate(points):
        if (
            not isinstance(item, dict)
            or item.get("kind") not in ("phone", "email")
            or not isinstance(item.get("value"), str)
        ):
            raise SkipTraceError(
                f"skip-trace answer to {request_id}: contact_points[{i}] needs kind "
                "(phone or email) and a value"
            )
        out.append(FoundPoint(item["kind"], item["value"]))
    log.info("skip-trace request %s found %d contact points", request_id, len(out))
    return out
