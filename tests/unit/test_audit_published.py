"""Checkpoints published outside the database, and a database compared against them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select, update

from services.audit.adapters.tables import audit_entries, checkpoints, published_compare
from services.audit.domain.chain import link
from services.audit.service_layer.checkpoints import CheckpointWorker, published_path
from tests.support import (
    auth,
    bill,
    eventually,
    opened,
    payment,
    running_stack,
    settings_for,
)


async def rewrite_and_rehash(runtime: Any, account: str) -> None:
    """What someone with database access does: rewrite a bill, recompute every hash after."""
    t = audit_entries
    async with runtime.uow() as uow:
        rows = (
            (
                await uow.session.execute(
                    select(t).where(t.c.account_id == account).order_by(t.c.seq)
                )
            )
            .mappings()
            .all()
        )
        prev = rows[0]["prev_hash"]
        for row in rows:
            event = json.loads(row["event"])
            if event["type"] == "BillIssued":
                event["data"]["principal"] = 1_00
            new_hash = link(prev, event)
            await uow.session.execute(
                update(t)
                .where(t.c.account_id == account, t.c.seq == row["seq"])
                .values(
                    event=json.dumps(event, sort_keys=True, separators=(",", ":")),
                    hash=new_hash,
                    prev_hash=prev,
                )
            )
            prev = new_hash
        await uow.commit()


async def test_a_rewritten_trail_is_caught_by_the_published_checkpoints(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        audit = http["audit"]

        async def history() -> list[dict]:
            r = await audit.get("/v1/accounts/W1/history", params={"purpose": "test"})
            entries: list[dict] = r.json()["entries"]
            return entries

        async def compare() -> dict:
            r = await audit.get("/v1/checkpoints/published/compare", params={"purpose": "test"})
            assert r.status_code == 200, r.text
            body: dict = r.json()
            return body

        assert (await compare()) == {
            "published_checkpoints": 0,
            "checked": 0,
            "already_checked": 0,
            "consistent": True,
            "problems": [],
        }
        await http["accounts"].post(
            "/v1/inbound/events", json={"events": [opened("W1"), bill("W1", "B1")]}
        )
        await eventually(history, lambda e: len(e) >= 2)
        first = (await audit.post("/v1/checkpoints", params={"purpose": "test"})).json()
        await http["accounts"].post(
            "/v1/inbound/events", json={"events": [payment("W1", "P1", 5_00)]}
        )
        entries = await eventually(history, lambda e: len(e) >= 4)
        second = (await audit.post("/v1/checkpoints", params={"purpose": "test"})).json()

        path = published_path(settings["audit"])
        published = [json.loads(line) for line in path.read_text().splitlines()]
        assert [p["root"] for p in published] == [first["root"], second["root"]]
        assert published[1]["heads"] == second["heads"]
        assert (await compare())["consistent"] is True

        # Someone with database access rewrites the bill and recomputes every hash after
        # it, so the chain verifies again: only the published heads still disagree.
        runtime = audit._transport.app.state.runtime  # type: ignore[attr-defined]
        await rewrite_and_rehash(runtime, "W1")
        async with runtime.uow() as uow:
            await uow.session.execute(
                delete(checkpoints).where(checkpoints.c.root == first["root"])
            )
            await uow.commit()
        verified = await audit.get("/v1/accounts/W1/verify", params={"purpose": "test"})
        assert verified.json()["intact"] is True  # the rewrite is self-consistent

        result = await compare()
        assert result["consistent"] is False
        problems = "\n".join(result["problems"])
        assert f"checkpoint of {first['at']} (root {first['root']}) is missing" in problems
        head_seq = entries[-1]["seq"]
        assert f"account W1 seq {head_seq} has hash" in problems
        assert f"{entries[-1]['hash']} published" in problems


async def test_the_worker_publishes_what_it_signs(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        await http["accounts"].post("/v1/inbound/events", json={"events": [opened("W2")]})
        await eventually(
            lambda: http["audit"].get("/v1/accounts/W2/history", params={"purpose": "test"}),
            lambda r: len(r.json()["entries"]) == 1,
        )
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        path = tmp_path / "elsewhere" / "published.jsonl"
        key = http["audit"]._transport.app.state.signing_key  # type: ignore[attr-defined]
        worker = CheckpointWorker(1, runtime.uow, key, publish_to=path)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            await eventually(lambda: asyncio.sleep(0, path.exists()), bool, timeout=10)
        finally:
            stop.set()
            await task
        (line,) = path.read_text().splitlines()
        latest = (await http["audit"].get("/v1/checkpoints/latest")).json()
        assert json.loads(line)["root"] == latest["root"]
        assert ["W2", 1] == json.loads(line)["heads"][0][:2]


def test_the_published_file_is_a_setting_defaulting_under_the_data_dir(tmp_path: Path) -> None:
    default = settings_for("audit", tmp_path)
    assert published_path(default) == tmp_path / "audit-published" / "checkpoints.jsonl"
    chosen = settings_for("audit", tmp_path, audit_published_file=tmp_path / "worm" / "cp.jsonl")
    assert published_path(chosen) == tmp_path / "worm" / "cp.jsonl"


async def make_checkpoints(audit: httpx.AsyncClient, n: int) -> None:
    for _ in range(n):
        made = await audit.post("/v1/checkpoints", params={"purpose": "test"})
        assert made.status_code == 201, made.text


async def test_a_comparison_checks_only_what_was_published_since_the_last_clean_one(
    tmp_path: Path,
) -> None:
    settings = {
        "accounts": settings_for("accounts", tmp_path),
        "audit": settings_for("audit", tmp_path, audit_checkpoints_per_minute=100),
    }
    async with running_stack(settings) as http:
        audit = http["audit"]
        await http["accounts"].post(
            "/v1/inbound/events", json={"events": [opened("W3"), bill("W3", "B1"), opened("W4")]}
        )
        await eventually(
            lambda: audit.get("/v1/accounts/W3/history", params={"purpose": "test"}),
            lambda r: len(r.json()["entries"]) >= 2,
        )

        async def compare(**params: Any) -> dict[str, Any]:
            r = await audit.get(
                "/v1/checkpoints/published/compare", params={"purpose": "test", **params}
            )
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        await make_checkpoints(audit, 3)
        first = await compare()
        assert (first["checked"], first["already_checked"], first["consistent"]) == (3, 0, True)
        await make_checkpoints(audit, 2)
        assert (await compare())["checked"] == 2
        again = await compare()
        assert (again["checked"], again["already_checked"], again["consistent"]) == (0, 5, True)
        full = await compare(full="true")
        assert (full["checked"], full["already_checked"], full["consistent"]) == (5, 0, True)

        # A rewrite after a clean comparison changes the heads it already checked: the
        # next incremental comparison still catches it.
        runtime = audit._transport.app.state.runtime  # type: ignore[attr-defined]
        await rewrite_and_rehash(runtime, "W3")
        caught = await compare()
        assert caught["consistent"] is False and caught["already_checked"] == 5
        assert any("account W3 seq 2 has hash" in p for p in caught["problems"])


async def test_the_remembered_comparison_cannot_be_forged_nor_the_published_file_edited(
    tmp_path: Path,
) -> None:
    settings = {"audit": settings_for("audit", tmp_path)}
    async with running_stack(settings) as http:
        audit = http["audit"]
        await make_checkpoints(audit, 2)
        url, params = "/v1/checkpoints/published/compare", {"purpose": "test"}
        assert (await audit.get(url, params=params)).json()["consistent"] is True

        # Whoever edits the database moves the remembered comparison past what it checked.
        runtime = audit._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            await uow.session.execute(update(published_compare).values(lines=1_000))
            await uow.commit()
        forged = (await audit.get(url, params=params)).json()
        assert forged["consistent"] is False and forged["already_checked"] == 0
        assert "not signed with this service's key" in forged["problems"][0]

        # A published file rewritten after it was compared.
        assert (await audit.get(url, params={**params, "full": "true"})).json()["consistent"]
        path = published_path(settings["audit"])
        path.write_text(path.read_text().splitlines()[1] + "\n")
        edited = (await audit.get(url, params=params)).json()
        assert "the first 2 published checkpoints changed" in edited["problems"][0]


async def test_checkpoint_creation_is_rate_limited_for_the_whole_service(tmp_path: Path) -> None:
    settings = {"audit": settings_for("audit", tmp_path, audit_checkpoints_per_minute=2)}
    async with running_stack(settings) as http:
        audit = http["audit"]
        await make_checkpoints(audit, 2)
        other = auth(settings["audit"], "compliance", sub="someone-else")
        refused = await audit.post("/v1/checkpoints", params={"purpose": "test"}, headers=other)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert "AUDIT_CHECKPOINTS_PER_MINUTE" in refused.json()["detail"]
        assert len(published_path(settings["audit"]).read_text().splitlines()) == 2
