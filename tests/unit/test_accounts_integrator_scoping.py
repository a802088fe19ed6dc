"""INTEGRATOR_ACCOUNT_SCOPING: an integrator reaches only the accounts it opened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import auth, bill, day_closed, opened, payment, running_stack, settings_for


async def post(http: Any, headers: dict[str, str], *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = await http["accounts"].post(
        "/v1/inbound/events", json={"events": list(events)}, headers=headers
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


@pytest.mark.parametrize("scoped", [True, False])
async def test_a_second_integrator_cannot_post_to_anothers_account_when_scoped(
    tmp_path: Path, scoped: bool
) -> None:
    s = settings_for("accounts", tmp_path, integrator_account_scoping=scoped)
    first, second = auth(s, "integrator", sub="lender-a"), auth(s, "integrator", sub="lender-b")
    async with running_stack({"accounts": s}) as http:
        await post(http, first, opened("SA1"), bill("SA1", "B1", due="2026-03-10"))
        await post(http, second, opened("SB1"))
        (theirs,) = await post(http, second, payment("SA1", "P1", 100))
        (unknown,) = await post(http, second, payment("NOPE1", "P2", 100))
        (own,) = await post(http, first, payment("SA1", "P3", 100))
        assert own["status"] == "accepted"
        if scoped:
            assert (theirs["status"], unknown["status"]) == ("rejected", "rejected")
            # Word for word an unknown account's answer, so nothing tells SA1 exists.
            assert theirs["reason"].replace("SA1", "X") == unknown["reason"].replace("NOPE1", "X")
        else:
            assert theirs["status"] == "accepted"

        # A close of every account by an integrator covers its own accounts when scoped.
        star = day_closed("2026-03-12")
        await post(http, second, star)
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        outbox = runtime.tables.outbox
        async with runtime.uow() as uow:
            rows = await uow.session.execute(
                select(outbox.c.value).where(outbox.c.topic == runtime.settings.topics.inbound)
            )
            fanned = sorted(
                e["account_id"]
                for e in (json.loads(v) for (v,) in rows)
                if e["type"] == "BusinessDayClosed" and e.get("causation_id") == star["id"]
            )
    assert fanned == (["SB1"] if scoped else ["SA1", "SB1"])
