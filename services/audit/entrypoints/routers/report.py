"""The PDF report for people: provenance, chain verification, covering checkpoint, story."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from services.audit.adapters.pdf_report import ReportLabTypesetter
from services.audit.domain.report import Lang
from services.audit.entrypoints.dependencies import Purpose, Reveal, Runtime
from services.audit.entrypoints.downloads import attachment
from services.audit.service_layer import views
from shared.security import CurrentPrincipal, secured

ACCESS = {"get_report_pdf": {"compliance"}}

TYPESETTER = ReportLabTypesetter()

router = APIRouter(prefix="/v1", tags=["audit"], route_class=secured(ACCESS))


@router.get(
    "/accounts/{account_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_report_pdf(
    account_id: str,
    request: Request,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    reveal: Reveal = False,
    lang: Annotated[
        Lang | None,
        Query(
            description="the report's language; by default the account's (zh-CN for "
            "accounts in mainland China's time zones, else en)"
        ),
    ] = None,
) -> Response:
    """The whole trail as a PDF report (personal fields masked by kind); the export is logged."""
    async with runtime.uow() as uow:
        exists = await uow.trail.has_trail(account_id)
        pdf, revealed = (
            await views.report(
                uow,
                account_id,
                principal,
                purpose,
                request.app.state.signing_key,
                TYPESETTER,
                reveal,
                lang,
            )
            if exists
            else (None, 0)
        )
        await uow.access.log(
            principal,
            "export-pdf",
            purpose,
            account_id,
            views.Reader(principal.role, reveal).logged(revealed),
        )
        await uow.commit()
    if pdf is None:
        raise HTTPException(404, f"no trail for account {account_id}")
    return Response(
        pdf,
        media_type="application/pdf",
        headers=attachment(account_id, "pdf"),
    )
