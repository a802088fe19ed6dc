"""Per-product servicing policy: grace, buckets, late fees, allocation order, limits.

A deployment loads one mapping per product at start (`Policies.from_mapping`); every
value is validated there, so a bad settings file stops the service with the key named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from shared.events.accounts import COMPONENTS
from shared.policy_values import PolicyError
from shared.policy_values import decimal as _decimal
from shared.policy_values import integer as _int

PRODUCTS = ("consumer_credit", "cash_loan")


@dataclass(frozen=True)
class Bucket:
    """A named range of days past due, `max_dpd` None meaning open-ended."""

    name: str
    min_dpd: int
    max_dpd: int | None

    def holds(self, dpd: int) -> bool:
        """Whether `dpd` falls in this bucket."""
        return self.min_dpd <= dpd and (self.max_dpd is None or dpd <= self.max_dpd)


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("current", 0, 0),
    Bucket("1-30", 1, 30),
    Bucket("31-60", 31, 60),
    Bucket("61-90", 61, 90),
    Bucket("91-120", 91, 120),
    Bucket("121-150", 121, 150),
    Bucket("151-180", 151, 180),
    Bucket("180+", 181, None),
)


@dataclass(frozen=True)
class LateFeePolicy:
    """Daily late fee on a bill's unpaid principal + interest + fees.

    `cap_rate` bounds the total late fee of one bill to that fraction of its principal
    (None: no cap, the default, since no agreement we have seen states one).
    """

    daily_rate: Decimal = Decimal("0.0005")
    minimum: int = 1
    cap_rate: Decimal | None = None


@dataclass(frozen=True)
class Policy:
    """Everything the account aggregate needs to know about one product."""

    grace_days: int = 0
    buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    late_fee: LateFeePolicy = field(default_factory=LateFeePolicy)
    allocation_order: tuple[str, ...] = COMPONENTS
    charge_off_dpd: int = 180
    due_soon_days: int = 3
    partial_payment_streak: int = 3
    max_deferral_months: int = 13
    max_installments: int = 36

    def __post_init__(self) -> None:
        _validate(self)

    def bucket_for(self, dpd: int) -> Bucket:
        """The bucket holding `dpd` (validation guarantees exactly one)."""
        return next(b for b in self.buckets if b.holds(dpd))

    def rank(self, bucket_name: str) -> int:
        """How bad a bucket is: 0 for current, growing with DPD."""
        return [b.name for b in self.buckets].index(bucket_name)

    @property
    def current(self) -> str:
        """The name of the no-DPD bucket."""
        return self.buckets[0].name

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: Policy | None = None) -> Policy:
        """A policy from settings (keys absent keep `base`'s values); PolicyError names bad keys."""
        base = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PolicyError(f"{unknown[0]}: unknown policy key (known: {sorted(known)})")
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "buckets":
                changes[key] = _buckets(value)
            elif key == "late_fee":
                changes[key] = _late_fee(value, base.late_fee)
            elif key == "allocation_order":
                if not isinstance(value, list | tuple):
                    raise PolicyError("allocation_order: must be a list of components")
                changes[key] = tuple(value)
            else:
                changes[key] = _int(key, value)
        try:
            return replace(base, **changes)
        except PolicyError:
            raise
        except (TypeError, ValueError) as exc:
            raise PolicyError(str(exc)) from exc


@dataclass(frozen=True)
class Policies:
    """The policy of each product."""

    by_product: tuple[tuple[str, Policy], ...] = field(
        default_factory=lambda: tuple((p, Policy()) for p in PRODUCTS)
    )

    def for_product(self, product: str) -> Policy:
        """The policy of `product`; products never configured get the defaults."""
        for name, policy in self.by_product:
            if name == product:
                return policy
        return _DEFAULT

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Policies:
        """Policies from `{product: {policy keys}}`; PolicyError names `product.key`."""
        unknown = sorted(set(raw) - set(PRODUCTS))
        if unknown:
            raise PolicyError(f"{unknown[0]}: unknown product (known: {list(PRODUCTS)})")
        out = []
        for product in PRODUCTS:
            section = raw.get(product, {})
            if not isinstance(section, Mapping):
                raise PolicyError(f"{product}: must be a mapping of policy keys")
            try:
                out.append((product, Policy.from_mapping(section)))
            except PolicyError as exc:
                raise PolicyError(f"{product}.{exc}") from None
        return cls(tuple(out))


def _late_fee(value: Any, base: LateFeePolicy) -> LateFeePolicy:
    if not isinstance(value, Mapping):
        raise PolicyError("late_fee: must be a mapping")
    known = {"daily_rate", "minimum", "cap_rate"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise PolicyError(f"late_fee.{unknown[0]}: unknown key (known: {sorted(known)})")
    out = base
    if "daily_rate" in value:
        out = replace(out, daily_rate=_decimal("late_fee.daily_rate", value["daily_rate"]))
    if "minimum" in value:
        out = replace(out, minimum=_int("late_fee.minimum", value["minimum"]))
    if "cap_rate" in value:
        cap = value["cap_rate"]
        out = replace(out, cap_rate=None if cap is None else _decimal("late_fee.cap_rate", cap))
    return out


def _buckets(value: Any) -> tuple[Bucket, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise PolicyError("buckets: must be a non-empty list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) - {"name", "min_dpd", "max_dpd"}:
            raise PolicyError(f"buckets[{i}]: must be {{name, min_dpd, max_dpd}}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"buckets[{i}].name: must be a non-empty string")
        max_dpd = item.get("max_dpd")
        out.append(
            Bucket(
                name,
                _int(f"buckets[{i}].min_dpd", item.get("min_dpd")),
                None if max_dpd is None else _int(f"buckets[{i}].max_dpd", max_dpd),
            )
        )
    return tuple(out)


def _validate(p: Policy) -> None:
    for key in ("grace_days", "charge_off_dpd", "due_soon_days", "max_deferral_months"):
        if getattr(p, key) < 0:
            raise PolicyError(f"{key}: must not be negative")
    for key in ("partial_payment_streak", "max_installments"):
        if getattr(p, key) < 1:
            raise PolicyError(f"{key}: must be at least 1")
    fee = p.late_fee
    if fee.daily_rate < 0 or fee.daily_rate >= 1:
        raise PolicyError("late_fee.daily_rate: must be in [0, 1)")
    if fee.minimum < 0:
        raise PolicyError("late_fee.minimum: must not be negative")
    if fee.cap_rate is not None and fee.cap_rate < 0:
        raise PolicyError("late_fee.cap_rate: must not be negative")
    if sorted(p.allocation_order) != sorted(COMPONENTS):
        raise PolicyError(f"allocation_order: must order exactly {list(COMPONENTS)}")
    # Buckets must tile 0..∞ without gaps or overlaps, so every DPD has one bucket.
    expected = 0
    for i, b in enumerate(p.buckets):
        if b.min_dpd != expected:
            raise PolicyError(f"buckets[{i}].min_dpd: expected {expected}, got {b.min_dpd}")
        if b.max_dpd is None:
            if i != len(p.buckets) - 1:
                raise PolicyError(f"buckets[{i}].max_dpd: only the last bucket is open-ended")
            break
        if b.max_dpd < b.min_dpd:
            raise PolicyError(f"buckets[{i}].max_dpd: below min_dpd")
        expected = b.max_dpd + 1
    else:
        raise PolicyError("buckets: the last bucket must be open-ended (max_dpd null)")
    if p.buckets[0].max_dpd != 0:
        raise PolicyError("buckets[0]: the first bucket must be exactly DPD 0 (current)")
    if len({b.name for b in p.buckets}) != len(p.buckets):
        raise PolicyError("buckets: names must be unique")


_DEFAULT = Policy()
DEFAULT_POLICIES = Policies()
"""The defaults of the issue for both products, used when a deployment configures none."""
