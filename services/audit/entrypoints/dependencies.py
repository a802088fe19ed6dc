"""FastAPI dependencies of the audit API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[AuditUnitOfWork]:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime[AuditUnitOfWork], Depends(get_runtime)]
