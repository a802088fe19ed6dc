"""Contact checks and records through the contact API, with the audit trail listening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support import auth, eventually, opened, running_stack, settings_for

Clients = dict[str, httpx.AsyncClient]


async def check(http: Clients, account: str, at: str, **over: Any) -> httpx.Response:
    body = {"channel": "call", "planned_at": at, "debt_id": "B1", **over}
    return await http["contact"].post(f"/v1/accounts/{account}/contact-attempts/check", json=body)


async def call_made(http: Clients, account: str, at: str) -> None:
    r = await check(http, account, at)
    assert r.json()["decision"] == "allowed", r.text
    made = {
        "attempt_id": r.json()["attempt_id"],
        "channel": "call",
        "at": at,
        "outcome": "no_answer",
        "debt_id": "B1",
    }
    recorded = await http["contact"].post(f"/v1/accounts/{account}/contact-attempts", json=made)
    assert recorded.status_code == 201, recorded.text


async def test_cn_quiet_hours_and_three_calls_a_day_block_with_reasons(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact", "audit")}
    async with running_stack(settings) as http:
        await http["accounts"].post("/v1/inbound/events", json={"events": [opened("C1")]})
        await eventually(
            lambda: check(http, "C1", "2026-03-10T21:59:00+08:00"), lambda r: r.status_code == 200
        )

        late = await check(http, "C1", "2026-03-10T22:00:00+08:00")
        assert late.json()["decision"] == "blocked"
        assert late.json()["rule_ids"] == ["CN.quiet_hours"]
        assert "22:00" in late.json()["explanation"]
        # Quiet hours end at 08:00 the next morning, borrower's time.
        assert late.json()["next_allowed_at"] == "2026-03-11T08:00:00+08:00"
        # A blocked attempt cannot be recorded as made.
        refused = await http["contact"].post(
            "/v1/accounts/C1/contact-attempts",
            json={
                "attempt_id": late.json()["attempt_id"],
                "channel": "call",
                "at": "2026-03-10T22:00:00+08:00",
                "outcome": "reached",
                "debt_id": "B1",
            },
        )
        assert refused.status_code == 422

        for hour in ("10", "11", "12"):
            await call_made(http, "C1", f"2026-03-11T{hour}:00:00+08:00")
        fourth = await check(http, "C1", "2026-03-11T15:00:00+08:00")
        assert fourth.json()["rule_ids"] == ["CN.3_calls_per_day"]
        next_day = await check(http, "C1", "2026-03-12T09:00:00+08:00")
        assert next_day.json()["decision"] == "allowed"

        trail = await eventually(
            lambda: http["audit"].get(
                "/v1/accounts/C1/history",
                params={"purpose": "test", "type": "ContactAttemptChecked"},
            ),
            lambda r: len(r.json()["entries"]) >= 7,
        )
    blocked = [e for e in trail.json()["entries"] if e["data"]["decision"] == "blocked"]
    assert {tuple(e["data"]["rule_ids"]) for e in blocked} == {
        ("CN.quiet_hours",),
        ("CN.3_calls_per_day",),
    }
    assert all(e["metadata"]["actor"]["role"] == "agent" for e in trail.json()["entries"])


async def test_a_us_borrower_gets_the_reg_f_pack(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact")}
    async with running_stack(settings) as http:
        await http["accounts"].post(
            "/v1/inbound/events",
            json={"events": [opened("U1", time_zone="America/New_York", currency="USD")]},
        )
        ok = await eventually(
            lambda: check(http, "U1", "2026-03-10T20:59:00-04:00"), lambda r: r.status_code == 200
        )
        assert ok.json()["jurisdiction"] == "US" and ok.json()["decision"] == "allowed"
        late = await check(http, "U1", "2026-03-10T21:00:00-04:00")
        assert late.json()["rule_ids"] == ["US.quiet_hours"]
        unknown = await check(http, "NOPE", "2026-03-10T12:00:00-04:00")
        assert unknown.status_code == 404


async def test_a_stated_jurisdiction_beats_the_time_zone(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact")}
    async with running_stack(settings) as http:
        # A borrower in Shanghai whose debt is collected under US rules.
        await http["accounts"].post(
            "/v1/inbound/events",
            json={"events": [opened("J1", jurisdiction="US"), opened("J2")]},
        )
        # 21:30 in Shanghai: after Regulation F's 21:00, before the CN pack's 22:00.
        at = "2026-03-10T21:30:00+08:00"
        us = await eventually(lambda: check(http, "J1", at), lambda r: r.status_code == 200)
        assert us.json()["jurisdiction"] == "US" and us.json()["rule_ids"] == ["US.quiet_hours"]
        cn = await eventually(lambda: check(http, "J2", at), lambda r: r.status_code == 200)
        assert (cn.json()["jurisdiction"], cn.json()["decision"]) == ("CN", "allowed")


async def test_what_the_borrower_asked_for_binds_every_later_check(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact")}
    borrower = auth(settings["contact"], "borrower", sub="bob", accounts=["U2"])
    async with running_stack(settings) as http:
        await http["accounts"].post(
            "/v1/inbound/events",
            json={"events": [opened("U2", time_zone="America/Chicago", currency="USD")]},
        )
        noon = "2026-03-10T12:00:00-05:00"
        await eventually(lambda: check(http, "U2", noon), lambda r: r.status_code == 200)

        async def ask(path: str, body: dict[str, Any]) -> None:
            r = await http["contact"].post(
                f"/v1/accounts/U2/self-service/{path}", json=body, headers=borrower
            )
            assert r.status_code == 201, r.text

        await ask("opt-out", {"channel": "sms"})
        sms = await check(http, "U2", noon, channel="sms", carries_opt_out=True)
        assert sms.json()["rule_ids"] == ["US.opt_out"]
        assert (await check(http, "U2", noon)).json()["decision"] == "allowed"

        await ask("dispute", {"debt_id": "B1", "reason": "not my debt"})
        assert (await check(http, "U2", noon)).json()["rule_ids"] == ["US.dispute"]
        other_debt = await check(http, "U2", noon, debt_id="B2")
        assert other_debt.json()["decision"] == "allowed"

        await ask("cease", {"reason": "written request"})
        assert "US.cease" in (await check(http, "U2", noon, debt_id="B2")).json()["rule_ids"]

        # Someone else's account is not reachable through self-service.
        r = await http["contact"].post(
            "/v1/accounts/U1/self-service/cease", json={}, headers=borrower
        )
        assert r.status_code == 404


async def test_an_agreed_late_callback_is_allowed_once_in_quiet_hours(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact")}
    async with running_stack(settings) as http:
        await http["accounts"].post("/v1/inbound/events", json={"events": [opened("C2")]})
        late = "2026-03-10T22:30:00+08:00"
        await eventually(lambda: check(http, "C2", late), lambda r: r.status_code == 200)
        assert (await check(http, "C2", late)).json()["rule_ids"] == ["CN.quiet_hours"]
        r = await http["contact"].post(
            "/v1/accounts/C2/self-service/callback", json={"slot_start": late}
        )
        assert r.status_code == 201
        allowed = await check(http, "C2", late)
        assert allowed.json()["decision"] == "allowed" and allowed.json()["exception_id"]
        made = {
            "attempt_id": allowed.json()["attempt_id"],
            "channel": "call",
            "at": late,
            "outcome": "reached",
            "debt_id": "B1",
        }
        assert (
            await http["contact"].post("/v1/accounts/C2/contact-attempts", json=made)
        ).status_code == 201
        # The exception is used up: the same slot is closed again.
        assert (await check(http, "C2", late)).json()["rule_ids"] == ["CN.quiet_hours"]
