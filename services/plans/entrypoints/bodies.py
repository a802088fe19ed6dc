"""Request bodies of the plans API: how large each route takes them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from shared.api import problem
from shared.security import Rules, secured

JSON_MAX_BODY_BYTES = 64 * 1024
"""The largest body a plans route takes, but for uploads (held by the app-wide limit, the
policy's evidence_max_bytes): its JSON commands are a few hundred bytes, so a body near
this is not a command, and nobody makes the service parse megabytes of it (OWASP API4)."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def capped(rules: Rules, *, uploads: Collection[str] = ()) -> type[APIRoute]:
    """`secured(rules)`, whose routes refuse a body over JSON_MAX_BODY_BYTES (413), declared
    or chunked, before anything parses it; the endpoints named in `uploads` are exempt."""
    unknown = set(uploads) - set(rules)
    if unknown:
        raise RuntimeError(f"uploads {sorted(unknown)} have no access rule")

    class CappedRoute(secured(rules)):  # type: ignore[misc]  # a class built per table
        def get_route_handler(self) -> Handler:
            handle: Handler = super().get_route_handler()
            if self.name in uploads:
                return handle

            async def within_cap(request: Request) -> Response:
                if await _over_cap(request):
                    return problem(
                        413,
                        "Payload too large",
                        f"the body limit of this route is {JSON_MAX_BODY_BYTES} bytes",
                    )
                return await handle(request)

            return within_cap

    return CappedRoute


async def _over_cap(request: Request) -> bool:
    """Whether the request's body is over JSON_MAX_BODY_BYTES, as declared or as read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > JSON_MAX_BODY_BYTES:
        return True
    # Chunked, it is read whole: the app-wide BodyLimit has already held it to the upload
    # limit, and Starlette keeps it for the route to parse.
    return len(await request.body()) > JSON_MAX_BODY_BYTES
