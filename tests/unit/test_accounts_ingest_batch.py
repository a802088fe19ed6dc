"""HTTP ingest of a batch in one transaction means what posting its events one by one means."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.accounts.service_layer import ingest as ingest_module
from shared.errors import ConcurrencyError
from tests.support import bill, day_closed, opened, payment, running_stack, settings_for

ACCOUNTS = ("A", "B")

# One step of an integrator's feed; some are refused (an unknown account, a bill twice, a
# payment before the account exists), some repeat an earlier event (a duplicate).
step_st = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(ACCOUNTS), st.just(0)),
    st.tuples(st.just("bill"), st.sampled_from(ACCOUNTS), st.integers(0, 2)),
    st.tuples(st.just("pay"), st.sampled_from(ACCOUNTS), st.integers(1, 300_00)),
    st.tuples(st.just("close"), st.sampled_from(ACCOUNTS), st.integers(11, 14)),
    st.tuples(st.just("repeat"), st.just(""), st.integers(0, 30)),
)


def feed(steps: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for n, (op, account, x) in enumerate(steps):
        if op == "open":
            events.append(opened(account))
        elif op == "bill":
            events.append(bill(account, f"B{x}", due=f"2026-03-{10 + x}"))
        elif op == "pay":
            events.append(payment(account, f"P{n}", x))
        elif op == "close":
            events.append(day_closed(f"2026-03-{x}", account))
        elif events:
            events.append(copy.deepcopy(events[x % len(events)]))
    return events


async def outcome(http: dict[str, httpx.AsyncClient]) -> dict[str, Any]:
    """What the service holds: each stream, the outbox and the submission log, without the
    ids and instants that differ between two runs."""
    runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
    t = runtime.tables
    async with runtime.uow() as uow:
        events = await uow.session.execute(
            select(t.events.c.stream_id, t.events.c.stream_version, t.events.c.envelope).order_by(
                t.events.c.stream_id, t.events.c.stream_version
            )
        )
        streams = [(s, v, json.loads(e)["type"], json.loads(e)["data"]) for s, v, e in events.all()]
        outbox = await uow.session.execute(
            select(t.outbox.c.topic, t.outbox.c.value).order_by(t.outbox.c.position)
        )
        queued = [(topic, json.loads(v)["type"], json.loads(v)["data"]) for topic, v in outbox]
    listed = await http["accounts"].get("/v1/inbound/submissions", params={"limit": 500})
    submitted = sorted((s["event_id"], s["status"]) for s in listed.json()["submissions"])
    return {"streams": streams, "outbox": queued, "submissions": submitted}


async def post(http: dict[str, httpx.AsyncClient], events: list[dict[str, Any]]) -> list[Any]:
    r = await http["accounts"].post("/v1/inbound/events", json={"events": events})
    assert r.status_code == 200, r.text
    return [(x["status"], x.get("reason")) for x in r.json()["results"]]


async def both_ways(root: Path, events: list[dict[str, Any]]) -> None:
    one, many = root / "one", root / "many"
    async with (
        running_stack({"accounts": settings_for("accounts", one)}) as singly,
        running_stack({"accounts": settings_for("accounts", many)}) as together,
    ):
        expected = [r for e in events for r in await post(singly, [e])]
        assert await post(together, events) == expected
        assert await outcome(together) == await outcome(singly)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step_st, min_size=1, max_size=14))
async def test_a_batch_ends_as_its_events_posted_one_by_one(
    steps: list[tuple[str, str, int]],
) -> None:
    events = feed(steps)
    assume(events)  # a feed of repeats alone posts nothing, which the API refuses (422)
    with tempfile.TemporaryDirectory() as tmp:
        await both_ways(Path(tmp), events)


async def test_the_mixed_batch_the_property_covers(tmp_path: Path) -> None:
    """Named once, so a failure shows the cases: accepted, refused, duplicate in the batch."""
    first = opened("A")
    events = [first, bill("A", "B1"), bill("A", "B1"), bill("Z", "B1"), payment("A", "P1", 50_00)]
    await both_ways(tmp_path, [*events, first, day_closed("2026-03-12", "A")])


async def test_a_batch_that_clashes_with_another_writer_is_applied_event_by_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clashes = []
    real = ingest_module._Batch.apply

    async def clash(self: Any, batch: Any) -> Any:
        clashes.append(len(batch))
        await real(self, [])  # touches nothing
        raise ConcurrencyError("stream account-A was appended to concurrently")

    events = [opened("A"), bill("A", "B1"), bill("Z", "B1"), payment("A", "P1", 50_00)]
    async with running_stack({"accounts": settings_for("accounts", tmp_path)}) as http:
        monkeypatch.setattr(ingest_module._Batch, "apply", clash)
        results = await post(http, events)
        assert clashes == [4]
        assert [status for status, _ in results] == ["accepted", "accepted", "rejected", "accepted"]
        monkeypatch.setattr(ingest_module._Batch, "apply", real)
        again = await post(http, events)
        assert [status for status, _ in again][:2] == ["duplicate", "duplicate"]
