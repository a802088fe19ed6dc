"""Wires the audit service: settings → runtime (DB, event log, consumers) → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.audit.adapters.tables import platform
from services.audit.entrypoints.routers import (
    checkpoints,
    erasure,
    history,
    report,
    series,
    state,
    story,
)
from services.audit.service_layer.checkpoints import (
    CheckpointWorker,
    load_signing_key,
    published_path,
)
from services.audit.service_layer.erasure import NoTrail, RetentionNotOver
from services.audit.service_layer.handlers import record
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from services.audit.service_layer.view_cache import ViewCache
from shared.api import create_service_app
from shared.clock import Clock
from shared.eventlog.port import EventLog
from shared.events import default_catalogue
from shared.ratelimit import InMemoryRateLimiter, RateLimiter, SqlRateLimiter
from shared.runtime import ServiceRuntime, Subscription, make_runtime
from shared.settings import Settings
from shared.web.console import PREFIX, console_app

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    event_log: EventLog | None = None,
) -> ServiceRuntime[AuditUnitOfWork]:
    """The audit runtime, from settings (the environment by default)."""
    settings = settings or Settings.load("audit")
    views = ViewCache(settings.audit_view_cache_lines)

    class ConfiguredUnitOfWork(AuditUnitOfWork):
        pass

    ConfiguredUnitOfWork.views = views
    ConfiguredUnitOfWork.order_topic = settings.topics.audit

    return make_runtime(
        settings,
        tables=platform,
        catalogue=default_catalogue(),
        uow_class=ConfiguredUnitOfWork,
        subscriptions=lambda s: [
            Subscription(
                "trail",
                [s.topics.inbound, s.topics.accounts, s.topics.plans, s.topics.contact],
                record,
            )
        ],
        clock=clock,
        event_log=event_log,
    )


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    """The audit FastAPI app, with its consumer and checkpoint signer in the lifespan, and
    the compliance console at /console."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    key = load_signing_key(runtime.settings)
    if runtime.settings.audit_checkpoint_seconds:
        worker = CheckpointWorker(
            runtime.settings.audit_checkpoint_seconds,
            runtime.uow,
            key,
            publish_to=published_path(runtime.settings),
        )
        runtime.workers.append(worker.run)
    per_minute = runtime.settings.audit_checkpoints_per_minute
    checkpoint_limiter: RateLimiter = (
        InMemoryRateLimiter(per_minute)
        if runtime.settings.rate_limit_store == "memory"
        else SqlRateLimiter(runtime.sessions, runtime.tables.rate_buckets, per_minute)
    )
    app = create_service_app(
        runtime,
        title="arrears audit",
        routers=[
            history.router,
            story.router,
            state.router,
            report.router,
            series.router,
            checkpoints.router,
            erasure.router,
        ],
        statuses={NoTrail: 404, RetentionNotOver: 409},
        signing_key=key,
        checkpoint_limiter=checkpoint_limiter,
    )
    # The console alone with audit (`arrears serve audit`): it reads audit's API at its root.
    app.mount(PREFIX, console_app(runtime.settings, {"audit": ""}))
    return app
