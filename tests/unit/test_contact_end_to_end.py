"""A collection case from overdue to cure with the accounts service: routed by bucket,
pulled by an agent, a call with a promise to pay, the promise kept by payments accounts
allocates, the account cured and the case closed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.clock import FixedClock
from tests.support import auth, bill, day_closed, eventually, ingest, opened, payment
from tests.unit.contact_kit import case_of, contact_stack, streams, wait_case

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 16, 10, 0, tzinfo=SH)


async def test_a_case_from_overdue_to_cure(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        s = settings["contact"]
        await ingest(
            http,
            opened("E1"),
            bill("E1", "B1", due="2026-01-10", issued_on="2026-01-01", principal=500_00),
            day_closed("2026-01-11", "E1"),
        )
        early = await wait_case(http, "E1", lambda c: c["queue"] is not None)
        assert (early["bucket"], early["queue"]) == ("1-30", "reminders")

        # Five weeks late: the strategy table hands the case to the agents.
        await ingest(http, day_closed("2026-02-15", "E1"))
        await wait_case(http, "E1", lambda c: c["queue"] == "agents")
        alice = auth(s, "agent", sub="alice")
        pulled = await http["contact"].post("/v1/queues/agents/next", headers=alice)
        assert pulled.status_code == 200, pulled.text
        task = pulled.json()
        assert (task["account_id"], task["assigned_to"]) == ("E1", "alice")

        call = {
            "attempt_id": task["pre_check"]["attempt_id"],
            "channel": "call",
            "at": NOW.isoformat(),
            "outcome": "promise_to_pay",
            "debt_id": "B1",
            "duration_seconds": 240,
            "promise_amount": 200_00,
            "promise_date": "2026-02-20",
        }
        r = await http["contact"].post("/v1/accounts/E1/contact-attempts", json=call, headers=alice)
        assert r.status_code == 201, r.text

        # Two payments by the promised date keep the promise; the rest cures the account.
        await ingest(
            http,
            payment("E1", "PAY1", 150_00, paid_at="2026-02-17T10:00:00+08:00"),
            payment("E1", "PAY2", 50_00, paid_at="2026-02-19T10:00:00+08:00"),
        )
        case = await wait_case(http, "E1", lambda c: c["promises"][0]["status"] == "kept")
        assert case["attempts"][0]["outcome"] == "promise_to_pay"
        summary = (
            await http["accounts"].get(
                "/v1/accounts/E1", headers=auth(settings["accounts"], "agent")
            )
        ).json()
        await ingest(
            http,
            payment("E1", "PAY3", summary["outstanding"], paid_at="2026-02-19T11:00:00+08:00"),
        )
        gone = await eventually(lambda: case_of(http, "E1"), lambda r: r.status_code == 404)
        assert "no open collection case" in gone.json()["detail"]
        overview = await http["contact"].get("/v1/queues", headers=auth(s, "supervisor"))
        assert overview.json()["queues"]["agents"]["open"] == 0
        cases, _ = await streams(s, "E1")
    types = [t for t, _ in cases]
    for earlier, later in [
        ("CollectionCaseOpened", "CollectionCaseRouted"),
        ("CollectionCaseAssigned", "PromiseToPayMade"),
        ("PromiseToPayMade", "PromiseToPayKept"),
        ("PromiseToPayKept", "CollectionCaseClosed"),
    ]:
        assert types.index(earlier) < types.index(later), types
    closed = next(d for t, d in cases if t == "CollectionCaseClosed")
    assert closed["reason"] == "cured"


async def test_hardship_evidence_given_to_plans_sends_the_case_to_the_specialists(
    tmp_path: Path,
) -> None:
    services = ("accounts", "plans", "contact")
    async with contact_stack(tmp_path, FixedClock(NOW), services=services) as (http, settings):
        await ingest(
            http,
            opened("H1"),
            bill("H1", "B1", due="2026-01-10", issued_on="2026-01-01"),
            day_closed("2026-01-11", "H1"),
        )
        await wait_case(http, "H1", lambda c: c["queue"] == "reminders")
        borrower = auth(settings["plans"], "borrower", sub="h1", accounts=["H1"])
        upload = await eventually(
            lambda: http["plans"].post(
                "/v1/accounts/H1/evidence?kind=medical",
                content=b"%PDF-1.7\n% a hospital letter\n",
                headers={**borrower, "Content-Type": "application/pdf"},
            ),
            lambda r: r.status_code == 201,
        )
        case = await wait_case(http, "H1", lambda c: c["segment"] == "hardship")
        assert case["queue"] == "specialist"
        _, contact = await streams(settings["contact"], "H1")
    (reported,) = [d for t, d in contact if t == "HardshipReported"]
    assert reported == {"kind": "medical", "evidence_sha256": upload.json()["sha256"]}


async def test_stated_preferences_steer_the_next_task_and_bind_every_check(
    tmp_path: Path,
) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        s = settings["contact"]
        await ingest(
            http,
            opened("P1"),
            bill("P1", "B1", due="2026-01-10", issued_on="2026-01-01"),
            day_closed("2026-02-15", "P1"),
        )
        await wait_case(http, "P1", lambda c: c["queue"] == "agents")
        borrower = auth(s, "borrower", sub="p1", accounts=["P1"])
        url = "/v1/accounts/P1/self-service/preferences"
        bad = [
            {"inconvenient_hours": [{"start": "09:00", "end": "09:00"}]},
            {"preferred_channels": ["sms", "sms"]},
            {"preferred_channels": ["fax"]},
        ]
        for body in bad:
            r = await http["contact"].put(url, json=body, headers=borrower)
            assert r.status_code == 422, body
        prefs = {
            "preferred_channels": ["sms", "call"],
            "inconvenient_hours": [{"start": "12:00", "end": "13:30"}],
        }
        r = await http["contact"].put(url, json=prefs, headers=borrower)
        assert r.status_code == 201, r.text

        case = await wait_case(http, "P1")
        assert case["preferences"]["preferred_channels"] == ["sms", "call"]
        # The agent's next task uses the channel the borrower prefers (10:00 is fine).
        task = await http["contact"].post(
            "/v1/queues/agents/next", headers=auth(s, "agent", sub="alice")
        )
        assert task.json()["pre_check"]["channel"] == "sms"
        # 12:30 in Shanghai is a time the borrower said is inconvenient.
        lunch = {"channel": "call", "planned_at": "2026-02-16T12:30:00+08:00", "debt_id": "B1"}
        r = await http["contact"].post("/v1/accounts/P1/contact-attempts/check", json=lunch)
        assert r.json()["rule_ids"] == ["CN.inconvenient_time"]
