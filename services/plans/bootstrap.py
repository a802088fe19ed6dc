"""Wires the plans service: settings → runtime (DB, event log, consumers) → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.plans.adapters.tables import platform
from services.plans.entrypoints.routers import agreements, quotes
from services.plans.service_layer.handlers import on_accounts, on_inbound
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
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
) -> ServiceRuntime[PlansUnitOfWork]:
    """The plans runtime, from settings (the environment by default)."""
    settings = settings or Settings.load("plans")
    return make_runtime(
        settings,
        tables=platform,
        catalogue=default_catalogue(),
        uow_class=PlansUnitOfWork,
        subscriptions=lambda s: [
            Subscription("inbound", [s.topics.inbound], on_inbound),
            Subscription("accounts", [s.topics.accounts], on_accounts),
        ],
        clock=clock,
        event_log=event_log,
    )


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    """The plans FastAPI app, with its consumer running in the lifespan."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    return create_service_app(
        runtime, title="arrears plans", routers=[agreements.router, quotes.router]
    )
