"""Wires the contact service: settings → runtime (DB, event log, consumers) → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contact.adapters.notifier import FakeNotifier, HttpNotifier, Notifier
from services.contact.adapters.skip_trace import (
    FakeSkipTraceProvider,
    HttpSkipTraceProvider,
    SkipTraceProvider,
)
from services.contact.adapters.tables import platform
from services.contact.domain.policy import DEFAULT_POLICY, ContactPolicy
from services.contact.entrypoints.routers import attempts as attempts_router
from services.contact.entrypoints.routers import (
    cases,
    contact_points,
    disputes,
    queues,
    self_service,
)
from services.contact.entrypoints.routers import reminders as reminders_router
from services.contact.service_layer.handlers import (
    AccountsEventHandler,
    InboundEventHandler,
    PlansEventHandler,
    SkipTraceHandler,
)
from services.contact.service_layer.reminders import ReminderWorker
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.api import create_service_app
from shared.clock import Clock
from shared.eventlog.port import EventLog
from shared.events import default_catalogue
from shared.policy_values import load_policy as read_policy
from shared.runtime import ServiceRuntime, Subscription, make_runtime
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def load_policy(settings: Settings) -> ContactPolicy:
    """The contact policy from CONTACT_POLICY_FILE (or POLICY_FILE), JSON, or the defaults;
    a bad value stops start-up naming the key."""
    return read_policy(settings.policy_file, ContactPolicy.from_mapping, DEFAULT_POLICY)


def skip_trace_provider(policy: ContactPolicy) -> SkipTraceProvider:
    """The provider the policy names: the local fake (the default, for development) or HTTP."""
    configured = policy.skip_trace
    if configured.provider == "http":
        assert configured.url is not None  # validated with the policy
        return HttpSkipTraceProvider(configured.url, timeout=configured.timeout_seconds)
    return FakeSkipTraceProvider()


def notifier_for(policy: ContactPolicy) -> Notifier:
    """The reminder notifier the policy names: the local fake (the default) or HTTP."""
    configured = policy.reminders
    if configured.notifier == "http":
        assert configured.url is not None  # validated with the policy
        return HttpNotifier(configured.url, timeout=configured.timeout_seconds)
    return FakeNotifier()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    event_log: EventLog | None = None,
    policy: ContactPolicy | None = None,
    skip_trace: SkipTraceProvider | None = None,
    notifier: Notifier | None = None,
) -> ServiceRuntime[ContactUnitOfWork]:
    """The contact runtime, from settings (the environment by default), with the reminder
    worker among its workers."""
    settings = settings or Settings.load("contact")
    configured = policy or load_policy(settings)
    handler = AccountsEventHandler(settings.topics)
    plans_handler = PlansEventHandler(settings.topics)
    inbound = InboundEventHandler(settings.topics)
    tracer = SkipTraceHandler(settings.topics, skip_trace or skip_trace_provider(configured))

    class ConfiguredUnitOfWork(ContactUnitOfWork):
        policy = configured

    runtime: ServiceRuntime[ContactUnitOfWork] = make_runtime(
        settings,
        tables=platform,
        catalogue=default_catalogue(),
        uow_class=ConfiguredUnitOfWork,
        subscriptions=lambda s: [
            Subscription("accounts", [s.topics.accounts], handler),
            Subscription("inbound", [s.topics.inbound], inbound),
            Subscription("plans", [s.topics.plans], plans_handler),
            # Contact's own topic: a ContactLost goes out to the skip-trace provider.
            Subscription("skip-trace", [s.topics.contact], tracer),
        ],
        clock=clock,
        event_log=event_log,
    )
    worker = ReminderWorker(
        runtime.uow,
        settings.topics,
        notifier or notifier_for(configured),
        poll_seconds=configured.reminders.poll_seconds,
    )
    runtime.workers.append(worker.run)
    return runtime


def reminder_worker(runtime: ServiceRuntime[ContactUnitOfWork]) -> ReminderWorker:
    """The reminder worker of a runtime `bootstrap` made (tests drive it directly)."""
    for run in runtime.workers:
        owner = getattr(run, "__self__", None)
        if isinstance(owner, ReminderWorker):
            return owner
    raise LookupError("this runtime has no reminder worker")


def create_app(settings: Settings | None = None, **kwargs: object) -> FastAPI:
    """The contact FastAPI app, with its consumer running in the lifespan."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    return create_service_app(
        runtime,
        title="arrears contact",
        routers=[
            cases.router,
            attempts_router.router,
            self_service.router,
            disputes.router,
            queues.router,
            contact_points.router,
            reminders_router.router,
        ],
    )
