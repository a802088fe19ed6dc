"""Read views of one account's trail for compliance: the story, the state as of, the report.

Each reads through the unit of work and returns plain values; the caller records the
access and commits (a read is logged in the same transaction as it is served).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.bundle import public_pem, verify_bundle
from services.audit.domain.report import ReportFacts, report_pdf
from services.audit.domain.state import AccountState, reconstruct
from services.audit.domain.story import StoryLine, tell
from services.audit.service_layer.checkpoints import export_bundle
from services.audit.service_layer.unit_of_work import AuditUnitOfWork, HistoryFilters
from shared.auth import Principal
from shared.pii import redact_values

PAGE = 1000
Axis = Literal["recorded", "occurred", "now"]


async def whole_trail(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters | None = None
) -> list[dict[str, Any]]:
    """Every entry of the account (narrowed by `filters`), in seq order, read page by page."""
    out: list[dict[str, Any]] = []
    after = 0
    while page := await uow.history(account_id, after, PAGE, filters):
        out.extend(page)
        if len(page) < PAGE:
            break
        after = page[-1]["seq"]
    return out


def masked(entry: dict[str, Any], role: str) -> dict[str, Any]:
    """The entry as `role` may see it: PII masked (the hash still covers the original)."""
    return {
        **entry,
        "data": redact_values(entry["data"], role),
        "metadata": redact_values(entry["metadata"], role),
    }


async def story(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters | None, role: str
) -> list[StoryLine]:
    """The account's story as `role` may read it."""
    # Masked before the sentences are written, so no sentence can carry raw PII.
    return tell(masked(e, role) for e in await whole_trail(uow, account_id, filters))


async def state(uow: AuditUnitOfWork, account_id: str, axis: Axis, at: datetime) -> AccountState:
    """The account as the trail shows it at `at`, on the chosen time axis."""
    if axis == "recorded":
        filters = HistoryFilters(as_of_recorded=at)
    elif axis == "occurred":
        filters = HistoryFilters(as_of_occurred=at)
    else:
        filters = None
    return reconstruct(await whole_trail(uow, account_id, filters), at)


async def report(
    uow: AuditUnitOfWork,
    account_id: str,
    principal: Principal,
    purpose: str,
    key: Ed25519PrivateKey,
) -> bytes:
    """The PDF report of the whole trail: provenance, integrity, checkpoint, story."""
    entries = await whole_trail(uow, account_id)
    bundle = await export_bundle(uow, account_id)
    checkpoint = bundle["checkpoint"] if bundle else None
    # Checked against this service's own key: the report states what this service can
    # prove; a reader who distrusts the service verifies the bundle with the published key.
    problems = verify_bundle(bundle, public_pem(key)) if bundle else []
    facts = ReportFacts(
        account_id=account_id,
        generated_at=uow.now,
        generated_by=principal.subject,
        role=principal.role,
        purpose=redact_values(purpose, principal.role),
        entries=len(entries),
        head=(entries[-1]["seq"], entries[-1]["hash"]) if entries else None,
        broken=await uow.verify(account_id),
        checkpoint=checkpoint,
        checkpoint_problems=problems,
    )
    return report_pdf(facts, tell(masked(e, principal.role) for e in entries))
