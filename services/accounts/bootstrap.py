"""Wires the accounts service: settings → runtime (DB, event log, consumers) → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.accounts.adapters.tables import platform
from services.accounts.domain.model import Account
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies
from services.accounts.entrypoints.routers import accounts, inbound
from services.accounts.service_layer.handlers import InboundHandler, PlansHandler
from services.accounts.service_layer.scheduler import DayCloseScheduler
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.api import create_service_app
from shared.cache import AggregateCache
from shared.clock import Clock
from shared.eventlog.port import EventLog
from shared.events import default_catalogue
from shared.policy_values import load_policy
from shared.runtime import ServiceRuntime, Subscription, make_runtime
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    event_log: EventLog | None = None,
) -> ServiceRuntime[AccountsUnitOfWork]:
    """The accounts runtime, from settings (the environment by default)."""
    settings = settings or Settings.load("accounts")
    catalogue = default_catalogue()
    handler = InboundHandler(
        catalogue,
        settings.topics,
        future_days=settings.day_close_future_days,
        max_catch_up_days=settings.day_close_max_catch_up_days,
        scoped=settings.integrator_account_scoping,
    )
    plans = PlansHandler(catalogue, settings.topics)

    configured = load_policy(settings.policy_file, Policies.from_mapping, DEFAULT_POLICIES)

    cache = AggregateCache[Account](settings.aggregate_cache_size)

    class ConfiguredUnitOfWork(AccountsUnitOfWork):
        policies = configured

    ConfiguredUnitOfWork.cache = cache
    ConfiguredUnitOfWork.snapshot_every = settings.snapshot_every

    runtime: ServiceRuntime[AccountsUnitOfWork] = make_runtime(
        settings,
        tables=platform,
        catalogue=catalogue,
        uow_class=ConfiguredUnitOfWork,
        subscriptions=lambda s: [
            Subscription("inbound", [s.topics.inbound], handler, door=True),
            Subscription("plans", [s.topics.plans], plans),
        ],
        clock=clock,
        event_log=event_log,
    )
    if settings.day_close_at:
        scheduler = DayCloseScheduler(
            cut_off=settings.day_close_at,
            time_zone=settings.day_close_time_zone,
            clock=runtime.clock,
            uow_factory=runtime.uow,
            inbound_topic=settings.topics.inbound,
            notify=runtime.notify_relay,
        )
        runtime.workers.append(scheduler.run)
    return runtime


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    """The accounts FastAPI app, with its consumers running in the lifespan."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    return create_service_app(
        runtime, title="arrears accounts", routers=[inbound.router, accounts.router]
    )
