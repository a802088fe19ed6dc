"""Accounts servicing through the services' APIs: day closes, fees, buckets, cure, relief."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.accounts.bootstrap import bootstrap
from shared.settings import SettingsError
from tests.support import (
    accept_offer,
    auth,
    bill,
    day_closed,
    envelope,
    eventually,
    ingest,
    opened,
    payment,
    request_option,
    running_stack,
    settings_for,
)


async def test_an_overdue_account_accrues_fees_changes_bucket_and_cures_on_payment(
    tmp_path: Path,
) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("S1"), bill("S1", "B1", due="2026-03-10", principal=1000_00))
        # The first close opens the calendar; the next one catches up the days between.
        await ingest(http, day_closed("2026-03-09", "S1"), day_closed("2026-03-13", "S1"))

        summary = (await http["accounts"].get("/v1/accounts/S1", headers=agent)).json()
        assert summary["last_closed_business_date"] == "2026-03-13"
        assert summary["days_past_due"] == 3
        assert summary["bucket"] == "1-30"
        # 0.05 % a day of 1000.00 yuan is 50 fen, for the 11th, 12th and 13th.
        assert summary["balances"]["late_fee"] == 3 * 50
        history = (await http["accounts"].get("/v1/accounts/S1/delinquency", headers=agent)).json()
        types = [e["type"] for e in history["entries"]]
        assert types.count("LateFeeAccrued") == 3
        assert "BillBecameOverdue" in types and "DelinquencyBucketChanged" in types

        # Closing the same date again changes nothing (idempotent per date).
        await ingest(http, day_closed("2026-03-13", "S1"))
        again = (await http["accounts"].get("/v1/accounts/S1", headers=agent)).json()
        assert again["balances"] == summary["balances"]

        await ingest(
            http, payment("S1", "P1", summary["outstanding"], paid_at="2026-03-14T10:00:00+08:00")
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


async def test_a_deferral_accepted_in_plans_moves_the_due_dates_in_accounts(
    tmp_path: Path,
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "plans")}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("D1"), bill("D1", "B1", due="2026-03-10"))
        await ingest(http, day_closed("2026-03-09", "D1"))
        plan = await request_option(
            http, settings["plans"], "D1", "deferral", {"option_id": "deferral-3"}
        )
        assert (await accept_offer(http, settings["plans"], plan)).status_code == 200
        bills = await eventually(
            lambda: http["accounts"].get("/v1/accounts/D1/bills", headers=agent),
            lambda r: r.json()["bills"][0]["due_date"] == "2026-06-10",
        )
        assert bills.json()["bills"][0]["outstanding"] == 100_00
        summary = (await http["accounts"].get("/v1/accounts/D1", headers=agent)).json()
        assert summary["relief"]["deferred_months_used"] == 3


async def test_a_deferral_beyond_13_months_is_refused_and_dead_lettered(tmp_path: Path) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    ops = auth(settings["accounts"], "ops")
    async with running_stack(settings) as http:
        await ingest(http, opened("D2"), bill("D2", "B1", due="2026-03-10"))
        # PlanAgreed (the older contract) as the plans service once published it.
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        for n, months in enumerate((12, 2)):
            terms = {
                "plan_id": f"PL{n}",
                "plan_type": "deferral",
                "currency": "CNY",
                "amount": 100_00,
                "months": months,
                "channel": "agent",
            }
            env = envelope("PlanAgreed", "D2", terms, source="plans")
            await runtime.log.publish(
                runtime.settings.topics.plans, b"D2", json.dumps(env).encode()
            )
        letters = await eventually(
            lambda: http["accounts"].get("/v1/admin/dead-letters", headers=ops),
            lambda r: len(r.json()["dead_letters"]) == 1,
        )
    (letter,) = letters.json()["dead_letters"]
    assert letter["consumer"] == "plans" and letter["kind"] == "rejected"
    assert "13" in letter["reason"]


async def test_activated_terms_the_account_cannot_take_are_refused_back_to_plans(
    tmp_path: Path,
) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("D3"), bill("D3", "B1", due="2026-03-10", principal=1000_00))
        await ingest(http, day_closed("2026-03-09", "D3"), day_closed("2026-03-11", "D3"))
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        # Priced on 1000.00 overdue; the account owes 1000.50 with one day of late fee.
        terms = {
            "plan_id": "PL9",
            "plan_type": "reinstallment",
            "currency": "CNY",
            "amount": 1000_00,
            "months": 2,
            "monthly_rate": "0",
            "installments": [
                {"number": 1, "due_date": "2026-04-11", "amount": 500_00, "fee": 0},
                {"number": 2, "due_date": "2026-05-11", "amount": 500_00, "fee": 0},
            ],
            "total_repayable": 1000_00,
            "activated_on": "2026-03-11",
            "first_due_date": "2026-04-11",
        }
        env = envelope("PlanActivated", "D3", terms, source="plans")
        await runtime.log.publish(runtime.settings.topics.plans, b"D3", json.dumps(env).encode())
        history = await eventually(
            lambda: http["accounts"].get("/v1/accounts/D3/delinquency", headers=agent),
            lambda r: "PlanTermsRefused" in [e["type"] for e in r.json()["entries"]],
        )
        (refused,) = [e for e in history.json()["entries"] if e["type"] == "PlanTermsRefused"]
        assert "re-spreads 100000 fen but 100050 fen is past due" in refused["data"]["reason"]
        summary = (await http["accounts"].get("/v1/accounts/D3", headers=agent)).json()
        assert summary["relief"]["active_plans"] == [] and summary["balances"]["late_fee"] == 50


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
        await ingest(http, day_closed("2026-03-09", "F1"), day_closed("2026-03-11", "F1"))
        summary = (await http["accounts"].get("/v1/accounts/F1", headers=agent)).json()
    assert summary["balances"]["late_fee"] == 100  # 0.1 % of 1000.00 yuan for one day


async def test_an_active_plan_pauses_delinquency_until_plans_says_it_broke(tmp_path: Path) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("P1"), bill("P1", "B1", due="2026-03-10", principal=1000_00))
        await ingest(http, day_closed("2026-03-09", "P1"), day_closed("2026-03-12", "P1"))
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


async def test_a_close_of_every_account_fans_out_one_close_per_account(tmp_path: Path) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("F1"), opened("F2"), bill("F2", "B1", due="2026-03-10"))
        star = day_closed("2026-03-12")
        await ingest(http, star)
        for account in ("F1", "F2"):
            await eventually(
                lambda account=account: http["accounts"].get(
                    f"/v1/accounts/{account}", headers=agent
                ),
                lambda r: r.json()["last_closed_business_date"] == "2026-03-12",
            )
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        outbox = runtime.tables.outbox
        async with runtime.uow() as uow:
            rows = await uow.session.execute(
                select(outbox.c.value).where(outbox.c.topic == runtime.settings.topics.inbound)
            )
            closes = [json.loads(v) for (v,) in rows]
    fanned = [e for e in closes if e["type"] == "BusinessDayClosed" and e["account_id"] != "*"]
    assert sorted(e["account_id"] for e in fanned) == ["F1", "F2"]
    assert {e["causation_id"] for e in fanned} == {star["id"]}
    assert {e["data"]["business_date"] for e in fanned} == {"2026-03-12"}


async def test_a_close_of_every_account_is_written_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.accounts.service_layer import handlers
    from shared.eventstore.store import Outbox

    settings = {"accounts": settings_for("accounts", tmp_path)}
    accounts = [f"G{n}" for n in range(5)]
    async with running_stack(settings) as http:
        await ingest(http, *(opened(a) for a in accounts))
        staged: list[int] = []
        real_add = Outbox.add

        async def spying_add(self: Outbox, topic: str, envelopes: Any) -> None:
            staged.append(len(envelopes))
            await real_add(self, topic, envelopes)

        monkeypatch.setattr(handlers, "FAN_OUT_PAGE", 2)
        monkeypatch.setattr(Outbox, "add", spying_add)
        star = day_closed("2026-03-12")
        await ingest(http, star)
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        outbox = runtime.tables.outbox
        async with runtime.uow() as uow:
            rows = await uow.session.execute(
                select(outbox.c.value).where(outbox.c.topic == runtime.settings.topics.inbound)
            )
            fanned = [
                e["account_id"]
                for e in (json.loads(v) for (v,) in rows)
                if e.get("causation_id") == star["id"]
            ]
    assert sorted(fanned) == accounts  # each account once
    assert max(staged) <= 2  # never more than one page of closes in memory
