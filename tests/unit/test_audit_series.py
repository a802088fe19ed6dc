"""The chart's series: the state's own fold read after each event, with plans and contacts."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from services.audit.domain.series import series
from services.audit.domain.state import reconstruct
from shared.events.accounts import LateFeeAccrued, PaymentAllocated
from shared.events.contact import ContactAttemptChecked
from shared.events.inbound import BillIssued
from shared.events.plans import PlanActivated, PlanBroken
from tests.support import bill, day_closed, eventually, opened, payment, running_stack, settings_for
from tests.unit.test_audit_state import AS_OF, alloc, attempt, close, entry, state_of


def test_each_point_is_the_state_after_its_event_and_the_axis_never_runs_back() -> None:
    events = [
        entry(
            1,
            BillIssued(
                bill_id="B1",
                currency="CNY",
                principal=1000_00,
                interest=0,
                fees=0,
                issued_on=date(2026, 3, 1),
                due_date=date(2026, 3, 10),
            ),
        ),
        entry(2, close(12, {"principal": 1000_00}, 2, "1-30"), "2026-03-12T23:59:00+08:00"),
        entry(
            3,
            LateFeeAccrued(
                bill_id="B1",
                currency="CNY",
                business_date=date(2026, 3, 12),
                amount=50,
                base=1000_00,
                daily_rate="0.0005",  # type: ignore[arg-type]
            ),
        ),
        # Paid on 5 March, learned after the close of the 12th: placed where it was learned.
        entry(
            4,
            PaymentAllocated(
                payment_id="P1",
                currency="CNY",
                amount=300_00,
                allocations=[alloc("B1", principal=300_00)],
                unallocated=0,
            ),
            "2026-03-05T10:00:00+08:00",
        ),
        entry(5, attempt(1, "2026-03-13T10:00:00+08:00"), "2026-03-13T10:00:00+08:00"),
        entry(
            6,
            ContactAttemptChecked(
                attempt_id="X1",
                debt_id="B1",
                channel="call",
                party="debtor",
                purpose="collection",
                planned_at=datetime.fromisoformat("2026-03-13T22:30:00+08:00"),
                jurisdiction="CN",
                decision="blocked",
                rule_ids=["CN.quiet_hours"],
                explanation="Quiet hours.",
            ),
        ),
        entry(
            7,
            PlanActivated(
                plan_id="PL1",
                plan_type="deferral",
                currency="CNY",
                amount=700_00,
                months=1,
                deferral_months=1,
                activated_on=date(2026, 3, 14),
            ),
            "2026-03-14T09:00:00+08:00",
        ),
        entry(8, PlanBroken(plan_id="PL1", reason="missed"), "2026-04-20T09:00:00+08:00"),
    ]
    found = series(events, AS_OF)
    points = found["points"]
    assert [p["seq"] for p in points] == [1, 2, 3, 4]
    assert [p["outstanding"] for p in points] == [1000_00, 1000_00, 1000_50, 700_50]
    assert [p["late_fee"] for p in points] == [0, 0, 50, 50]
    ats = [datetime.fromisoformat(p["at"]) for p in points]
    assert ats == sorted(ats)
    assert points[3]["occurred_at"] == "2026-03-05T10:00:00+08:00"
    assert ats[3] == datetime.fromisoformat("2026-03-12T23:59:00+08:00")
    # The last point is what the state says of the same entries.
    state = reconstruct(events, AS_OF).to_dict()
    assert (points[-1]["outstanding"], points[-1]["days_past_due"]) == (
        state["outstanding"],
        state["days_past_due"],
    )
    (plan,) = found["plans"]
    assert (plan["plan_id"], plan["from"], plan["to"], plan["how"]) == (
        "PL1",
        "2026-03-14T09:00:00+08:00",
        "2026-04-20T09:00:00+08:00",
        "broken",
    )
    assert [(c["seq"], c["decision"], c["rule_ids"]) for c in found["contacts"]] == [
        (5, "allowed", []),
        (6, "blocked", ["CN.quiet_hours"]),
    ]
    assert found["contacts"][1]["at"] == "2026-03-13T22:30:00+08:00"


async def series_of(http: dict[str, httpx.AsyncClient], **params: Any) -> httpx.Response:
    return await http["audit"].get(
        "/v1/accounts/SR1/series", params={"purpose": "complaint 12", **params}
    )


async def test_the_series_through_the_api_is_cut_as_of_and_logged(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        events = [
            opened("SR1"),
            bill("SR1", "B1", principal=1000_00),
            day_closed("2026-03-12", "SR1"),
        ]
        await http["accounts"].post("/v1/inbound/events", json={"events": events})
        await eventually(
            lambda: series_of(http),
            lambda r: r.status_code == 200 and any(p["late_fee"] for p in r.json()["points"]),
        )
        cut = datetime.now(UTC)
        await asyncio.sleep(0.01)
        late = payment("SR1", "P1", 400_00, paid_at="2026-03-05T10:00:00+08:00")
        await http["accounts"].post("/v1/inbound/events", json={"events": [late]})
        now = await eventually(
            lambda: series_of(http),
            lambda r: "PaymentAllocated" in [p["type"] for p in r.json()["points"]],
        )
        known = (await series_of(http, as_of_recorded=cut.isoformat())).json()
        state_now = (await state_of(http, "SR1")).json()
        state_then = (await state_of(http, "SR1", as_of_recorded=cut.isoformat())).json()
        missing = await http["audit"].get(
            "/v1/accounts/NONE/series", params={"purpose": "complaint 12"}
        )
        log = await http["audit"].get(
            "/v1/access-log", params={"purpose": "review", "account_id": "SR1"}
        )
    # The chart ends where the state beside it stands, on each cut.
    assert now.json()["points"][-1]["outstanding"] == state_now["outstanding"]
    assert known["points"][-1]["outstanding"] == state_then["outstanding"]
    assert state_then["outstanding"] - state_now["outstanding"] >= 400_00
    assert "PaymentAllocated" not in [p["type"] for p in known["points"]]
    assert missing.status_code == 404
    reads = [e for e in log.json()["entries"] if e["action"] == "series"]
    assert reads and all(e["purpose"] == "complaint 12" for e in reads)
    assert any("as_of_recorded" in e["filters"] for e in reads)
