"""Hardship evidence of an account: upload (the raw document as the body), list, read.

POST /v1/accounts/{account_id}/evidence?kind=medical   Content-Type: application/pdf
GET  /v1/accounts/{account_id}/evidence
GET  /v1/accounts/{account_id}/evidence/{sha256}       the document itself
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from services.plans.domain.evidence import file_name
from services.plans.domain.policy import DEFAULT_POLICY
from services.plans.entrypoints.bodies import AccountId, capped
from services.plans.entrypoints.dependencies import Runtime, Store
from services.plans.entrypoints.routers.plans import actor
from services.plans.service_layer.evidence import receive_evidence
from shared.events.plans import EvidenceKind
from shared.security import CurrentPrincipal

ACCESS = {
    "upload_evidence": {"agent", "supervisor", "borrower"},
    "list_evidence": {"agent", "supervisor", "compliance", "borrower"},
    # Medical and unemployment papers: those who judge them, and the borrower's own.
    "get_evidence": {"supervisor", "compliance", "borrower"},
}

router = APIRouter(
    prefix="/v1/accounts",
    tags=["evidence"],
    route_class=capped(ACCESS, uploads={"upload_evidence"}),
)

# The body is read raw, so FastAPI cannot see it: declared here, a client generated from
# the OpenAPI (or a fuzzer) knows to send the document itself with its media type.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the document's bytes; the media types are policy's "
        "(evidence_media_types; these by default) and the first bytes must match",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in DEFAULT_POLICY.evidence_media_types
        },
    }
}


@router.post("/{account_id}/evidence", status_code=201, openapi_extra=UPLOAD_BODY)
async def upload_evidence(
    account_id: AccountId,
    kind: Annotated[EvidenceKind, Query()],
    request: Request,
    response: Response,
    runtime: Runtime,
    store: Store,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Store a document (PDF, JPEG or PNG per policy); its SHA-256 is how offers cite it."""
    content = await request.body()
    async with runtime.uow() as uow:
        doc, new = await receive_evidence(
            uow,
            runtime.settings.topics,
            store,
            account_id,
            content,
            request.headers.get("content-type", ""),
            kind,
            actor(principal),
        )
        await uow.commit()
    runtime.notify_relay()
    if not new:
        response.status_code = 200  # the same bytes again: nothing new was stored
    return {
        "sha256": doc.sha256,
        "kind": doc.kind,
        "media_type": doc.media_type,
        "size": doc.size,
    }


@router.get("/{account_id}/evidence")
async def list_evidence(account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """The documents received for the account, oldest first."""
    async with runtime.uow() as uow:
        rows = await uow.evidence_list(account_id)
    return {
        "account_id": account_id,
        "evidence": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in rows
        ],
    }


@router.get("/{account_id}/evidence/{sha256}")
async def get_evidence(
    account_id: AccountId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    runtime: Runtime,
    store: Store,
) -> Response:
    """The document's bytes, if it was received for this account."""
    async with runtime.uow() as uow:
        doc = await uow.evidence(account_id, sha256)
    if doc is None:
        raise LookupError(f"no evidence {sha256} on account {account_id}")
    content = await asyncio.to_thread(store.get, sha256)
    name = file_name(doc)
    return Response(
        content,
        media_type=doc.media_type,
        headers={
            # Saved, never rendered by the browser as whatever it guesses; and not kept
            # in any cache, being medical or employment papers (RFC 6266, RFC 9111).
            "Content-Disposition": f'attachment; filename="{name}"; '
            f"filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
