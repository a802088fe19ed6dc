"""Wires the plans service: settings → policy, runtime (DB, event log, consumers), evidence
store → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.plans.adapters.evidence_store import EvidenceStore, FileEvidenceStore
from services.plans.adapters.tables import platform
from services.plans.domain.eligibility import NotEligible
from services.plans.domain.evidence import EvidenceTooLarge, UnsupportedEvidenceType
from services.plans.domain.plan import IllegalTransition, NotPermitted, SelfApproval
from services.plans.domain.policy import DEFAULT_POLICY, PlansPolicy
from services.plans.entrypoints.routers import evidence, plans, quotes
from services.plans.service_layer.handlers import AccountsHandler, on_inbound
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from shared.api import create_service_app
from shared.clock import Clock
from shared.errors import Rejected
from shared.eventlog.port import EventLog
from shared.events import default_catalogue
from shared.policy_values import load_policy
from shared.runtime import ServiceRuntime, Subscription, make_runtime
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"

# The plans domain's refusals that are not plain 422s.
STATUSES: dict[type[Rejected], int] = {
    IllegalTransition: 409,
    NotPermitted: 403,
    SelfApproval: 403,
    NotEligible: 422,
    EvidenceTooLarge: 413,
    UnsupportedEvidenceType: 415,
}


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    event_log: EventLog | None = None,
) -> ServiceRuntime[PlansUnitOfWork]:
    """The plans runtime, from settings (the environment by default)."""
    settings = settings or Settings.load("plans")
    configured = load_policy(settings.policy_file, PlansPolicy.from_mapping, DEFAULT_POLICY)

    class ConfiguredUnitOfWork(PlansUnitOfWork):
        policy = configured

    accounts = AccountsHandler(settings.topics)
    return make_runtime(
        settings,
        tables=platform,
        catalogue=default_catalogue(),
        uow_class=ConfiguredUnitOfWork,
        subscriptions=lambda s: [
            Subscription("inbound", [s.topics.inbound], on_inbound),
            Subscription("accounts", [s.topics.accounts], accounts),
        ],
        clock=clock,
        event_log=event_log,
    )


def create_app(
    settings: Settings | None = None,
    *,
    evidence_store: EvidenceStore | None = None,
    **kwargs: object,
) -> FastAPI:
    """The plans FastAPI app, with its consumers running in the lifespan."""
    runtime = bootstrap(settings, **kwargs)  # type: ignore[arg-type]
    store = evidence_store or FileEvidenceStore(runtime.settings.data_dir / "evidence")
    policy: PlansPolicy = runtime.uow_class.policy
    return create_service_app(
        runtime,
        title="arrears plans",
        routers=[plans.router, quotes.router, evidence.router],
        max_body_bytes=policy.evidence_max_bytes,
        statuses=STATUSES,
        evidence_store=store,
    )
