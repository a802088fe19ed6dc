"""FastAPI dependencies of the contact API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[ContactUnitOfWork]:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime[ContactUnitOfWork], Depends(get_runtime)]
