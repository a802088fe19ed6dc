"""/readyz fails while the database or the event log cannot answer, and above READY_MAX_LAG."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.accounts.bootstrap import bootstrap, create_app
from services.registry import migrations_dir
from shared.migrations import upgrade
from tests.support import eventually, opened, settings_for


async def readiness(app: Any) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        r = await c.get("/readyz")
    return r.status_code, r.json()


async def test_readiness_fails_while_the_database_or_the_event_log_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    app = create_app(settings)
    rt = app.state.runtime
    async with app.router.lifespan_context(app):
        status, body = await readiness(app)
        assert status == 200, body
        assert body["checks"]["event_log"] == "ok" and body["max_lag"] == 0

        async def unreachable(_: object) -> dict[object, int]:
            raise ConnectionError("broker down")

        with monkeypatch.context() as m:
            m.setattr(rt.log, "end_offsets", unreachable)
            status, body = await readiness(app)
        assert status == 503
        assert body["checks"]["event_log"] == "ConnectionError" and body["max_lag"] is None

        engine = rt.engine
        gone = create_async_engine("postgresql+asyncpg://x:y@127.0.0.1:1/gone")
        rt.engine = gone
        try:
            status, body = await readiness(app)
        finally:
            rt.engine = engine
            await gone.dispose()
        assert status == 503
        assert body["checks"]["database"] != "ok"
        assert (await readiness(app))[0] == 200


async def test_readiness_fails_above_the_lag_threshold_until_the_consumer_catches_up(
    tmp_path: Path,
) -> None:
    settings = settings_for("accounts", tmp_path, ready_max_lag=2)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    rt = bootstrap(settings)
    await rt.start(consume=False)
    try:
        events = [opened(f"ready-{i}") for i in range(3)]
        await rt.log.publish_batch(
            settings.topics.inbound,
            [(e["account_id"].encode(), json.dumps(e).encode()) for e in events],
        )
        checks, worst = await rt.ready()
        # Three records could share a partition, or not: the worst partition decides.
        ends = await rt.log.end_offsets([settings.topics.inbound])
        assert worst == max(ends.values())
        assert (checks["lag"] == "ok") == (worst <= 2)

        await rt.log.publish_batch(
            settings.topics.inbound,
            # One key, one partition: three more records behind on the same partition.
            [(b"ready-0", json.dumps(opened(f"ready-0{i}")).encode()) for i in range(3)],
        )
        checks, worst = await rt.ready()
        assert worst is not None and worst >= 3
        assert checks["lag"] == f"{worst} > READY_MAX_LAG=2"

        stop = asyncio.Event()
        task = asyncio.create_task(rt.consumers["inbound"].run(stop))
        try:
            checks, worst = await eventually(rt.ready, lambda r: r[1] == 0)
        finally:
            stop.set()
            await task
        assert checks["lag"] == "ok"
    finally:
        await rt.stop()
