"""The fault tier's checks and model can fail: fed a trail with a lost, a duplicated or a
doubled derived event, or a wrong state, they say so (the tier itself runs in tests/faults)."""

from __future__ import annotations

from datetime import date

from tests.faults.checks import Findings, Published, check_dlq, check_trail
from tests.faults.workload import AccountPlan, Workload, bucket_for


def _workload() -> Workload:
    plan = AccountPlan("A1", "unpaid", 20_000, date(2026, 1, 10))
    return Workload(1, [plan], [date(2026, 2, 14), date(2026, 2, 15)])


def _entry(event_id: str, type_: str = "BillIssued", **data: str) -> dict[str, object]:
    return {"event_id": event_id, "type": type_, "data": data}


def _trail() -> list[dict[str, object]]:
    return [
        _entry("e1"),
        _entry("c1", "AccountDayClosed", business_date="2026-02-14"),
        _entry("c2", "AccountDayClosed", business_date="2026-02-15"),
    ]


PUBLISHED = [
    Published("e1", "A1", "BillIssued", 0, 7),
    Published("e2", "A1", "PaymentReceived", 0, 9),
]


def test_a_complete_trail_has_no_findings() -> None:
    findings = Findings()
    check_trail(findings, _workload(), "A1", [*_trail(), _entry("e2")], PUBLISHED)
    assert findings.problems() == []


def test_a_published_event_missing_from_the_trail_is_lost_with_its_offset() -> None:
    findings = Findings()
    check_trail(findings, _workload(), "A1", _trail(), PUBLISHED)
    assert findings.lost == ["A1: PaymentReceived e2 (inbound partition 0 offset 9) in audit never"]


def test_an_event_chained_twice_and_a_date_closed_twice_are_duplicates() -> None:
    findings = Findings()
    trail = [
        *_trail(),
        _entry("e2"),
        _entry("e2"),
        _entry("c3", "AccountDayClosed", business_date="2026-02-15"),
        _entry("f1", "LateFeeAccrued", bill_id="B1", business_date="2026-02-15"),
        _entry("f2", "LateFeeAccrued", bill_id="B1", business_date="2026-02-15"),
    ]
    check_trail(findings, _workload(), "A1", trail, PUBLISHED)
    assert findings.duplicated == [
        "A1: PaymentReceived e2 (inbound partition 0 offset 9) in audit 2 times",
        "A1: AccountDayClosed for 2026-02-15 2 times",
        "A1: LateFeeAccrued B1 2026-02-15 2 times",
    ]


def test_a_date_never_closed_is_lost() -> None:
    findings = Findings()
    check_trail(findings, _workload(), "A1", [_entry("e1"), _entry("e2")], PUBLISHED)
    assert findings.lost == [
        "A1: no AccountDayClosed for 2026-02-14",
        "A1: no AccountDayClosed for 2026-02-15",
    ]


def test_the_model_follows_the_readme_dpd_example() -> None:
    # README: a bill due 2026-01-10 has DPD 36 on 2026-02-15, in bucket 31-60 since 02-10.
    expected = _workload().expected(_workload().accounts[0])
    assert (expected.days_past_due, expected.bucket) == (36, "31-60")
    assert expected.late_fee == 36 * 10  # 0.05 % of 20,000 fen a day
    assert expected.outstanding == 20_000 + 360
    assert bucket_for(30) == "1-30"


def test_the_dlq_may_hold_only_the_poisoned_records_and_each_of_them() -> None:
    poison = {("p.inbound", 1, 4): "POISON-1", ("p.inbound", 2, 0): "POISON-2"}
    record = {"consumer": "p.accounts.inbound", "kind": "invalid", "reason": "bad"}
    findings = Findings()
    check_dlq(
        findings,
        [
            {**record, "source_topic": "p.inbound", "source_partition": 1, "source_offset": 4},
            {**record, "source_topic": "p.inbound", "source_partition": 3, "source_offset": 8},
        ],
        poison,
    )
    assert findings.dlq == [
        "p.accounts.inbound dead-lettered ('p.inbound', 3, 8) (invalid: bad)",
        "poison POISON-2 at ('p.inbound', 2, 0) never reached the DLQ",
    ]
