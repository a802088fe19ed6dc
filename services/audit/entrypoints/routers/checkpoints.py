"""Signed checkpoints and evidence bundles for compliance."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from services.audit.domain.bundle import dumps
from services.audit.domain.personal import Reader
from services.audit.entrypoints.dependencies import Purpose, Reveal, Runtime
from services.audit.entrypoints.downloads import attachment
from services.audit.service_layer.checkpoints import (
    TrailNotCommitted,
    compare_with_published,
    export_bundle,
    make_checkpoint,
    publish,
    published_path,
    read_published,
)
from shared.api import problem
from shared.security import CurrentPrincipal, secured

ACCESS = {
    "create_checkpoint": {"compliance"},
    "latest_checkpoint": {"compliance"},
    "get_bundle": {"compliance"},
    "compare_published": {"compliance"},
}

router = APIRouter(prefix="/v1", tags=["checkpoints"], route_class=secured(ACCESS))


@router.post(
    "/checkpoints",
    status_code=201,
    response_model=None,
    responses={429: {"description": "AUDIT_CHECKPOINTS_PER_MINUTE reached (Retry-After)"}},
)
async def create_checkpoint(
    request: Request, runtime: Runtime, principal: CurrentPrincipal, purpose: Purpose
) -> dict[str, Any] | JSONResponse:
    """Sign the Merkle root over every account's head now (at most
    AUDIT_CHECKPOINTS_PER_MINUTE a minute, for the whole service)."""
    # Every checkpoint is kept and published for ever, and each comparison reads them:
    # one budget for the service, whoever asks.
    wait = await request.app.state.checkpoint_limiter.hit("audit:checkpoints")
    if wait:
        limit = runtime.settings.audit_checkpoints_per_minute
        refused = problem(
            429,
            "Too Many Requests",
            f"at most {limit} checkpoints a minute (AUDIT_CHECKPOINTS_PER_MINUTE); "
            f"the next one in {math.ceil(wait)} s",
        )
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    async with runtime.uow() as uow:
        checkpoint = await make_checkpoint(uow, request.app.state.signing_key)
        await uow.access.log(principal, "checkpoint", purpose, None, {})
        await uow.commit()
    # Only after the commit: what is published is in the database.
    await asyncio.to_thread(publish, published_path(runtime.settings), checkpoint)
    return checkpoint


@router.get("/checkpoints/published/compare")
async def compare_published(
    request: Request,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    full: Annotated[
        bool,
        Query(
            description="check every published checkpoint, not only those published since "
            "the last comparison that found nothing wrong"
        ),
    ] = False,
) -> dict[str, Any]:
    """Check the database against the checkpoints published outside it.

    Catches a rewritten trail even when the rewriter also re-signed the checkpoints in
    the database: the published heads and roots no longer match. Incremental unless
    `full`: `checked` says how many published checkpoints were checked this time.
    """
    path = published_path(runtime.settings)
    lines = await asyncio.to_thread(read_published, path)
    async with runtime.uow() as uow:
        found = await compare_with_published(uow, lines, request.app.state.signing_key, full=full)
        await uow.access.log(principal, "compare-published", purpose, None, {"full": full})
        await uow.commit()
    return {
        "published_checkpoints": len(lines),
        "checked": found.checked,
        "already_checked": found.since,
        "consistent": not found.problems,
        "problems": found.problems,
    }


@router.get("/checkpoints/latest")
async def latest_checkpoint(runtime: Runtime) -> dict[str, Any]:
    """The newest signed checkpoint (publish its root outside this database)."""
    async with runtime.uow() as uow:
        checkpoint = await uow.checkpoints.latest()
    if checkpoint is None:
        raise HTTPException(404, "no checkpoint yet")
    return checkpoint


@router.get("/accounts/{account_id}/bundle", response_class=PlainTextResponse)
async def get_bundle(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    reveal: Reveal = False,
) -> PlainTextResponse:
    """One file with the account's trail, hashes, covering checkpoint and public key.

    Personal fields are in it only as commitments; with `reveal`, the values the role may
    see come in `disclosures`, each with its salt. `arrears audit verify-bundle FILE`
    checks it all offline, with no database.
    """
    reader = Reader(principal.role, reveal)
    async with runtime.uow() as uow:
        try:
            bundle = await export_bundle(uow, account_id, reader)
        except TrailNotCommitted as exc:
            raise HTTPException(409, exc.reason) from exc
        disclosed = len(bundle["disclosures"]) if bundle else 0
        await uow.access.log(
            principal, "export-bundle", purpose, account_id, reader.logged(disclosed)
        )
        await uow.commit()
    if bundle is None:
        raise HTTPException(404, f"no checkpoint covers account {account_id} yet")
    return PlainTextResponse(
        dumps(bundle),
        media_type="application/json",
        headers=attachment(account_id, "json"),
    )
