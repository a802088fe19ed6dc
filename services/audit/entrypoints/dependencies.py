"""FastAPI dependencies of the audit API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime[AuditUnitOfWork]:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime[AuditUnitOfWork], Depends(get_runtime)]

Purpose = Annotated[
    str, Query(min_length=3, max_length=500, description="why you are reading (logged)")
]
"""The stated purpose every read of the trail must give; it goes into the access log."""

Reveal = Annotated[
    bool,
    Query(
        description="show in clear the personal fields your role may see in clear (by kind: "
        "compliance reads what borrowers wrote and their names, never contact details); "
        "logged. Without it every personal field is masked"
    ),
]
"""Whether the reader asks for what their role may see unmasked; masked by default."""
