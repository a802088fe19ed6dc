"""Plans policy: the defaults, a validated settings mapping, and errors that name the key."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.plans.domain.policy import PlansPolicy, PolicyError

SAMPLE: dict[str, Any] = {
    "eligibility": {
        "cash_loan": {
            "current": ["deferral"],
            "1-30": ["deferral", "reinstallment", "waiver", "personalised"],
            "31-60": ["reinstallment", "waiver", "personalised"],
            "61-90": ["waiver", "personalised"],
        }
    },
    "reinstallment_interval_months": 12,
    "cooling_off_days": 90,
    "max_deferral_months": 13,
    "deferral_terms": [1, 3, 6],
    "waiver_caps": {"current": "0", "1-30": "0.3", "31-60": "0.5", "61-90": "0.6",
                    "91-120": "0.7", "121-150": "0.8", "151-180": "0.9", "180+": "1"},
    "waiver_components": ["late_fee", "interest"],
    "evidence_threshold": 5000,
    "evidence_media_types": ["application/pdf", "image/jpeg", "image/png"],
    "evidence_max_bytes": 10485760,
    "reinstallment_terms": [3, 6, 12, 24, 36],
    "reinstallment_monthly_rate": "0.005",
    "approval_thresholds": {"deferral": 5000000, "reinstallment": 5000000, "waiver": 100000,
                            "personalised": 2000000},
    "offer_expiry_days": 7,
    "monthly_discount_rate": "0.01",
    "affordability_share": "0.5",
    "max_personalised_months": 36,
    "grace_days": 3,
    "waiver_settlement_days": 30,
}  # fmt: skip


def test_the_defaults() -> None:
    p = PlansPolicy()
    assert p.max_deferral_months == 13
    assert p.reinstallment_terms == (3, 6, 12, 24, 36)
    assert p.reinstallment_interval_months == 12
    assert p.affordability_share == Decimal("0.5")
    assert p.allowed("consumer_credit", "current") == ("deferral", "personalised")
    assert p.allowed("consumer_credit", "31-60") == (
        "deferral", "reinstallment", "waiver", "personalised",
    )  # fmt: skip
    assert p.allowed("consumer_credit", "no-such-bucket") == ()
    assert p.cure("61-90", "reinstallment") == Decimal("0.50")


def test_the_sample_loads_and_products_may_differ() -> None:
    p = PlansPolicy.from_mapping(SAMPLE)
    assert p.allowed("cash_loan", "61-90") == ("waiver", "personalised")
    # A product not in the mapping keeps its default table.
    assert p.allowed("consumer_credit", "61-90") == PlansPolicy().allowed(
        "consumer_credit", "61-90"
    )
    assert p.waiver_components == ("late_fee", "interest")
    assert p.waiver_cap("31-60") == Decimal("0.5")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"grace_dayz": 1}, "grace_dayz: unknown policy key"),
        ({"grace_days": -1}, "grace_days: must not be negative"),
        ({"grace_days": "3"}, "grace_days: must be an integer"),
        ({"offer_expiry_days": 0}, "offer_expiry_days: must be at least 1"),
        ({"cooling_off_days": True}, "cooling_off_days: must be an integer"),
        ({"max_deferral_months": 40}, "max_deferral_months: at most 36"),
        ({"deferral_terms": [1, 14]}, "deferral_terms: each must be 1 to 13"),
        ({"reinstallment_terms": [6, 3]}, "reinstallment_terms: must be strictly increasing"),
        ({"reinstallment_terms": [3, 48]}, "reinstallment_terms: each must be 1 to 36"),
        ({"reinstallment_terms": []}, "reinstallment_terms: must be a non-empty list"),
        ({"reinstallment_monthly_rate": 0.005}, "reinstallment_monthly_rate: must be a decimal"),
        ({"reinstallment_monthly_rate": "1"}, "reinstallment_monthly_rate: must be in [0, 1)"),
        ({"monthly_discount_rate": "abc"}, "monthly_discount_rate: not a decimal"),
        ({"affordability_share": "1.5"}, "affordability_share: must be between 0 and 1"),
        ({"affordability_share": "0"}, "affordability_share: must be more than 0"),
        ({"waiver_caps": {"31-60": "2"}}, "waiver_caps.31-60: must be between 0 and 1"),
        ({"waiver_caps": {"1-30": "0.3"}}, "waiver_caps.31-60: missing"),
        ({"waiver_components": ["principal"]}, "waiver_components[0]: only late_fee"),
        ({"eligibility": {"mortgage": {}}}, "eligibility.mortgage: unknown product"),
        ({"eligibility": {"cash_loan": {"1-30": ["amnesty"]}}},
         "eligibility.cash_loan.1-30[0]: unknown plan type"),
        ({"eligibility": {"cash_loan": {"1-30": "waiver"}}},
         "eligibility.cash_loan.1-30: must be a list"),
        ({"eligibility": {"cash_loan": {"9000+": ["waiver"]}}},
         "cure_probability.9000+.waiver: missing"),
        ({"cure_probability": {"1-30": {"waiver": "1.2"}}},
         "cure_probability.1-30.waiver: must be between 0 and 1"),
        ({"approval_thresholds": {"waiver": 1}}, "approval_thresholds.deferral: missing"),
        ({"approval_thresholds": {"bribe": 1}}, "approval_thresholds.bribe: unknown plan type"),
        ({"evidence_media_types": ["", "x"]}, "evidence_media_types[0]: must be a non-empty"),
        ({"evidence_max_bytes": 0}, "evidence_max_bytes: must be at least 1"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as exc:
        PlansPolicy.from_mapping(raw)
    assert str(exc.value).startswith(key), str(exc.value)


def test_a_policy_is_a_mapping() -> None:
    with pytest.raises(PolicyError, match="must be a mapping"):
        PlansPolicy.from_mapping([])  # type: ignore[arg-type]
