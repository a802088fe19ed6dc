"""A collection case opens when an account goes overdue and closes when it is cured."""

from __future__ import annotations

from pathlib import Path

from tests.support import (
    auth,
    bill,
    day_closed,
    eventually,
    opened,
    payment,
    running_stack,
    settings_for,
)


async def test_a_case_closes_on_cure_and_a_new_one_opens_on_the_next_default(
    tmp_path: Path,
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "contact", "audit")}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        ingest = http["accounts"]
        await ingest.post(
            "/v1/inbound/events",
            json={
                "events": [
                    opened("K7"),
                    bill("K7", "B1", due="2026-03-10"),
                    day_closed("2026-03-09", "K7"),
                    day_closed("2026-03-11", "K7"),
                ]
            },
        )
        first = await eventually(
            lambda: http["contact"].get("/v1/accounts/K7/case"), lambda r: r.status_code == 200
        )
        owed = (await ingest.get("/v1/accounts/K7", headers=agent)).json()["outstanding"]
        await ingest.post(
            "/v1/inbound/events",
            json={"events": [payment("K7", "P1", owed, paid_at="2026-03-12T10:00:00+08:00")]},
        )
        await eventually(
            lambda: http["contact"].get("/v1/accounts/K7/case"), lambda r: r.status_code == 404
        )

        await ingest.post(
            "/v1/inbound/events",
            json={"events": [bill("K7", "B2", due="2026-04-10"), day_closed("2026-04-11", "K7")]},
        )
        second = await eventually(
            lambda: http["contact"].get("/v1/accounts/K7/case"), lambda r: r.status_code == 200
        )
        assert second.json()["case_id"] != first.json()["case_id"]
        trail = await eventually(
            lambda: http["audit"].get(
                "/v1/accounts/K7/history",
                params={
                    "purpose": "test",
                    "type": ["CollectionCaseOpened", "CollectionCaseClosed"],
                },
            ),
            lambda r: len(r.json()["entries"]) == 3,
        )
    assert [(e["type"], e["data"].get("reason")) for e in trail.json()["entries"]] == [
        ("CollectionCaseOpened", "bill B1 overdue"),
        ("CollectionCaseClosed", "cured"),
        ("CollectionCaseOpened", "bill B2 overdue"),
    ]
