"""Relief policy: who may have which plan, on what terms, and who must approve it.

A deployment loads one mapping at start (`PlansPolicy.from_mapping`); every value is
validated there, so a bad settings file stops the service with the key named. A key
given replaces the default wholesale (tables are not merged with the defaults), except
`eligibility`, which is replaced product by product.
Amounts are integer fen; rates, shares and probabilities are decimal strings (floats are
refused: money rules must be exact).

Refusals in `eligibility` and offers name the policy key that refused (`Refusal.rule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any, cast, get_args

from shared.events.plans import PlanType, WaivableComponent
from shared.policy_values import PolicyError
from shared.policy_values import decimal as _decimal
from shared.policy_values import integer as _int

PLAN_TYPES: tuple[PlanType, ...] = get_args(PlanType)
PRODUCTS = ("consumer_credit", "cash_loan")
BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "121-150", "151-180", "180+")
MAX_MONTHS = 36
"""The longest schedule an event can carry (PlanAgreed.months ≤ 36)."""


def _default_eligibility() -> dict[str, dict[str, tuple[PlanType, ...]]]:
    delinquent: tuple[PlanType, ...] = PLAN_TYPES
    table: dict[str, tuple[PlanType, ...]] = {b: delinquent for b in BUCKETS}
    table["current"] = ("deferral", "personalised")
    table["180+"] = ("waiver", "personalised")
    return {p: dict(table) for p in PRODUCTS}


def _default_cure() -> dict[str, dict[PlanType, Decimal]]:
    # Illustrative starting values, to be replaced by the lender's own observed cure rates.
    rows = {
        "current": ("0.90", "0.90", "0.90", "0.92"),
        "1-30": ("0.75", "0.80", "0.70", "0.82"),
        "31-60": ("0.55", "0.65", "0.50", "0.68"),
        "61-90": ("0.40", "0.50", "0.35", "0.55"),
        "91-120": ("0.30", "0.40", "0.25", "0.45"),
        "121-150": ("0.20", "0.30", "0.18", "0.35"),
        "151-180": ("0.15", "0.22", "0.12", "0.28"),
        "180+": ("0.05", "0.10", "0.08", "0.15"),
    }
    return {b: dict(zip(PLAN_TYPES, map(Decimal, ps), strict=True)) for b, ps in rows.items()}


def _default_caps() -> dict[str, Decimal]:
    caps = ("0", "0.3", "0.5", "0.6", "0.7", "0.8", "0.9", "1")
    return dict(zip(BUCKETS, map(Decimal, caps), strict=True))


def _default_thresholds() -> dict[PlanType, int]:
    return {
        "deferral": 5_000_000,
        "reinstallment": 5_000_000,
        # Every waiver gives money up: a supervisor approves each (maker-checker).
        "waiver": 0,
        "personalised": 2_000_000,
    }


@dataclass(frozen=True, eq=False)
class PlansPolicy:
    """Every rule the plans domain applies; field names are the settings keys.

    - `eligibility`: product → bucket → the plan types allowed there (others are refused).
    - `reinstallment_interval_months`: at most one re-installment within this many months.
    - `cooling_off_days`: no new plan within this many days after a broken plan.
    - `max_deferral_months`: deferral months over the account's life; `deferral_terms`:
      the lengths offered (capped by the months left).
    - `waiver_caps`: bucket → the fraction of `waiver_components` that may be waived;
      `evidence_threshold`: a waiver above this (fen) needs evidence, and approval.
    - `evidence_media_types`, `evidence_max_bytes`: what an upload may be.
    - `reinstallment_terms`, `reinstallment_monthly_rate`: the installment counts offered
      and the fee per installment as a fraction of the reinstalled balance.
    - `approval_thresholds`: plan type → the covered amount (fen) above which a
      supervisor must approve (waivers: 0 by default, so every waiver is approved).
    - `offer_expiry_days`: an offer may be accepted until offered_on + this (inclusive).
    - `request_expiry_days`: a request nobody offered terms for lapses after this many
      days, so it does not hold the account's one plan slot for ever.
    - `cure_probability`: bucket → plan type → probability the plan cures the account;
      `monthly_discount_rate` discounts the plan's cash flows for expected recovery.
    - `affordability_share`: the share of disposable income an installment may take;
      `max_personalised_months`: the longest personalised schedule.
    - `grace_days`: days after a missed installment's due date before the plan breaks.
    - `waiver_settlement_days`: a waiver's rest of the overdue balance is due this many
      days after activation (the plan's one installment).
    """

    eligibility: Mapping[str, Mapping[str, tuple[PlanType, ...]]] = field(
        default_factory=_default_eligibility
    )
    reinstallment_interval_months: int = 12
    cooling_off_days: int = 90
    max_deferral_months: int = 13
    deferral_terms: tuple[int, ...] = (1, 3, 6)
    waiver_caps: Mapping[str, Decimal] = field(default_factory=_default_caps)
    waiver_components: tuple[WaivableComponent, ...] = ("late_fee",)
    evidence_threshold: int = 5_000
    evidence_media_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")
    evidence_max_bytes: int = 10 * 1024 * 1024
    reinstallment_terms: tuple[int, ...] = (3, 6, 12, 24, 36)
    reinstallment_monthly_rate: Decimal = Decimal("0.005")
    approval_thresholds: Mapping[PlanType, int] = field(default_factory=_default_thresholds)
    offer_expiry_days: int = 7
    request_expiry_days: int = 7
    cure_probability: Mapping[str, Mapping[PlanType, Decimal]] = field(
        default_factory=_default_cure
    )
    monthly_discount_rate: Decimal = Decimal("0.01")
    affordability_share: Decimal = Decimal("0.5")
    max_personalised_months: int = MAX_MONTHS
    grace_days: int = 3
    waiver_settlement_days: int = 30

    def __post_init__(self) -> None:
        _validate(self)

    def allowed(self, product: str, bucket: str) -> tuple[PlanType, ...]:
        """The plan types a product's account in `bucket` may have (none if unconfigured)."""
        return tuple(self.eligibility.get(product, {}).get(bucket, ()))

    def cure(self, bucket: str, plan_type: PlanType) -> Decimal:
        """The cure probability of a plan type in a bucket (0 when the table has none)."""
        return self.cure_probability.get(bucket, {}).get(plan_type, Decimal(0))

    def waiver_cap(self, bucket: str) -> Decimal:
        """The fraction of the waivable components a waiver may take in `bucket`."""
        return self.waiver_caps.get(bucket, Decimal(0))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: PlansPolicy | None = None) -> PlansPolicy:
        """A policy from settings (absent keys keep `base`'s); PolicyError names bad keys."""
        if not isinstance(raw, Mapping):
            raise PolicyError("plans policy: must be a mapping of policy keys")
        base = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PolicyError(f"{unknown[0]}: unknown policy key (known: {sorted(known)})")
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            parse = _PARSERS.get(key, _int)
            changes[key] = parse(key, value)
        if "eligibility" in changes:  # per product: products not given keep base's table
            changes["eligibility"] = {**base.eligibility, **changes["eligibility"]}
        return replace(base, **changes)


def _fraction(key: str, value: Any) -> Decimal:
    out = _decimal(key, value)
    if not 0 <= out <= 1:
        raise PolicyError(f"{key}: must be between 0 and 1, got {out}")
    return out


def _mapping(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{key}: must be a mapping")
    for k in value:
        if not isinstance(k, str) or not k:
            raise PolicyError(f"{key}: keys must be non-empty strings, got {k!r}")
    return value


def _plan_type(key: str, value: Any) -> PlanType:
    if value not in PLAN_TYPES:
        raise PolicyError(f"{key}: unknown plan type {value!r} (known: {list(PLAN_TYPES)})")
    return cast(PlanType, value)


def _ints(key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise PolicyError(f"{key}: must be a non-empty list of integers")
    out = tuple(_int(f"{key}[{i}]", v) for i, v in enumerate(value))
    if list(out) != sorted(set(out)):
        raise PolicyError(f"{key}: must be strictly increasing, got {list(out)}")
    return out


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise PolicyError(f"{key}: must be a non-empty list of strings")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise PolicyError(f"{key}[{i}]: must be a non-empty string, got {v!r}")
    return tuple(value)


def _components(key: str, value: Any) -> tuple[WaivableComponent, ...]:
    out = _strings(key, value)
    for i, c in enumerate(out):
        if c not in get_args(WaivableComponent):
            raise PolicyError(f"{key}[{i}]: only late_fee and interest may be waived, not {c!r}")
    if len(set(out)) != len(out):
        raise PolicyError(f"{key}: components must be unique")
    return cast(tuple[WaivableComponent, ...], out)


def _eligibility(key: str, value: Any) -> dict[str, dict[str, tuple[PlanType, ...]]]:
    out: dict[str, dict[str, tuple[PlanType, ...]]] = {}
    for product, buckets in _mapping(key, value).items():
        if product not in PRODUCTS:
            raise PolicyError(f"{key}.{product}: unknown product (known: {list(PRODUCTS)})")
        table: dict[str, tuple[PlanType, ...]] = {}
        for bucket, types in _mapping(f"{key}.{product}", buckets).items():
            where = f"{key}.{product}.{bucket}"
            if not isinstance(types, list | tuple):
                raise PolicyError(f"{where}: must be a list of plan types")
            table[bucket] = tuple(_plan_type(f"{where}[{i}]", t) for i, t in enumerate(types))
        out[product] = table
    return out


def _caps(key: str, value: Any) -> dict[str, Decimal]:
    return {b: _fraction(f"{key}.{b}", v) for b, v in _mapping(key, value).items()}


def _thresholds(key: str, value: Any) -> dict[PlanType, int]:
    out: dict[PlanType, int] = {}
    for t, v in _mapping(key, value).items():
        out[_plan_type(f"{key}.{t}", t)] = _int(f"{key}.{t}", v)
    return out


def _cure(key: str, value: Any) -> dict[str, dict[PlanType, Decimal]]:
    out: dict[str, dict[PlanType, Decimal]] = {}
    for bucket, row in _mapping(key, value).items():
        out[bucket] = {
            _plan_type(f"{key}.{bucket}.{t}", t): _fraction(f"{key}.{bucket}.{t}", p)
            for t, p in _mapping(f"{key}.{bucket}", row).items()
        }
    return out


_PARSERS: dict[str, Any] = {
    "eligibility": _eligibility,
    "deferral_terms": _ints,
    "waiver_caps": _caps,
    "waiver_components": _components,
    "evidence_media_types": _strings,
    "reinstallment_terms": _ints,
    "reinstallment_monthly_rate": _decimal,
    "approval_thresholds": _thresholds,
    "cure_probability": _cure,
    "monthly_discount_rate": _decimal,
    "affordability_share": _fraction,
}


def _validate(p: PlansPolicy) -> None:
    for key in (
        "reinstallment_interval_months",
        "cooling_off_days",
        "max_deferral_months",
        "evidence_threshold",
        "grace_days",
    ):
        if getattr(p, key) < 0:
            raise PolicyError(f"{key}: must not be negative")
    for key in (
        "evidence_max_bytes",
        "offer_expiry_days",
        "request_expiry_days",
        "max_personalised_months",
        "waiver_settlement_days",
    ):
        if getattr(p, key) < 1:
            raise PolicyError(f"{key}: must be at least 1")
    if p.max_deferral_months > MAX_MONTHS:
        raise PolicyError(f"max_deferral_months: at most {MAX_MONTHS}")
    if p.max_personalised_months > MAX_MONTHS:
        raise PolicyError(f"max_personalised_months: at most {MAX_MONTHS}")
    for key, limit in (
        ("deferral_terms", p.max_deferral_months),
        ("reinstallment_terms", MAX_MONTHS),
    ):
        terms: tuple[int, ...] = getattr(p, key)
        if not terms or terms[0] < 1 or terms[-1] > limit:
            raise PolicyError(f"{key}: each must be 1 to {limit}, got {list(terms)}")
    for key in ("reinstallment_monthly_rate", "monthly_discount_rate"):
        rate: Decimal = getattr(p, key)
        if not 0 <= rate < 1:
            raise PolicyError(f"{key}: must be in [0, 1), got {rate}")
    if p.affordability_share <= 0:
        raise PolicyError("affordability_share: must be more than 0")
    for t, v in p.approval_thresholds.items():
        if v < 0:
            raise PolicyError(f"approval_thresholds.{t}: must not be negative")
    for t in PLAN_TYPES:
        if t not in p.approval_thresholds:
            raise PolicyError(f"approval_thresholds.{t}: missing (every plan type needs one)")
    # Every type a bucket allows needs a cure probability (and waivers a cap), so a quote
    # never silently values an option at zero.
    for product, table in p.eligibility.items():
        for bucket, types in table.items():
            for t in types:
                if t not in p.cure_probability.get(bucket, {}):
                    raise PolicyError(
                        f"cure_probability.{bucket}.{t}: missing, but eligibility."
                        f"{product}.{bucket} allows {t}"
                    )
                if t == "waiver" and bucket not in p.waiver_caps:
                    raise PolicyError(
                        f"waiver_caps.{bucket}: missing, but eligibility.{product}.{bucket} "
                        "allows waiver"
                    )


DEFAULT_POLICY = PlansPolicy()
"""The defaults, used when a deployment configures none."""
