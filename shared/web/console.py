"""The compliance console as a small ASGI app, mounted at `/console` by whoever serves it.

It serves static files and one config route that tells the page where each service's API
is (the page never hard-codes a URL), and, in development auth mode only, a route that
mints a development token for a role picked on the sign-in form.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api import SecurityHeaders
from shared.auth import ROLES, AuthError, mint_dev_token
from shared.settings import Settings

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"
STAFF_ROLES = tuple(r for r in ROLES if r != "borrower")
"""The roles the development picker offers: a borrower's token must name its accounts."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        # Same-origin files only: no inline script or style, no eval, nothing from a CDN.
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
}


class PageHeaders:
    """Adds the pages' Content-Security-Policy, referrer and framing headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in PAGE_HEADERS.items() if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DevTokenRequest(BaseModel):
    """Who the development token is for."""

    role: Annotated[str, Field(pattern="^(" + "|".join(ROLES) + ")$")]
    subject: Annotated[str, Field(min_length=1, max_length=100)] = "console-dev"
    accounts: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=20)] = []


def console_app(settings: Settings, api_bases: Mapping[str, str]) -> FastAPI:
    """The console, to mount at PREFIX; `api_bases` maps each service to its API's path
    relative to the app it is mounted in ("" for that app's own root)."""
    app = FastAPI(title="arrears console", docs_url=None, redoc_url=None, openapi_url=None)
    development = settings.auth_mode == "development"

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})

    @app.get("/me", include_in_schema=False)
    async def borrower_page() -> FileResponse:
        # The borrower's own page; a sibling of the console so its relative URLs
        # (config.json, dev-token, static/) resolve the same way.
        return FileResponse(STATIC / "borrower.html", headers={"Cache-Control": "no-cache"})

    @app.get("/workbench", include_in_schema=False)
    async def workbench() -> FileResponse:
        return FileResponse(STATIC / "workbench.html", headers={"Cache-Control": "no-cache"})

    @app.get("/config.json", include_in_schema=False)
    async def config(request: Request) -> JSONResponse:
        # The console's own mount point removed: what is left is where its host app lives.
        host_root = str(request.scope.get("root_path", "")).removesuffix(PREFIX)
        return JSONResponse(
            {
                "api": {name: host_root + base for name, base in api_bases.items()},
                "auth_mode": settings.auth_mode,
                "dev_roles": list(STAFF_ROLES) if development else [],
            },
            headers={"Cache-Control": "no-store"},
        )

    if development:

        @app.post("/dev-token", include_in_schema=False)
        async def dev_token(body: DevTokenRequest) -> JSONResponse:
            try:
                token = mint_dev_token(
                    settings, role=body.role, subject=body.subject, accounts=body.accounts
                )
            except AuthError as exc:
                return JSONResponse({"detail": exc.reason}, status_code=422)
            return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PageHeaders)
    return app
