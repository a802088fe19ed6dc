"""The vertical slice on the embedded default: bill → overdue → case → plan accepted →
due dates deferred, in the audit trail."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from shared.settings import SERVICES
from tests.support import (
    accept_offer,
    bill,
    day_closed,
    eventually,
    opened,
    request_option,
    running_stack,
    settings_for,
)


async def test_an_overdue_bill_opens_a_case_and_audit_tells_the_story(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in SERVICES}
    async with running_stack(settings) as http:
        r = await http["accounts"].post(
            "/v1/inbound/events",
            json={
                "events": [
                    opened("A1"),
                    bill("A1", "B1", due="2026-03-10"),
                    day_closed("2026-03-11"),  # the day after the due date: DPD 1
                ]
            },
        )
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["accepted"] * 3

        case = await eventually(
            lambda: http["contact"].get("/v1/accounts/A1/case"), lambda r: r.status_code == 200
        )
        assert case.json()["opened_on"] == "2026-03-11"
        # The agent agrees a plan once the case is on record; only then is the order causal.
        await eventually(
            lambda: http["audit"].get("/v1/accounts/A1/history?purpose=slice-test"),
            lambda r: "CollectionCaseOpened" in [e["type"] for e in r.json()["entries"]],
        )

        plan = await request_option(
            http, settings["plans"], "A1", "deferral", {"option_id": "deferral-1"}
        )
        assert (await accept_offer(http, settings["plans"], plan)).json()["state"] == "active"

        history = await eventually(
            lambda: http["audit"].get("/v1/accounts/A1/history?purpose=slice-test"),
            lambda r: "DueDatesDeferred" in [e["type"] for e in r.json()["entries"]],
        )
        # The story compliance reads: the disclosure offered is the one accepted.
        story = await http["audit"].get("/v1/accounts/A1/story?purpose=slice-test")
        lines = {line["type"]: line for line in story.json()["lines"]}
        disclosure = plan["offer"]["disclosure_sha256"]
        assert disclosure in lines["PlanOffered"]["text"]
        assert "(the same disclosure as offered)" in lines["PlanAccepted"]["text"]
        assert lines["PlanActivated"]["hash"] == next(
            e["hash"] for e in history.json()["entries"] if e["type"] == "PlanActivated"
        )
    entries = history.json()["entries"]
    types = [e["type"] for e in entries]
    for earlier, later in [
        ("AccountOpened", "BillIssued"),
        ("BillIssued", "BillBecameOverdue"),
        ("BillBecameOverdue", "CollectionCaseOpened"),
        ("CollectionCaseOpened", "PlanOffered"),
        ("PlanAccepted", "PlanActivated"),
        ("PlanActivated", "DueDatesDeferred"),
    ]:
        assert types.index(earlier) < types.index(later), types
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(entries))
    # The instant survives storage whatever its offset (SQLite would drop +08:00 silently).
    opened_entry = entries[types.index("AccountOpened")]
    assert datetime.fromisoformat(opened_entry["occurred_at"]) == datetime.fromisoformat(
        "2026-03-01T09:00:00+08:00"
    )
    overdue = entries[types.index("BillBecameOverdue")]
    assert overdue["data"]["days_past_due"] == 1
    assert overdue["source"] == "accounts"
