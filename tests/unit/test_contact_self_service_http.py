"""Borrower self-service through the contact API: what a borrower may state, and that no
stated wish, stored now or before, can break a later check or an agent's claim."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.contact.service_layer.attempts import borrower_request
from shared.clock import FixedClock
from shared.events.contact import ContactPreferencesSet, HourWindow
from tests.support import auth, bill, day_closed, ingest, opened
from tests.unit.contact_kit import contact_stack, streams, wait_case, wait_known

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 16, 10, 0, tzinfo=SH)
PREFS = "/v1/accounts/{a}/self-service/preferences"
CHECK = "/v1/accounts/{a}/contact-attempts/check"


def overdue(account: str, **over: object) -> list[dict]:
    # Due 10 January, closed 15 February: 31-60, the agents' queue.
    return [
        opened(account, **over),
        bill(account, "B1", due="2026-01-10", issued_on="2026-01-01"),
        day_closed("2026-02-15", account),
    ]


def call_at(hh: int, mm: int = 0) -> dict[str, str]:
    at = datetime(2026, 2, 16, hh, mm, tzinfo=SH).isoformat()
    return {"channel": "call", "planned_at": at, "debt_id": "B1"}


async def test_hours_with_an_offset_are_refused_naming_the_field(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        await ingest(http, *overdue("W1"))
        await wait_known(http, "W1")
        api, before = http["contact"], await streams(settings["contact"], "W1")
        for start in ("09:00:00Z", "09:00+08:00", "09:00:00-05:00", 32400, "9:00", "09"):
            body = {"inconvenient_hours": [{"start": start, "end": "10:00"}]}
            r = await api.put(PREFS.format(a="W1"), json=body)
            assert r.status_code == 422, (start, r.text)
            assert "inconvenient_hours" in r.text and "start" in r.text, r.text
        assert await streams(settings["contact"], "W1") == before
        ok = {"inconvenient_hours": [{"start": "09:00", "end": "10:00:00"}]}
        assert (await api.put(PREFS.format(a="W1"), json=ok)).status_code == 201
        r = await api.post(CHECK.format(a="W1"), json=call_at(9, 30))
        assert r.json()["rule_ids"] == ["CN.inconvenient_time"]


async def test_a_window_stored_with_an_offset_breaks_no_check_or_claim(tmp_path: Path) -> None:
    apps: dict[str, FastAPI] = {}
    async with contact_stack(tmp_path, FixedClock(NOW), apps=apps) as (http, settings):
        await ingest(http, *overdue("W2"))
        await wait_known(http, "W2", lambda c: c["queue"] == "agents")
        # As the API stored it before it refused offsets: "09:00:00Z" to "10:00:00Z".
        utc = ContactPreferencesSet(
            inconvenient_hours=[HourWindow(start=time(9, tzinfo=UTC), end=time(10, tzinfo=UTC))]
        )
        runtime = apps["contact"].state.runtime
        async with runtime.uow() as uow:
            actor = {"subject": "w2", "role": "borrower"}
            await borrower_request(uow, settings["contact"].topics, "W2", utc, actor)
            await uow.commit()
        _, contact = await streams(settings["contact"], "W2")
        assert contact[-1][1]["inconvenient_hours"][0]["start"] == "09:00:00Z"

        api = http["contact"]
        r = await api.post(CHECK.format(a="W2"), json=call_at(9, 30))
        assert r.status_code == 200, r.text
        assert r.json()["rule_ids"] == ["CN.inconvenient_time"]  # 09:00 on the wall clock
        r = await api.post(CHECK.format(a="W2"), json=call_at(10, 0))
        assert r.status_code == 200 and r.json()["decision"] == "allowed", r.text
        claim = await api.post("/v1/queues/agents/next", headers=auth(settings["contact"], "agent"))
        assert claim.status_code == 200, claim.text
        assert claim.json()["account_id"] == "W2"


async def test_a_chinese_borrowers_opt_out_cease_and_dispute_bind_every_check(
    tmp_path: Path,
) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, _):
        await ingest(http, *overdue("C1"), *overdue("C2"), *overdue("C3"))
        for a in ("C1", "C2", "C3"):
            await wait_known(http, a)
        api = http["contact"]
        sms = {**call_at(10), "channel": "sms"}
        for a in ("C1", "C2", "C3"):
            assert (await api.post(CHECK.format(a=a), json=sms)).json()["decision"] == "allowed"

        self_service = "/v1/accounts/{a}/self-service/{what}"
        r = await api.post(self_service.format(a="C1", what="opt-out"), json={"channel": "sms"})
        assert r.status_code == 201, r.text
        r = await api.post(self_service.format(a="C2", what="cease"), json={"reason": "by post"})
        assert r.status_code == 201, r.text
        r = await api.post(self_service.format(a="C3", what="dispute"), json={"debt_id": "B1"})
        assert r.status_code == 201, r.text

        async def rules(a: str, body: dict[str, str]) -> list[str]:
            r = await api.post(CHECK.format(a=a), json=body)
            assert r.status_code == 200, r.text
            assert r.json()["jurisdiction"] == "CN"
            found: list[str] = r.json()["rule_ids"]
            return found

        assert await rules("C1", sms) == ["CN.opt_out"]
        assert await rules("C1", call_at(10)) == []
        assert await rules("C2", call_at(10)) == ["CN.cease"]
        assert await rules("C2", {**sms, "purpose": "statutory_notice"}) == []
        assert await rules("C3", call_at(10)) == ["CN.dispute"]
        assert await rules("C3", {**call_at(10), "debt_id": "B2"}) == []
        assert await rules("C3", {**sms, "purpose": "verification"}) == []


async def test_staff_answer_a_dispute_and_collection_of_the_debt_resumes(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        s = settings["contact"]
        await ingest(http, *overdue("D1"))
        await wait_known(http, "D1", lambda c: c["queue"] == "agents")
        api = http["contact"]
        resolution = "/v1/accounts/{a}/disputes/{d}/resolution"
        supervisor = auth(s, "supervisor", sub="sue")
        answer = {"finding": "verified", "answer": "statement sent by post"}

        # Nothing to answer yet: 409; an unknown account: 404; a bad finding: 422.
        r = await api.post(resolution.format(a="D1", d="B1"), json=answer, headers=supervisor)
        assert r.status_code == 409 and "no open dispute" in r.text, r.text
        r = await api.post(resolution.format(a="NOPE", d="B1"), json=answer, headers=supervisor)
        assert r.status_code == 404, r.text
        bad = {"finding": "maybe"}
        r = await api.post(resolution.format(a="D1", d="B1"), json=bad, headers=supervisor)
        assert r.status_code == 422 and "finding" in r.text, r.text
        # Agents and borrowers may not answer a dispute.
        for role in ("agent", "borrower"):
            headers = auth(s, role, sub="x", accounts=["D1"])
            r = await api.post(resolution.format(a="D1", d="B1"), json=answer, headers=headers)
            assert r.status_code in (403, 404), (role, r.status_code)

        borrower = auth(s, "borrower", sub="d1", accounts=["D1"])
        url = "/v1/accounts/D1/self-service/dispute"
        r = await api.post(url, json={"debt_id": "B1"}, headers=borrower)
        assert r.status_code == 201, r.text
        await wait_case(http, "D1", lambda c: c["queue"] == "specialist")
        assert (await api.post(CHECK.format(a="D1"), json=call_at(10))).json()["rule_ids"] == [
            "CN.dispute"
        ]

        r = await api.post(resolution.format(a="D1", d="B1"), json=answer, headers=supervisor)
        assert r.status_code == 201, r.text
        r = await api.post(CHECK.format(a="D1"), json=call_at(10))
        assert r.json()["decision"] == "allowed", r.text
        case = await wait_case(http, "D1", lambda c: c["queue"] == "agents")
        assert case["segment"] == "standard"
        # Answered once: a second answer has nothing left to answer.
        r = await api.post(resolution.format(a="D1", d="B1"), json=answer, headers=supervisor)
        assert r.status_code == 409, r.text
        _, contact = await streams(s, "D1")
        resolved = [d for t, d in contact if t == "DisputeResolved"]
        assert resolved == [{"debt_id": "B1", "finding": "verified", "answer": answer["answer"]}]
