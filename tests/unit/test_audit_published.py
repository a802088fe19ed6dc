"""Checkpoints published outside the database, and a database compared against them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import delete, select, update

from services.audit.adapters.tables import audit_entries, checkpoints
from services.audit.domain.chain import link
from services.audit.service_layer.checkpoints import CheckpointWorker, published_path
from tests.support import bill, eventually, opened, payment, running_stack, settings_for


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
        t = audit_entries
        async with runtime.uow() as uow:
            rows = (
                (
                    await uow.session.execute(
                        select(t).where(t.c.account_id == "W1").order_by(t.c.seq)
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
                    .where(t.c.account_id == "W1", t.c.seq == row["seq"])
                    .values(
                        event=json.dumps(event, sort_keys=True, separators=(",", ":")),
                        hash=new_hash,
                        prev_hash=prev,
                    )
                )
                prev = new_hash
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
