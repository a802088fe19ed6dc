"""FastAPI dependencies of the accounts API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[AccountsUnitOfWork]:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime[AccountsUnitOfWork], Depends(get_runtime)]
