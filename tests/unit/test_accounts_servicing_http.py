"""Accounts servicing through the services' APIs: day closes, fees, buckets, cure, relief."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.accounts.bootstrap import bootstrap
from shared.settings import SettingsError
from tests.support import (
    auth,
    bill,
    day_closed,
    envelope,
    eventually,
    opened,
    payment,
    running_stack,
    settings_for,
)


async def ingest(http: dict[str, httpx.AsyncClient], *events: dict[str, Any]) -> None:
    r = await http["accounts"].post("/v1/inbound/events", json={"events": list(events)})
    assert r.status_code == 200, r.text
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.text


async def test_an_overdue_account_accrues_fees_changes_bucket_and_cures_on_payment(
    tmp_path: Path,
) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("S1"), bill("S1", "B1", due="2026-03-10", principal=1000_00))
        # The first close opens the calendar; the next one catches up the days between.
        await ingest(http, day_closed("2026-03-09", "S1"), day_closed("2026-03-12", "S1"))

        summary = (await http["accounts"].get("/v1/accounts/S1", headers=agent)).json()
        assert summary["last_closed_business_date"] == "2026-03-12"
        assert summary["days_past_due"] == 3
        assert summary["bucket"] == "1-30"
        # 0.05 % a day of 1000.00 yuan is 50 fen, for the 10th, 11th and 12th.
        assert summary["balances"]["late_fee"] == 3 * 50
        history = (await http["accounts"].get("/v1/accounts/S1/delinquency", headers=agent)).json()
        types = [e["type"] for e in history["entries"]]
        assert types.count("LateFeeAccrued") == 3
        assert "BillBecameOverdue" in types and "DelinquencyBucketChanged" in types

        # Closing the same date again changes nothing (idempotent per date).
        await ingest(http, day_closed("2026-03-12", "S1"))
        again = (await http["accounts"].get("/v1/accounts/S1", headers=agent)).json()
        assert again["balances"] == summary["balances"]

        await ingest(
            http, payment("S1", "P1", summary["outstanding"], paid_at="2026-03-13T10:00:00+08:00")
        )
        cured = (await http["accounts"].get("/v1/accounts/S1", headers=agent)).json()
        assert cured["outstanding"] == 0 and cured["bucket"] == "current"
        allocations = (
            await http["accounts"].get("/v1/accounts/S1/allocations", headers=agent)
        ).json()["allocations"]
        (p1,) = [a for a in allocations if a["source_id"] == "P1"]
        assert p1["by_bill"]["B1"]["late_fee"] == 150  # penalty first, by default policy
        history = (await http["accounts"].get("/v1/accounts/S1/delinquency", headers=agent)).json()
        assert "AccountCured" in [e["type"] for e in history["entries"]]


async def test_a_deferral_agreed_in_plans_moves_the_due_dates_in_accounts(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "plans")}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("D1"), bill("D1", "B1", due="2026-03-10"))
        terms = {
            "plan_type": "deferral",
            "currency": "CNY",
            "amount": 100_00,
            "months": 2,
            "channel": "agent",
        }
        await eventually(
            lambda: http["plans"].post("/v1/accounts/D1/plans/agreements", json=terms),
            lambda r: r.status_code == 201,
        )
        bills = await eventually(
            lambda: http["accounts"].get("/v1/accounts/D1/bills", headers=agent),
            lambda r: r.json()["bills"][0]["due_date"] == "2026-05-10",
        )
        assert bills.json()["bills"][0]["outstanding"] == 100_00
        summary = (await http["accounts"].get("/v1/accounts/D1", headers=agent)).json()
        assert summary["relief"]["deferred_months_used"] == 2


async def test_a_deferral_beyond_13_months_is_refused_and_dead_lettered(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "plans")}
    ops = auth(settings["accounts"], "ops")
    async with running_stack(settings) as http:
        await ingest(http, opened("D2"), bill("D2", "B1", due="2026-03-10"))
        for months in (12, 2):
            terms = {
                "plan_type": "deferral",
                "currency": "CNY",
                "amount": 100_00,
                "months": months,
                "channel": "agent",
            }
            await eventually(
                lambda terms=terms: http["plans"].post(
                    "/v1/accounts/D2/plans/agreements", json=terms
                ),
                lambda r: r.status_code == 201,
            )
        letters = await eventually(
            lambda: http["accounts"].get("/v1/admin/dead-letters", headers=ops),
            lambda r: len(r.json()["dead_letters"]) == 1,
        )
    (letter,) = letters.json()["dead_letters"]
    assert letter["consumer"] == "plans" and letter["kind"] == "rejected"
    assert "13" in letter["reason"]


def test_a_bad_policy_file_stops_the_service_naming_the_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"cash_loan": {"late_fee": {"daily_rate": 0.0005}}}))
    with pytest.raises(SettingsError, match=r"cash_loan\.late_fee\.daily_rate"):
        bootstrap(settings_for("accounts", tmp_path, policy_file=policy))
    policy.write_text("{not json")
    with pytest.raises(SettingsError, match="POLICY_FILE"):
        bootstrap(settings_for("accounts", tmp_path, policy_file=policy))


async def test_the_policy_file_sets_the_late_fee_rate(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"consumer_credit": {"late_fee": {"daily_rate": "0.001"}}}))
    settings = {"accounts": settings_for("accounts", tmp_path, policy_file=policy)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("F1"), bill("F1", "B1", due="2026-03-10", principal=1000_00))
        await ingest(http, day_closed("2026-03-09", "F1"), day_closed("2026-03-10", "F1"))
        summary = (await http["accounts"].get("/v1/accounts/F1", headers=agent)).json()
    assert summary["balances"]["late_fee"] == 100  # 0.1 % of 1000.00 yuan for one day


async def test_an_active_plan_pauses_delinquency_until_plans_says_it_broke(tmp_path: Path) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("P1"), bill("P1", "B1", due="2026-03-10", principal=1000_00))
        await ingest(http, day_closed("2026-03-09", "P1"), day_closed("2026-03-11", "P1"))
        before = (await http["accounts"].get("/v1/accounts/P1", headers=agent)).json()
        assert before["balances"]["late_fee"] == 100

        # Publish as the plans service does (its lifecycle events arrive with issue 5).
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        plans_topic = runtime.settings.topics.plans

        async def from_plans(data: Any, type_: str = "PlanAgreed") -> None:
            env = envelope(type_, "P1", data, source="plans")
            await runtime.log.publish(plans_topic, b"P1", json.dumps(env).encode())

        await from_plans(
            {
                "plan_id": "PL1",
                "plan_type": "deferral",
                "currency": "CNY",
                "amount": 1000_00,
                "months": 1,
                "channel": "agent",
            }
        )
        paused = await eventually(
            lambda: http["accounts"].get("/v1/accounts/P1", headers=agent),
            lambda r: r.json()["relief"]["delinquency_paused"],
        )
        assert paused.json()["relief"]["active_plans"] == ["PL1"]
        # Past the deferred due date (2026-04-10) the bill is unpaid again, but paused.
        await ingest(http, day_closed("2026-04-20", "P1"))
        during = (await http["accounts"].get("/v1/accounts/P1", headers=agent)).json()
        assert during["balances"]["late_fee"] == 100  # no fees accrue while paused
        assert during["days_past_due"] == 0

        await from_plans({"plan_id": "PL1", "reason": "missed installment"}, "PlanBroken")
        await eventually(
            lambda: http["accounts"].get("/v1/accounts/P1", headers=agent),
            lambda r: not r.json()["relief"]["delinquency_paused"],
        )
        await ingest(http, day_closed("2026-04-22", "P1"))
        after = (await http["accounts"].get("/v1/accounts/P1", headers=agent)).json()
        assert after["balances"]["late_fee"] > 100 and after["days_past_due"] > 0
        history = (await http["accounts"].get("/v1/accounts/P1/delinquency", headers=agent)).json()
        types = [e["type"] for e in history["entries"]]
        assert types.index("DelinquencyPaused") < types.index("DelinquencyResumed")
