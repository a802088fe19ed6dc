"""HTTP ingest: a batch is applied and recorded in one transaction, or none of it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from services.accounts.service_layer.handlers import InboundHandler
from tests.support import auth, opened, running_stack, settings_for


async def test_a_failure_midway_leaves_no_applied_event_unrecorded_and_a_retry_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    integrator, agent = (
        auth(settings["accounts"], "integrator"),
        auth(settings["accounts"], "agent"),
    )
    batch = [opened("X1"), opened("X2"), opened("X3")]
    real_open = InboundHandler._open

    async def failing_open(self: InboundHandler, uow: Any, fact: Any, data: Any) -> None:
        await real_open(self, uow, fact, data)  # its writes are staged, then it fails
        if fact.account_id == "X2":
            raise RuntimeError("the database went away")

    async with running_stack(settings) as http:
        client = http["accounts"]

        async def submission(env: dict[str, Any]) -> int:
            r = await client.get(f"/v1/inbound/submissions/{env['id']}", headers=integrator)
            return r.status_code

        async def exists(account: str) -> bool:
            r = await client.get(f"/v1/accounts/{account}", headers=agent)
            return r.status_code == 200

        monkeypatch.setattr(InboundHandler, "_open", failing_open)
        with contextlib.suppress(RuntimeError):  # the app answers 500, or the transport raises
            r = await client.post("/v1/inbound/events", json={"events": batch}, headers=integrator)
            assert r.status_code == 500
        # X2 failed after X1 was staged: the batch's one transaction rolled back, so
        # nothing was applied and nothing is recorded as applied.
        assert [await exists(a) for a in ("X1", "X2", "X3")] == [False, False, False]
        assert [await submission(e) for e in batch] == [404, 404, 404]

        monkeypatch.setattr(InboundHandler, "_open", real_open)
        r = await client.post("/v1/inbound/events", json={"events": batch}, headers=integrator)
        assert [x["status"] for x in r.json()["results"]] == ["accepted"] * 3
        assert [await exists(a) for a in ("X1", "X2", "X3")] == [True, True, True]
        listed = await client.get("/v1/inbound/submissions", headers=integrator)
        statuses = {s["event_id"]: s["status"] for s in listed.json()["submissions"]}
        assert statuses == {e["id"]: "accepted" for e in batch}
