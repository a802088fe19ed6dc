"""Tiered routing and agents pulling their next case, through the contact API."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from services.contact.domain.policy import ContactPolicy
from shared.clock import FixedClock
from tests.support import auth, bill, day_closed, ingest, opened
from tests.unit.contact_kit import contact_stack, streams, wait_case

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 16, 10, 0, tzinfo=SH)  # 21:00 the day before in New York


def long_overdue(account: str, **over: object) -> list[dict]:
    # Due 10 January, closed 15 February: 36 days past due, bucket 31-60.
    return [
        opened(account, **over),
        bill(
            account,
            "B1",
            due="2026-01-10",
            issued_on="2026-01-01",
            currency=over.get("currency", "CNY"),
        ),
        day_closed("2026-02-15", account),
    ]


async def test_agents_pull_the_oldest_case_they_may_call_now(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    policy = ContactPolicy.from_mapping(
        {"queues": {"stale_after_minutes": 600, "max_open_per_agent": 1}}
    )
    async with contact_stack(tmp_path, clock, policy=policy) as (http, settings):
        s = settings["contact"]
        await ingest(
            http,
            *long_overdue("Q0US", time_zone="America/New_York", currency="USD"),
            *long_overdue("Q1"),
            *long_overdue("Q2"),
        )
        for account in ("Q0US", "Q1", "Q2"):
            case = await wait_case(http, account, lambda c: c["queue"] == "agents")
            assert (case["bucket"], case["segment"]) == ("31-60", "standard")
        cases, _ = await streams(s, "Q1")
        routed = [d for t, d in cases if t == "CollectionCaseRouted"]
        assert routed[0]["from_queue"] is None and routed[-1]["queue"] == "agents"
        assert routed[-1]["reason"].startswith("bucket")

        def agent(name: str) -> dict[str, str]:
            return auth(s, "agent", sub=name)

        async def pull(name: str, queue: str = "agents") -> tuple[int, dict]:
            r = await http["contact"].post(f"/v1/queues/{queue}/next", headers=agent(name))
            return r.status_code, r.json()

        # 21:00 in New York: the US borrower may not be called; the next oldest is.
        status, first = await pull("alice")
        assert status == 200, first
        assert (first["account_id"], first["assigned_to"]) == ("Q1", "alice")
        assert first["pre_check"]["decision"] == "allowed"
        assert first["pre_check"]["channel"] == "call" and first["pre_check"]["debt_id"] == "B1"
        assert (await pull("bob"))[1]["account_id"] == "Q2"
        status, none = await pull("carol")
        assert status == 404 and "may be contacted now" in none["detail"]

        # The pre-check's attempt id records the call that follows.
        made = {
            "attempt_id": first["pre_check"]["attempt_id"],
            "channel": "call",
            "at": NOW.isoformat(),
            "outcome": "no_answer",
            "debt_id": "B1",
        }
        r = await http["contact"].post(
            "/v1/accounts/Q1/contact-attempts", json=made, headers=agent("alice")
        )
        assert r.status_code == 201, r.text

        overview = await http["contact"].get("/v1/queues", headers=auth(s, "supervisor"))
        assert overview.status_code == 200
        assert overview.json()["queues"]["agents"] == {"open": 3, "unassigned": 1, "ready": 1}
        assert overview.json()["queues"]["reminders"]["open"] == 0
        assert overview.json()["agents"] == {"alice": 1, "bob": 1}

        # Ten hours on, both claims are stale; still 07:05 in New York.
        clock.advance(timedelta(hours=10, minutes=5))
        status, taken = await pull("carol")
        assert (status, taken["account_id"]) == (200, "Q1")
        status, full = await pull("carol")
        assert status == 409 and "the limit is 1" in full["detail"]
        assert (await wait_case(http, "Q1"))["assigned_to"] == "carol"
        cases, _ = await streams(s, "Q1")
        assigned = [d for t, d in cases if t == "CollectionCaseAssigned"]
        assert [(a["agent"], a["previous_agent"]) for a in assigned] == [
            ("alice", None),
            ("carol", "alice"),
        ]

        clock.advance(timedelta(hours=1))  # 08:05 in New York
        status, us = await pull("dave")
        assert (status, us["account_id"]) == (200, "Q0US")
        assert us["pre_check"]["jurisdiction"] == "US"


async def test_who_may_pull_and_see_queues(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        s = settings["contact"]
        r = await http["contact"].post("/v1/queues/nowhere/next")
        assert r.status_code == 404 and "no queue 'nowhere'" in r.json()["detail"]
        assert "agents" in r.json()["detail"]
        r = await http["contact"].post(
            "/v1/queues/agents/next", headers=auth(s, "borrower", accounts=["X"])
        )
        assert r.status_code == 403
        assert (await http["contact"].get("/v1/queues")).status_code == 403  # an agent
        r = await http["contact"].post("/v1/queues/agents/next", headers=auth(s, "supervisor"))
        assert r.status_code == 404  # allowed to pull; nothing there
        empty = await http["contact"].get("/v1/queues", headers=auth(s, "supervisor"))
        assert set(empty.json()["queues"]) == {"specialist", "senior", "agents", "reminders"}


async def test_a_dispute_sends_the_case_to_the_specialists(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        await ingest(http, *long_overdue("D1"))
        await wait_case(http, "D1", lambda c: c["queue"] == "agents")
        borrower = auth(settings["contact"], "borrower", sub="d1", accounts=["D1"])
        r = await http["contact"].post(
            "/v1/accounts/D1/self-service/dispute",
            json={"debt_id": "B1", "reason": "not my debt"},
            headers=borrower,
        )
        assert r.status_code == 201, r.text
        case = await wait_case(http, "D1")
        assert (case["queue"], case["segment"]) == ("specialist", "dispute")
        # The borrower sees their own case; nobody else's.
        assert (
            await http["contact"].get("/v1/accounts/D1/case", headers=borrower)
        ).status_code == 200
        assert (
            await http["contact"].get("/v1/accounts/Q1/case", headers=borrower)
        ).status_code == 404
        # A specialist picks it up, to write (the dispute segment's channels), not to call.
        r = await http["contact"].post(
            "/v1/queues/specialist/next", headers=auth(settings["contact"], "agent", sub="sp")
        )
        assert r.status_code == 200, r.text
        assert (r.json()["account_id"], r.json()["pre_check"]["channel"]) == ("D1", "email")
        # ...to answer the dispute, which the dispute rule leaves open.
        assert r.json()["pre_check"]["purpose"] == "verification"
        cases, _ = await streams(settings["contact"], "D1")
    last_type, last = cases[-2]  # then the specialist's assignment
    assert last_type == "CollectionCaseRouted"
    assert (last["from_queue"], last["queue"], last["reason"]) == (
        "agents",
        "specialist",
        "debt B1 disputed",
    )
