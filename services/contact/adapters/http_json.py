"""POSTing JSON to an outside provider (skip trace, notifications) with errors that quote
nothing the provider or the request carried: both may hold personal data."""

from __future__ import annotations

from typing import Any

import httpx


class ProviderFailed(Exception):
    """The provider did not answer with a 2xx (and JSON, when one was wanted)."""


async def post_json(
    url: str,
    body: dict[str, Any],
    *,
    what: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    want_json: bool = False,
) -> Any:
    """POST `body`; the JSON answer when `want_json`. ProviderFailed names `what` failed,
    the exception type and the HTTP status only."""
    try:
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            response = await client.post(url, json=body)
            response.raise_for_status()
            return response.json() if want_json else None
    except (httpx.HTTPError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise ProviderFailed(
            f"{what}: {type(exc).__name__}{f' (HTTP {status})' if status else ''}"
        ) from None
