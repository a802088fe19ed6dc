"""Relief plan decisions. Pure: no I/O."""

from __future__ import annotations

from shared.errors import Rejected
from shared.events.plans import Channel, PlanAgreed, PlanType

MAX_DEFERRAL_MONTHS = 13


def agree_plan(
    *,
    plan_id: str,
    plan_type: PlanType,
    account_currency: str,
    currency: str,
    amount: int,
    months: int,
    channel: Channel,
) -> PlanAgreed:
    """Check an agreement's terms and state them as the event the accounts service applies."""
    if currency != account_currency:
        raise Rejected(f"currency {currency} does not match the account's {account_currency}")
    if plan_type == "deferral" and not 1 <= months <= MAX_DEFERRAL_MONTHS:
        raise Rejected(f"a deferral is 1 to {MAX_DEFERRAL_MONTHS} months; got {months}")
    if plan_type in ("reinstallment", "personalised") and months < 1:
        raise Rejected(f"a {plan_type} plan needs at least one month")
    return PlanAgreed(
        plan_id=plan_id,
        plan_type=plan_type,
        currency=currency,
        amount=amount,
        months=months,
        channel=channel,
    )
