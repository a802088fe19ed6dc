"""Audit handlers: every event of every topic goes onto its account's trail."""

from __future__ import annotations

from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.envelope import Envelope


async def record(uow: AuditUnitOfWork, env: Envelope) -> None:
    """Chain one event onto the trail."""
    await uow.append_entry(env)
