"""Quotes through the plans API, made from the standing accounts publishes at each close."""

from __future__ import annotations

from pathlib import Path

from tests.support import auth, bill, day_closed, eventually, opened, running_stack, settings_for


async def test_an_overdue_account_is_quoted_every_option_with_reasons(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "plans")}
    async with running_stack(settings) as http:
        assert (await http["plans"].post("/v1/accounts/Q1/plans/quote", json={})).status_code == 404
        await http["accounts"].post(
            "/v1/inbound/events",
            json={
                "events": [
                    opened("Q1"),
                    bill("Q1", "B1", due="2026-03-10", principal=3000_00),
                    day_closed("2026-03-09", "Q1"),
                    day_closed("2026-03-20", "Q1"),
                ]
            },
        )
        quoted = await eventually(
            lambda: http["plans"].post("/v1/accounts/Q1/plans/quote", json={}),
            lambda r: r.status_code == 200 and r.json()["as_of"] == "2026-03-20",
        )
        body = quoted.json()
        assert body["bucket"] == "1-30"
        types = {o["plan_type"] for o in body["options"]}
        assert {"deferral", "reinstallment"} <= types
        assert body["recommendation"] and body["recommendation"]["reason"]
        for option in body["options"]:
            assert option["terms"]["currency"] == "CNY"
            assert option["expected_recovery"] > 0
        assert all(r["rule"] and r["reason"] for r in body["refusals"])

        # Declared means: the personalised plan never asks more than the affordable share.
        means = {
            "monthly_income": 8000_00,
            "essential_expenses": 5000_00,
            "other_obligations": 1000_00,
        }
        fitted = (await http["plans"].post("/v1/accounts/Q1/plans/quote", json=means)).json()
        affordable = fitted["affordable_installment"]
        assert affordable == (8000_00 - 5000_00 - 1000_00) // 2
        personalised = [o for o in fitted["options"] if o["plan_type"] == "personalised"]
        assert personalised and personalised[0]["largest_installment"] <= affordable

        # Quoting changes nothing: the account has no plan.
        listed = await http["plans"].get("/v1/accounts/Q1/plans")
        assert listed.json()["plans"] == []
        # A borrower may quote their own account only.
        alice = auth(settings["plans"], "borrower", sub="alice", accounts=["OTHER"])
        assert (
            await http["plans"].post("/v1/accounts/Q1/plans/quote", json={}, headers=alice)
        ).status_code == 404
