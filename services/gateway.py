"""All four services behind one origin, each under its prefix, for `make run`.

Each service keeps its own database and its own consumers; they still talk only
through the event log. Ops run them as separate processes instead (`arrears serve X`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.registry import bootstrap_module
from shared.settings import SERVICES
from shared.web.console import PREFIX, console_app


def create_gateway() -> FastAPI:
    """One app mounting /accounts, /plans, /contact and /audit, and the console at /console."""
    apps = {name: bootstrap_module(name).create_app() for name in SERVICES}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Mounted apps' lifespans do not run on their own; run each one here.
        async with AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    gateway = FastAPI(title="arrears", lifespan=lifespan)

    @gateway.get("/")
    async def index() -> dict[str, object]:
        return {
            "service": "arrears",
            "docs": {name: f"/{name}/docs" for name in SERVICES},
            "console": f"{PREFIX}/",
        }

    # Its development token is the audit service's: every service of the one origin shares
    # the install's auth settings, and the console's reads are audit's.
    settings = apps["audit"].state.runtime.settings
    gateway.mount(PREFIX, console_app(settings, {name: f"/{name}" for name in SERVICES}))
    for name, app in apps.items():
        gateway.mount(f"/{name}", app)
    return gateway
