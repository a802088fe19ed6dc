"""POST /v1/accounts/{account_id}/plans/quote: every relief option, priced. Changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.plans.entrypoints.bodies import AccountId, Declaration, capped
from services.plans.entrypoints.dependencies import Runtime
from services.plans.service_layer.handlers import quote_account

ACCESS = {"post_quote": {"agent", "supervisor", "borrower"}}

router = APIRouter(prefix="/v1/accounts", tags=["quotes"], route_class=capped(ACCESS))


class QuoteRequest(Declaration):
    """Optionally, what the borrower declares they can afford (fen a month)."""


@router.post("/{account_id}/plans/quote")
async def post_quote(account_id: AccountId, body: QuoteRequest, runtime: Runtime) -> dict[str, Any]:
    """Eligible options with terms, totals, fees and expected recovery; refusals name the rule."""
    income = body.income()
    async with runtime.uow() as uow:
        q, snapshot = await quote_account(uow, account_id, income, body.with_waiver)
    return {
        "account_id": account_id,
        "as_of": q.as_of.isoformat(),
        "currency": snapshot.currency,
        "bucket": snapshot.bucket,
        "options": [
            {
                "option_id": o.option_id,
                "plan_type": o.plan_type,
                "terms": o.terms.model_dump(mode="json"),
                "cure_probability": str(o.cure_probability),
                "expected_recovery": o.expected_recovery,
                "largest_installment": o.largest_installment,
                "evidence_required": o.evidence_required,
                "affordable": o.affordable,
            }
            for o in q.options
        ],
        "refusals": [
            {"plan_type": r.plan_type, "rule": r.rule, "reason": r.reason} for r in q.refusals
        ],
        "recommendation": (
            {"option_id": q.recommendation.option_id, "reason": q.recommendation.reason}
            if q.recommendation
            else None
        ),
        "affordable_installment": q.affordable_installment,
        "notes": list(q.notes),
    }
