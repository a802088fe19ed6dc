"""Wires the contact service: settings → runtime (DB, event log, consumers) → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contact.adapters.tables import platform
from services.contact.entrypoints.routers import attempts as attempts_router
from services.contact.entrypoints.routers import cases, self_service
from services.contact.service_layer import attempts
from services.contact.service_layer.handlers import AccountsEventHandler
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.api import create_service_app
from shared.clock import Clock
from shared.eventlog.port import EventLog
from shared.events import default_catalogue
from shared.runtime import ServiceRuntime, Subscription, make_runtime
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    event_log: EventLog | None = None,
) -> ServiceRuntime[ContactUnitOfWork]:
    """The contact runtime, from settings (the environment by default)."""
    settings = settings or Settings.load("contact")
    handler = AccountsEventHandler(settings.topics)
    return make_runtime(
        settings,
        tables=platform,
        catalogue=default_catalogue(),
        uow_class=ContactUnitOfWork,
        subscriptions=lambda s: [
            Subscription("accounts", [s.topics.accounts], handler),
            Subscription("inbound", [s.topics.inbound], attempts.on_inbound),
        ],
        clock=clock,
        event_log=event_log,
    )


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    """The contact FastAPI app, with its consumer running in the lifespan."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    return create_service_app(
        runtime,
        title="arrears contact",
        routers=[cases.router, attempts_router.router, self_service.router],
    )
