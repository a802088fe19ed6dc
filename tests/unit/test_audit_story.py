"""The negotiation story: one readable sentence per meaningful event, linked to its event."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.domain.story import money, tell
from shared.catalogue import EventData
from shared.envelope import Envelope
from shared.events.accounts import (
    AccountDayClosed,
    Allocation,
    BillBecameOverdue,
    DelinquencyBucketChanged,
    FeesWaived,
    LateFeeAccrued,
    PaymentAllocated,
)
from shared.events.contact import (
    CollectionCaseClosed,
    CollectionCaseOpened,
    ContactAttemptChecked,
    ContactAttemptRecorded,
    DebtDisputed,
    DisputeResolved,
)
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived
from shared.events.plans import (
    EvidenceRef,
    PlanAccepted,
    PlanActivated,
    PlanApprovalRequested,
    PlanApproved,
    PlanCompleted,
    PlanOffered,
    PlanRejected,
    PlanRequested,
    PlanTerms,
)
from tests.support import auth, bill, eventually, opened, payment, running_stack, settings_for

DISCLOSURE = hashlib.sha256(b"the disclosure the borrower saw").hexdigest()
EVIDENCE = hashlib.sha256(b"a hospital letter").hexdigest()


def entry(
    seq: int,
    event: EventData | tuple[str, dict[str, Any]],
    occurred_at: str = "2026-03-01T09:00:00+08:00",
) -> dict[str, Any]:
    """A trail entry as the audit store serves it, from a catalogue model (real field names)."""
    if isinstance(event, tuple):
        type_, data, version = event[0], event[1], 1
    else:
        type_, data, version = event.event_type, event.model_dump(mode="json"), event.schema_version
    return {
        "seq": seq,
        "event_id": f"00000000-0000-0000-0000-{seq:012d}",
        "type": type_,
        "schema_version": version,
        "source": "test",
        "occurred_at": occurred_at,
        "recorded_at": occurred_at,
        "data": data,
        "metadata": {},
        "hash": f"{seq:064x}",
        "prev_hash": f"{seq - 1:064x}",
    }


def test_amounts_are_yuan_with_two_decimals_computed_exactly_from_fen() -> None:
    assert money(123456, "CNY") == "CNY 1,234.56"
    assert money(5, "CNY") == "CNY 0.05"
    assert money(0, "USD") == "USD 0.00"
    assert money(-100_00, "CNY") == "CNY -100.00"
    # Beyond a float's 53 bits: a float conversion would lose the last fen.
    assert money(10**17 + 1, "CNY") == "CNY 1,000,000,000,000,000.01"
    with pytest.raises(TypeError):
        money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money(True, "CNY")


def negotiation() -> list[dict[str, Any]]:
    terms = PlanTerms(
        plan_type="waiver",
        currency="CNY",
        amount=1_234_56,
        months=0,
        waiver_amount=150,
        waiver_components=["late_fee"],
        total_repayable=1_233_06,
    )
    events: list[EventData | tuple[str, dict[str, Any]]] = [
        AccountOpened(
            customer_id="c-1", product="consumer_credit", currency="CNY", time_zone="Asia/Shanghai"
        ),
        BillIssued(
            bill_id="B1",
            currency="CNY",
            principal=1_200_00,
            interest=30_56,
            fees=4_00,
            issued_on=date(2026, 3, 1),
            due_date=date(2026, 3, 10),
        ),
        BillBecameOverdue(
            bill_id="B1",
            currency="CNY",
            due_date=date(2026, 3, 10),
            business_date=date(2026, 3, 10),
            overdue_amount=1_234_56,
            days_past_due=1,
        ),
        LateFeeAccrued(
            bill_id="B1",
            currency="CNY",
            business_date=date(2026, 3, 10),
            amount=62,
            base=1_234_56,
            daily_rate="0.0005",  # type: ignore[arg-type]
        ),
        DelinquencyBucketChanged(
            from_bucket="current",
            to_bucket="1-30",
            business_date=date(2026, 3, 10),
            days_past_due=1,
        ),
        AccountDayClosed(business_date=date(2026, 3, 10), days_past_due=1, bucket="1-30"),
        CollectionCaseOpened(
            case_id="K1", reason="account overdue", bill_id="B1", opened_on=date(2026, 3, 10)
        ),
        ContactAttemptChecked(
            attempt_id="AT1",
            debt_id="B1",
            channel="call",
            party="debtor",
            purpose="collection",
            planned_at=datetime.fromisoformat("2026-03-11T22:30:00+08:00"),
            jurisdiction="CN",
            decision="blocked",
            rule_ids=["CN-QUIET-HOURS"],
            explanation="No contact between 22:00 and 08:00 in the borrower's local time.",
        ),
        ContactAttemptRecorded(
            attempt_id="AT2",
            debt_id="B1",
            agency="in-house",
            channel="call",
            outcome="promise_to_pay",
            duration_seconds=95,
            agent="agent-7",
            at=datetime.fromisoformat("2026-03-12T10:00:00+08:00"),
        ),
        # Promise events are read by type name (their contracts are still being written).
        (
            "PromiseToPayMade",
            {
                "promise_id": "PR1",
                "case_id": "K1",
                "amount": 500_00,
                "currency": "CNY",
                "made_on": "2026-03-12",
                "due_on": "2026-03-20",
                "made_by": "agent-7",
                "attempt_id": "AT2",
            },
        ),
        (
            "CollectionCaseEscalated",
            {"case_id": "K1", "from_tier": "early", "to_tier": "late", "reason": "bucket 31-60"},
        ),
        PlanRequested(
            plan_id="PL1",
            plan_type="waiver",
            requested_by="cust-1",
            role="borrower",
            channel="app",
            requested_on=date(2026, 3, 12),
        ),
        PlanOffered(
            plan_id="PL1",
            terms=terms,
            offered_on=date(2026, 3, 12),
            expires_on=date(2026, 3, 19),
            grace_days=3,
            cooling_off_days=7,
            disclosure_sha256=DISCLOSURE,
            proposed_by="agent-7",
            role="agent",
            evidence=[
                EvidenceRef(
                    sha256=EVIDENCE, kind="medical", media_type="application/pdf", size=2048
                )
            ],
            approval_required=["a waiver needs a supervisor"],
        ),
        PlanApprovalRequested(
            plan_id="PL1", proposed_by="agent-7", reasons=["a waiver needs a supervisor"]
        ),
        PlanApproved(plan_id="PL1", approved_by="supervisor-2", approved_on=date(2026, 3, 13)),
        PlanAccepted(
            plan_id="PL1",
            accepted_by="cust-1",
            role="borrower",
            channel="app",
            disclosure_sha256=DISCLOSURE,
            accepted_on=date(2026, 3, 13),
        ),
        PlanActivated(plan_id="PL1", activated_on=date(2026, 3, 13), **terms.model_dump()),
        FeesWaived(
            plan_id="PL1",
            currency="CNY",
            amount=62,
            waived=[
                Allocation(bill_id="B1", amount=62, late_fee=62, fees=0, interest=0, principal=0)
            ],
            components=["late_fee"],
        ),
        PaymentReceived(
            payment_id="P1",
            currency="CNY",
            amount=1_234_56,
            paid_at=datetime.fromisoformat("2026-03-14T10:00:00+08:00"),
        ),
        PaymentAllocated(
            payment_id="P1",
            currency="CNY",
            amount=1_234_56,
            allocations=[
                Allocation(
                    bill_id="B1",
                    amount=1_234_56,
                    late_fee=0,
                    fees=4_00,
                    interest=30_56,
                    principal=1_200_00,
                )
            ],
            unallocated=0,
        ),
        (
            "PromiseToPayKept",
            {"promise_id": "PR1", "case_id": "K1", "paid": 500_00, "business_date": "2026-03-14"},
        ),
        PlanCompleted(plan_id="PL1"),
        CollectionCaseClosed(case_id="K1", reason="plan", closed_on=date(2026, 3, 14)),
    ]
    return [entry(i, e) for i, e in enumerate(events, start=1)]


def test_a_negotiation_reads_as_a_story_one_line_per_meaningful_event() -> None:
    entries = negotiation()
    lines = tell(entries)
    by_type = {line.type: line for line in lines}

    # The day close is bookkeeping: no line. Every other event has one, in seq order.
    assert "AccountDayClosed" not in by_type
    assert [line.seq for line in lines] == [e["seq"] for e in entries if e["seq"] != 6]
    assert all(line.kind != "other" for line in lines), [line for line in lines]

    bill_line = by_type["BillIssued"]
    assert bill_line.text == (
        "Bill B1 issued on 2026-03-01 for CNY 1,234.56 (principal CNY 1,200.00, "
        "interest CNY 30.56, fees CNY 4.00), due 2026-03-10."
    )
    # Each line is linked to its event: seq, id, hash and both times.
    assert (bill_line.seq, bill_line.event_id, bill_line.hash) == (
        2,
        entries[1]["event_id"],
        entries[1]["hash"],
    )
    assert bill_line.occurred_at == entries[1]["occurred_at"] and bill_line.kind == "bill"

    assert "became overdue" in by_type["BillBecameOverdue"].text
    assert "CNY 0.62" in by_type["LateFeeAccrued"].text
    assert "0.05% a day" in by_type["LateFeeAccrued"].text
    assert "from current to 1-30" in by_type["DelinquencyBucketChanged"].text

    offer = by_type["PlanOffered"].text
    assert "open until 2026-03-19" in offer and DISCLOSURE in offer
    assert "CNY 1.50 late fee waived" in offer and "supervisor" in offer
    assert by_type["PlanApproved"].text == "Plan PL1 approved by supervisor-2 on 2026-03-13."
    accepted = by_type["PlanAccepted"]
    assert accepted.kind == "acceptance"
    assert "borrower cust-1" in accepted.text and "by app" in accepted.text
    assert DISCLOSURE in accepted.text and "the same disclosure as offered" in accepted.text

    waiver = by_type["FeesWaived"]
    assert waiver.kind == "waiver"
    assert f"medical document sha256 {EVIDENCE}" in waiver.text

    blocked = by_type["ContactAttemptChecked"]
    assert blocked.kind == "contact-blocked"
    assert "CN-QUIET-HOURS" in blocked.text and "22:00 and 08:00" in blocked.text
    assert "promised to pay" in by_type["ContactAttemptRecorded"].text
    assert by_type["PromiseToPayMade"].text == (
        "The borrower made a promise PR1 to pay CNY 500.00 by 2026-03-20 on 2026-03-12 "
        "(recorded by agent-7, case K1, during contact attempt AT2)."
    )
    assert by_type["PromiseToPayKept"].kind == "promise"
    assert by_type["PromiseToPayKept"].text == (
        "The promise PR1 to pay was kept on 2026-03-14 with CNY 500.00 paid."
    )
    assert by_type["CollectionCaseEscalated"].text == (
        "Collection case K1 escalated from early to late: bucket 31-60."
    )
    assert "a relief plan settled it" in by_type["CollectionCaseClosed"].text
    assert by_type["PlanCompleted"].text == "Plan PL1 completed: every installment was met."
    # One sentence each: no line breaks, a full stop at the end.
    assert all("\n" not in line.text and line.text.endswith(".") for line in lines)


def test_an_acceptance_of_another_disclosure_than_offered_is_called_out() -> None:
    entries = negotiation()
    accepted = next(e for e in entries if e["type"] == "PlanAccepted")
    accepted["data"] = {**accepted["data"], "disclosure_sha256": "f" * 64}
    (line,) = [x for x in tell(entries) if x.type == "PlanAccepted"]
    assert f"NOT the disclosure offered, which had sha256 {DISCLOSURE}" in line.text


def test_a_rejection_names_who_rejected_and_why() -> None:
    rejected = PlanRejected(
        plan_id="PL9", rejected_by="sup-1", rejected_on=date(2026, 3, 2), reason="no evidence"
    )
    (line,) = tell([entry(1, rejected)])
    assert (line.kind, line.text) == (
        "approval",
        "Plan PL9 rejected by sup-1 on 2026-03-02: no evidence.",
    )


def test_unknown_types_unreadable_data_and_promises_still_read() -> None:
    unknown = entry(1, ("SomethingNew", {"widget": "W1", "count": 3, "nested": {"x": 1}}))
    # A known type whose data is of another schema than this module expects.
    odd = entry(2, ("BillIssued", {"bill": "B1"}))
    bare_promise = entry(3, ("PromiseToPayBroken", {}))
    broken_promise = entry(
        4,
        (
            "PromiseToPayBroken",
            {
                "promise_id": "PR2",
                "case_id": "K1",
                "amount": 300_00,
                "currency": "CNY",
                "paid": 120_50,
                "due_on": "2026-03-20",
                "business_date": "2026-03-20",
            },
        ),
    )
    lines = tell([unknown, odd, bare_promise, broken_promise])
    assert [line.kind for line in lines] == ["other", "other", "promise", "promise"]
    assert lines[0].text == "SomethingNew (v1) recorded by test: count 3, widget W1."
    assert lines[1].text.startswith("BillIssued (v1) recorded by test")
    assert lines[2].text == "The promise to pay was broken."
    assert lines[3].text == (
        "The promise PR2 to pay CNY 300.00 by 2026-03-20 was broken at the close of "
        "2026-03-20 with only CNY 120.50 paid."
    )


# -- through the API ------------------------------------------------------------------


async def story(http: dict[str, httpx.AsyncClient], account: str, **params: Any) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/story", params={"purpose": "complaint 7", **params}
    )


async def test_the_story_endpoint_tells_the_trail_masks_pii_and_logs_the_read(
    tmp_path: Path,
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        events = [
            opened("S1", customer_id="13812345678"),
            bill("S1", "B1", principal=1_234_56),
            payment("S1", "P1", 100_00),
        ]
        assert (await http["accounts"].post("/v1/inbound/events", json={"events": events})).json()[
            "accepted"
        ] == 3
        r = await eventually(
            lambda: story(http, "S1"),
            lambda r: (
                r.status_code == 200
                and "PaymentAllocated" in [x["type"] for x in r.json()["lines"]]
            ),
        )
        lines = r.json()["lines"]
        # The inbound and accounts topics interleave: look lines up by their event type.
        told = {x["type"]: x for x in lines}
        assert set(told["BillIssued"]) >= {
            "seq",
            "event_id",
            "hash",
            "occurred_at",
            "recorded_at",
            "kind",
            "text",
        }
        # The phone number used as a customer id is masked for compliance, as the id number
        # the catalogue declares it to be.
        assert "*******5678" in told["AccountOpened"]["text"] and "13812345678" not in r.text
        assert "for CNY 1,234.56" in told["BillIssued"]["text"]
        assert "due 2026-03-10" in told["BillIssued"]["text"]
        assert told["PaymentReceived"]["text"].startswith("Payment P1 of CNY 100.00 received")
        assert "bill B1 CNY 100.00 (principal CNY 100.00)" in told["PaymentAllocated"]["text"]

        history = (
            await http["audit"].get("/v1/accounts/S1/history", params={"purpose": "compare"})
        ).json()["entries"]
        hashes = {e["seq"]: e["hash"] for e in history}
        assert all(hashes[x["seq"]] == x["hash"] for x in lines)

        seqs = [x["seq"] for x in lines]
        page = (await story(http, "S1", limit=2)).json()
        assert [x["seq"] for x in page["lines"]] == seqs[:2]
        assert page["next_after_seq"] == seqs[1]
        rest = (await story(http, "S1", after_seq=seqs[1])).json()
        assert [x["seq"] for x in rest["lines"]] == seqs[2:] and rest["next_after_seq"] is None

        # As of a time before anything was recorded, there is nothing to tell yet.
        early = await story(http, "S1", as_of_recorded="2020-01-01T00:00:00+00:00")
        assert early.status_code == 200 and early.json()["lines"] == []

        log = (
            await http["audit"].get(
                "/v1/access-log", params={"purpose": "review", "account_id": "S1"}
            )
        ).json()["entries"]
        reads = [e for e in log if e["action"] == "story"]
        assert reads and reads[0]["purpose"] == "complaint 7"
        assert any(e["filters"].get("as_of_recorded") for e in reads)


async def test_the_story_refuses_bad_requests_clearly(tmp_path: Path) -> None:
    settings = {"audit": settings_for("audit", tmp_path)}
    async with running_stack(settings) as http:
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            await uow.append_entry(
                Envelope.model_validate(
                    {
                        "id": "0b9e0c53-59a3-4bd0-8a4f-7d1d7a3c9a01",
                        "type": "PlanCompleted",
                        "schema_version": 1,
                        "account_id": "S2",
                        "occurred_at": "2026-03-01T09:00:00+08:00",
                        "source": "plans",
                        "data": {"plan_id": "PL1"},
                    }
                )
            )
            await uow.commit()
        assert (await story(http, "S2")).status_code == 200

        missing = await story(http, "NOPE")
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
        no_purpose = await http["audit"].get("/v1/accounts/S2/story")
        assert no_purpose.status_code == 422 and "purpose" in no_purpose.text
        naive = await story(http, "S2", as_of_occurred="2026-03-01T09:00:00")
        assert naive.status_code == 422 and "as_of_occurred" in naive.text
        agent = auth(settings["audit"], "agent")
        forbidden = await http["audit"].get(
            "/v1/accounts/S2/story", params={"purpose": "curious"}, headers=agent
        )
        assert forbidden.status_code == 403


def test_every_catalogued_event_has_its_own_sentence_or_is_deliberately_skipped() -> None:
    # A new event without a narrator would be told only as a generic field dump.
    from services.audit.domain.story import NARRATORS, SKIPPED
    from shared.events import default_catalogue

    untold = set(default_catalogue().types()) - set(NARRATORS) - SKIPPED
    assert untold == set()


def test_a_dispute_and_its_answer_read_as_a_pause_then_a_resumption() -> None:
    lines = tell(
        [
            entry(1, DebtDisputed(debt_id="B1", reason="not mine")),
            entry(2, DisputeResolved(debt_id="B1", finding="verified")),
        ]
    )
    assert [line.kind for line in lines] == ["dispute", "dispute"]
    assert "until staff answer" in lines[0].text
    assert "B1: verified as billed; collecting it may resume" in lines[1].text
