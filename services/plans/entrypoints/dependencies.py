"""FastAPI dependencies of the plans API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.plans.adapters.evidence_store import EvidenceStore
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[PlansUnitOfWork]:
    return request.app.state.runtime


def get_evidence_store(request: Request) -> EvidenceStore:
    return request.app.state.evidence_store


Runtime = Annotated[ServiceRuntime[PlansUnitOfWork], Depends(get_runtime)]
Store = Annotated[EvidenceStore, Depends(get_evidence_store)]
