"""Per-product policy: defaults from the issue, validated mappings, clear errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.accounts.domain.money import daily_late_fee
from services.accounts.domain.policy import Policies, Policy, PolicyError
from shared.money import add_months, round_fen, split_exactly

SAMPLE: dict[str, Any] = {
    "consumer_credit": {
        "grace_days": 0,
        "late_fee": {"daily_rate": "0.0005", "minimum": 1, "cap_rate": None},
        "allocation_order": ["late_fee", "fees", "interest", "principal"],
        "charge_off_dpd": 180,
        "due_soon_days": 3,
    },
    "cash_loan": {
        "grace_days": 3,
        "late_fee": {"daily_rate": "0.0007", "cap_rate": "0.24"},
        "buckets": [
            {"name": "current", "min_dpd": 0, "max_dpd": 0},
            {"name": "early", "min_dpd": 1, "max_dpd": 30},
            {"name": "late", "min_dpd": 31, "max_dpd": None},
        ],
    },
}


def test_the_defaults_are_the_issues() -> None:
    p = Policy()
    assert p.grace_days == 0
    assert [b.name for b in p.buckets] == [
        "current", "1-30", "31-60", "61-90", "91-120", "121-150", "151-180", "180+",
    ]  # fmt: skip
    assert p.late_fee.daily_rate == Decimal("0.0005")
    assert p.late_fee.minimum == 1
    assert p.late_fee.cap_rate is None
    assert p.allocation_order == ("late_fee", "fees", "interest", "principal")
    assert (p.charge_off_dpd, p.due_soon_days, p.max_deferral_months) == (180, 3, 13)


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
     (90, "61-90"), (91, "91-120"), (120, "91-120"), (121, "121-150"), (150, "121-150"),
     (151, "151-180"), (180, "151-180"), (181, "180+"), (5000, "180+")],
)  # fmt: skip
def test_bucket_boundaries(dpd: int, bucket: str) -> None:
    assert Policy().bucket_for(dpd).name == bucket


def test_products_may_differ() -> None:
    policies = Policies.from_mapping(SAMPLE)
    cash = policies.for_product("cash_loan")
    assert cash.grace_days == 3
    assert cash.late_fee.daily_rate == Decimal("0.0007")
    assert cash.late_fee.minimum == 1  # kept from the defaults
    assert cash.late_fee.cap_rate == Decimal("0.24")
    assert cash.bucket_for(45).name == "late"
    assert policies.for_product("consumer_credit") == Policy()


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"consumer_credit": {"grace_dayz": 1}}, "consumer_credit.grace_dayz: unknown"),
        ({"mortgage": {}}, "mortgage: unknown product"),
        ({"cash_loan": {"grace_days": -1}}, "cash_loan.grace_days: must not be negative"),
        ({"cash_loan": {"grace_days": "3"}}, "cash_loan.grace_days: must be an integer"),
        ({"cash_loan": {"late_fee": {"daily_rate": 0.0005}}}, "late_fee.daily_rate: must be a"),
        ({"cash_loan": {"late_fee": {"daily_rate": "abc"}}}, "late_fee.daily_rate: not a decimal"),
        ({"cash_loan": {"late_fee": {"daily_rate": "1.5"}}}, "late_fee.daily_rate: must be in"),
        ({"cash_loan": {"late_fee": {"rate": "0.1"}}}, "cash_loan.late_fee.rate: unknown key"),
        ({"cash_loan": {"late_fee": {"cap_rate": "-1"}}}, "late_fee.cap_rate: must not be neg"),
        ({"cash_loan": {"allocation_order": ["principal"]}}, "allocation_order: must order"),
        ({"cash_loan": {"partial_payment_streak": 0}}, "partial_payment_streak: must be at"),
        (
            {"cash_loan": {"buckets": [{"name": "c", "min_dpd": 0, "max_dpd": 0},
                                       {"name": "x", "min_dpd": 2, "max_dpd": None}]}},
            "cash_loan.buckets[1].min_dpd: expected 1, got 2",
        ),
        (
            {"cash_loan": {"buckets": [{"name": "c", "min_dpd": 0, "max_dpd": 0},
                                       {"name": "x", "min_dpd": 1, "max_dpd": 9}]}},
            "last bucket must be open-ended",
        ),
        (
            {"cash_loan": {"buckets": [{"name": "c", "min_dpd": 0, "max_dpd": 5},
                                       {"name": "x", "min_dpd": 6, "max_dpd": None}]}},
            "first bucket must be exactly DPD 0",
        ),
        ({"cash_loan": {"buckets": [{"name": "c", "min": 0}]}}, "cash_loan.buckets[0]: must be"),
        ({"cash_loan": []}, "cash_loan: must be a mapping"),
    ],
)  # fmt: skip
def test_a_bad_mapping_is_refused_naming_the_key(mapping: dict[str, Any], named: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policies.from_mapping(mapping)
    assert named in str(info.value)


def test_rounding_is_half_up_to_whole_fen() -> None:
    assert round_fen(Decimal("2.5")) == 3
    assert round_fen(Decimal("2.4999")) == 2
    assert round_fen(Decimal("3.5")) == 4  # not banker's rounding


@pytest.mark.parametrize(
    ("base", "room", "fee"),
    [
        (10_000_00, None, 500),  # 10,000 yuan at 0.05 % a day: 5 yuan
        (3_000, None, 2),  # 1.5 fen rounds half up to 2
        (2_999, None, 1),  # 1.4995 rounds to 1
        (100, None, 1),  # 0.05 fen: the minimum 1 fen
        (0, None, 0),  # nothing owed: nothing accrues, not even the minimum
        (10_000_00, 120, 120),  # the cap leaves 120
        (100, 0, 0),  # the cap is reached: the minimum does not break it
    ],
)
def test_a_days_late_fee(base: int, room: int | None, fee: int) -> None:
    assert daily_late_fee(base, Decimal("0.0005"), 1, room) == fee


def test_split_exactly_and_add_months() -> None:
    assert split_exactly(100, 3) == [34, 33, 33]
    assert split_exactly(2, 3) == [1, 1, 0]
    from datetime import date

    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 13) == date(2027, 12, 30)
