"""Quotes: every plan option an account may have, its cost, and what it is worth to the lender.

Quoting changes nothing. Each option's `terms` are dated as if the plan were activated
on the snapshot's business date; `dated(terms, on)` re-dates them at activation.

Rounding (the accounts service's, so a quote is what it applies): a re-installment
splits each overdue component into `months` shares differing by at most one fen, the
first installments taking the odd fen ("largest remainder" on equal weights), and adds
one fee per installment of `round_half_up(balance * monthly_rate)`. The installments'
shares therefore sum exactly to the restructured balance, and their total to it plus
`months * fee`.

Totals: `total_repayable` is what the borrower will repay on the account under the plan:
everything unpaid, less any waiver, plus the plan's fees. Expected recovery values the
plan's own installments: cure probability * their present value at the policy's monthly
discount rate (a due date `d` days away is discounted by (1 + rate)^(d / 30)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from services.plans.domain.eligibility import (
    COMPONENTS,
    AccountSnapshot,
    NotEligible,
    Refusal,
    deferral_months_left,
    eligibility,
    refusals,
    waiver_cap,
)
from services.plans.domain.policy import PLAN_TYPES, PlansPolicy
from shared.errors import Rejected
from shared.events.plans import PlanTerms, PlanType, ScheduledInstallment
from shared.money import add_months, floor_fen, round_fen, split_by_component

MAX_DECLARED_FEN = 2**53
"""Declared amounts are below this: exact in any JSON reader, and far inside the decimal
precision that pricing works in (a sum near 10^30 fen has no exact share to compute)."""


@dataclass(frozen=True)
class Income:
    """What a borrower declared per month, in fen."""

    monthly_income: int
    essential_expenses: int = 0
    other_obligations: int = 0

    def __post_init__(self) -> None:
        for name in ("monthly_income", "essential_expenses", "other_obligations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise Rejected(f"{name}: must be a non-negative integer (fen), got {v!r}")
            if v >= MAX_DECLARED_FEN:
                raise Rejected(f"{name}: must be below 2^53 fen, got {v}")

    @property
    def disposable(self) -> int:
        """Income less essential expenses and other obligations (never below zero)."""
        return max(0, self.monthly_income - self.essential_expenses - self.other_obligations)


def affordable_installment(income: Income, policy: PlansPolicy) -> int:
    """The largest monthly installment the borrower can afford: the policy share of their
    disposable income, rounded down so that it is never exceeded."""
    return floor_fen(income.disposable * policy.affordability_share)


def spread(
    parts: Mapping[str, int], months: int, monthly_rate: Decimal, activated_on: date
) -> list[ScheduledInstallment]:
    """The re-installment schedule of `parts` (by component), as the accounts service bills it.

    The first installment falls due one month after activation, the others monthly from
    it. Raises Rejected when an installment would be zero (more months than fen).
    """
    if not 1 <= months <= 36:
        raise Rejected(f"a schedule has 1 to 36 installments, not {months}")
    total = sum(parts.values())
    fee = round_fen(total * monthly_rate)
    shares = split_by_component({c: parts.get(c, 0) for c in COMPONENTS}, months)
    amounts = [sum(shares[c][i] for c in COMPONENTS) + fee for i in range(months)]
    if min(amounts) <= 0:
        raise Rejected(f"{total} fen cannot be spread over {months} installments")
    first = add_months(activated_on, 1)
    return [
        ScheduledInstallment(
            number=i + 1, due_date=add_months(first, i), amount=amounts[i], fee=fee
        )
        for i in range(months)
    ]


def _waive(parts: Mapping[str, int], amount: int, components: Sequence[str]) -> dict[str, int]:
    """`parts` less up to `amount`, taken component by component in `components` order."""
    out = dict(parts)
    left = amount
    for c in components:
        take = min(left, out.get(c, 0))
        if take:
            out[c] -= take
            left -= take
    return out


def reinstallment_terms(snapshot: AccountSnapshot, policy: PlansPolicy, months: int) -> PlanTerms:
    """Re-spread the overdue balance over `months` installments at the policy's rate."""
    rate = policy.reinstallment_monthly_rate
    schedule = spread(snapshot.overdue, months, rate, snapshot.today)
    fees = sum(i.fee for i in schedule)
    return PlanTerms(
        plan_type="reinstallment",
        currency=snapshot.currency,
        amount=snapshot.overdue_amount,
        months=months,
        monthly_rate=rate,
        installments=schedule,
        fees=fees,
        total_repayable=snapshot.outstanding + fees,
    )


def deferral_terms(snapshot: AccountSnapshot, policy: PlansPolicy, months: int) -> PlanTerms:
    """Postpone every unpaid due date by `months`; the overdue amount falls due then.

    The plan tracks one installment: the overdue amount, `months` after activation. (The
    accounts service moves each bill by `months`, so an old bill may fall due earlier.)
    """
    left = deferral_months_left(snapshot, policy)
    if not 1 <= months <= left:
        raise Rejected(f"a deferral here is 1 to {left} months (max_deferral_months), not {months}")
    schedule = []
    if snapshot.overdue_amount > 0:
        schedule = [
            ScheduledInstallment(
                number=1,
                due_date=add_months(snapshot.today, months),
                amount=snapshot.overdue_amount,
                fee=0,
            )
        ]
    return PlanTerms(
        plan_type="deferral",
        currency=snapshot.currency,
        amount=snapshot.outstanding,
        months=months,
        deferral_months=months,
        installments=schedule,
        total_repayable=snapshot.outstanding,
    )


def waiver_terms(
    snapshot: AccountSnapshot, policy: PlansPolicy, amount: int | None = None
) -> PlanTerms:
    """Waive `amount` (default: the bucket's cap) of the waivable components; the rest of
    the overdue balance is one installment due `waiver_settlement_days` after activation."""
    cap = waiver_cap(snapshot, policy)
    amount = cap if amount is None else amount
    if not 1 <= amount <= cap:
        raise Rejected(
            f"a waiver here is 1 to {cap} fen (waiver_caps.{snapshot.bucket}), not {amount}"
        )
    rest = sum(_waive(snapshot.overdue, amount, policy.waiver_components).values())
    schedule = []
    if rest > 0:
        due = snapshot.today + timedelta(days=policy.waiver_settlement_days)
        schedule = [ScheduledInstallment(number=1, due_date=due, amount=rest, fee=0)]
    return PlanTerms(
        plan_type="waiver",
        currency=snapshot.currency,
        amount=amount,
        months=0,
        waiver_amount=amount,
        waiver_components=list(policy.waiver_components),
        installments=schedule,
        total_repayable=snapshot.outstanding - amount,
    )


def personalised_terms(
    snapshot: AccountSnapshot,
    policy: PlansPolicy,
    income: Income,
    *,
    with_waiver: bool = False,
) -> PlanTerms:
    """The shortest plan whose every installment fits the affordable installment.

    It mixes the measures: with `with_waiver` (the borrower has hardship evidence) and a
    waiver eligible, the bucket's capped waiver of the overdue waivable components first;
    then the rest of the overdue balance re-spread over the fewest months (1 to
    `max_personalised_months`, any count) at the re-installment rate. Raises NotEligible
    (rule `affordability_share`) when no length fits.
    """
    affordable = affordable_installment(income, policy)
    waive = 0
    if with_waiver and not refusals(snapshot, policy, "waiver"):
        overdue_waivable = sum(snapshot.overdue_of(c) for c in policy.waiver_components)
        waive = min(waiver_cap(snapshot, policy), overdue_waivable)
    parts = _waive(snapshot.overdue, waive, policy.waiver_components)
    rate = policy.reinstallment_monthly_rate
    for months in range(1, policy.max_personalised_months + 1):
        if sum(parts.values()) < 1:
            break
        try:
            schedule = spread(parts, months, rate, snapshot.today)
        except Rejected:
            break  # more months than fen: longer schedules cannot help
        if max(i.amount for i in schedule) <= affordable:
            fees = sum(i.fee for i in schedule)
            return PlanTerms(
                plan_type="personalised",
                currency=snapshot.currency,
                amount=snapshot.overdue_amount,
                months=months,
                monthly_rate=rate,
                waiver_amount=waive,
                waiver_components=list(policy.waiver_components) if waive else [],
                installments=schedule,
                fees=fees,
                total_repayable=snapshot.outstanding - waive + fees,
            )
    raise NotEligible(
        Refusal(
            "personalised",
            "affordability_share",
            f"no plan of 1 to {policy.max_personalised_months} months keeps every "
            f"installment within the affordable {affordable} fen "
            f"({policy.affordability_share} of {income.disposable} disposable)",
        )
    )


def dated(terms: PlanTerms, activated_on: date, offered_on: date) -> PlanTerms:
    """`terms` quoted on `offered_on` with their due dates recomputed for `activated_on`."""
    if activated_on == offered_on or not terms.installments:
        return terms
    if terms.plan_type in ("reinstallment", "personalised"):
        first = add_months(activated_on, 1)
        dates = [add_months(first, i) for i in range(len(terms.installments))]
    elif terms.plan_type == "deferral":
        dates = [add_months(activated_on, terms.deferral_months)]
    else:
        dates = [activated_on + (terms.installments[0].due_date - offered_on)]
    return terms.model_copy(
        update={
            "installments": [
                i.model_copy(update={"due_date": d})
                for i, d in zip(terms.installments, dates, strict=True)
            ]
        }
    )


def present_value(
    installments: Sequence[ScheduledInstallment], today: date, monthly_discount_rate: Decimal
) -> Decimal:
    """The installments discounted to `today` at a monthly rate (d days = d/30 months)."""
    base = 1 + monthly_discount_rate
    total = Decimal(0)
    for i in installments:
        months = Decimal(max(0, (i.due_date - today).days)) / 30
        total += Decimal(i.amount) / base**months
    return total


def expected_recovery(
    installments: Sequence[ScheduledInstallment],
    today: date,
    cure_probability: Decimal,
    monthly_discount_rate: Decimal,
) -> int:
    """Cure probability * present value of the plan's installments, rounded half up to fen."""
    return round_fen(cure_probability * present_value(installments, today, monthly_discount_rate))


@dataclass(frozen=True)
class Option:
    """One plan the account may have, with what it costs and is worth."""

    option_id: str
    terms: PlanTerms
    cure_probability: Decimal
    expected_recovery: int
    largest_installment: int
    evidence_required: bool = False
    affordable: bool | None = None
    """Whether every installment fits the declared affordable installment (None: no income)."""

    @property
    def plan_type(self) -> PlanType:
        """The option's plan type."""
        return self.terms.plan_type


@dataclass(frozen=True)
class Recommendation:
    """The option recommended, and why."""

    option_id: str
    reason: str


@dataclass(frozen=True)
class Quote:
    """Every option for an account on a business date, the refusals, and a recommendation."""

    account_id: str
    as_of: date
    options: tuple[Option, ...]
    refusals: tuple[Refusal, ...]
    recommendation: Recommendation | None
    affordable_installment: int | None = None
    notes: tuple[str, ...] = field(default=())

    def option(self, option_id: str) -> Option:
        """The option with this id; Rejected if the quote has none."""
        for o in self.options:
            if o.option_id == option_id:
                return o
        raise Rejected(f"no option {option_id!r} in the quote for account {self.account_id}")


def option_for(
    snapshot: AccountSnapshot,
    policy: PlansPolicy,
    terms: PlanTerms,
    option_id: str,
    affordable: int | None = None,
) -> Option:
    """Value `terms` for the lender and check them against the affordable installment."""
    p = policy.cure(snapshot.bucket, terms.plan_type)
    largest = max((i.amount for i in terms.installments), default=0)
    return Option(
        option_id=option_id,
        terms=terms,
        cure_probability=p,
        expected_recovery=expected_recovery(
            terms.installments, snapshot.today, p, policy.monthly_discount_rate
        ),
        largest_installment=largest,
        evidence_required=terms.waiver_amount > policy.evidence_threshold,
        affordable=None if affordable is None else largest <= affordable,
    )


def quote(
    snapshot: AccountSnapshot,
    policy: PlansPolicy,
    income: Income | None = None,
    *,
    with_waiver: bool = False,
) -> Quote:
    """Every option the account is eligible for, refusals naming the rule, a recommendation.

    Re-installment is quoted at each policy term, deferral at each policy length within
    the months left, a waiver at the bucket's cap, a personalised plan only with declared
    income. With income, only options within the affordable installment are recommended.
    """
    eligible, refused = eligibility(snapshot, policy)
    refused_list = list(refused)
    affordable = None if income is None else affordable_installment(income, policy)
    options: list[Option] = []
    notes: list[str] = []
    for t in eligible:
        if t == "deferral":
            left = deferral_months_left(snapshot, policy)
            lengths = [m for m in policy.deferral_terms if m <= left] or [left]
            for m in lengths:
                terms = deferral_terms(snapshot, policy, m)
                options.append(option_for(snapshot, policy, terms, f"deferral-{m}", affordable))
        elif t == "reinstallment":
            for m in policy.reinstallment_terms:
                try:
                    terms = reinstallment_terms(snapshot, policy, m)
                except Rejected as exc:
                    notes.append(f"reinstallment-{m} not quoted: {exc.reason}")
                    continue
                options.append(
                    option_for(snapshot, policy, terms, f"reinstallment-{m}", affordable)
                )
        elif t == "waiver":
            terms = waiver_terms(snapshot, policy)
            options.append(option_for(snapshot, policy, terms, "waiver", affordable))
        elif income is None:
            refused_list.append(
                Refusal("personalised", "income", "declare income and expenses to fit a plan")
            )
        else:
            try:
                terms = personalised_terms(snapshot, policy, income, with_waiver=with_waiver)
            except NotEligible as exc:
                refused_list.append(exc.refusal)
                continue
            options.append(option_for(snapshot, policy, terms, "personalised", affordable))
    recommendation = recommend(options, policy, affordable)
    if recommendation is None and options and affordable is not None:
        notes.append(f"no option keeps every installment within the affordable {affordable} fen")
    return Quote(
        account_id=snapshot.account_id,
        as_of=snapshot.today,
        options=tuple(options),
        refusals=tuple(refused_list),
        recommendation=recommendation,
        affordable_installment=affordable,
        notes=tuple(notes),
    )


def recommend(
    options: Sequence[Option], policy: PlansPolicy, affordable: int | None
) -> Recommendation | None:
    """The option with the highest expected recovery (ties: fewer months, then type order);
    with declared income, only among options within the affordable installment."""
    pool = [o for o in options if o.affordable is not False]
    if not pool:
        return None
    best = max(
        pool,
        key=lambda o: (o.expected_recovery, -o.terms.months, -PLAN_TYPES.index(o.plan_type)),
    )
    reason = (
        f"highest expected recovery: {best.expected_recovery} fen (cure probability "
        f"{best.cure_probability} * the plan's installments discounted at "
        f"{policy.monthly_discount_rate} a month)"
    )
    if affordable is not None:
        reason += f", among the options within the affordable installment of {affordable} fen"
    return Recommendation(best.option_id, reason)
