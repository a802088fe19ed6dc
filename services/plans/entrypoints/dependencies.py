"""FastAPI dependencies of the plans API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[PlansUnitOfWork]:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime[PlansUnitOfWork], Depends(get_runtime)]
