"""A service whose event log is not up at startup serves /healthz, says why in /readyz,
accepts HTTP ingest into its outbox, and turns ready once the log is up, without a restart;
an error retrying cannot fix still stops it at once."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from services.accounts.bootstrap import bootstrap, create_app
from services.registry import migrations_dir
from shared.api import create_service_app
from shared.clock import FixedClock
from shared.eventlog.embedded import EmbeddedEventLog
from shared.eventlog.kafka import KafkaEventLog
from shared.eventlog.port import LogUnavailable
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime, retry_delay
from shared.settings import Settings, SettingsError
from tests.faults.infra import free_port
from tests.support import auth, eventually, opened, settings_for

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)


class LateLog(EmbeddedEventLog):
    """The embedded log with a `start()` that fails while `down` (a broker not up yet),
    raises `broken` if set (a refusal retrying cannot fix), or hangs while `hang` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = True
        self.broken: Exception | None = None
        self.hang = False
        self.attempts = 0
        self.cancelled = False

    async def start(self) -> None:
        self.attempts += 1
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if self.broken is not None:
            raise self.broken
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed")
        await super().start()


async def late_accounts(tmp_path: Path, **overrides: Any) -> tuple[Settings, LateLog]:
    settings = settings_for(
        "accounts",
        tmp_path,
        startup_retry_initial_s=overrides.pop("startup_retry_initial_s", 0.01),
        startup_retry_max_s=overrides.pop("startup_retry_max_s", 0.05),
        **overrides,
    )
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    return settings, LateLog(settings.log_path)


@asynccontextmanager
async def client(app: Any, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://a", headers=headers) as c:
        yield c


async def unpublished(runtime: ServiceRuntime[Any]) -> int:
    outbox = runtime.tables.outbox
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return int(await session.scalar(query) or 0)


async def test_a_service_started_before_its_log_serves_ingests_and_turns_ready_once_it_is_up(
    tmp_path: Path,
) -> None:
    settings, late = await late_accounts(tmp_path)
    app = create_app(settings, clock=FixedClock(NOW), event_log=late)
    runtime = app.state.runtime
    async with (
        app.router.lifespan_context(app),
        client(app, auth(settings, "integrator", sub="late")) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        await eventually(lambda: asyncio.sleep(0, late.attempts), lambda n: n >= 3)
        r = await http.get("/readyz")
        assert r.status_code == 503, r.text
        event_log = r.json()["checks"]["event_log"]
        assert event_log.startswith("starting: ConnectionRefusedError (attempt "), event_log
        failures = runtime.meter.registry.get_sample_value(
            "arrears_event_log_connect_failures_total"
        )
        assert failures is not None and failures >= 2

        # Ingest needs only the database: the outbox keeps the event for the relay.
        r = await http.post("/v1/inbound/events", json={"events": [opened("EARLY")]})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert await unpublished(runtime) >= 1

        late.down = False

        async def ready() -> int:
            return (await http.get("/readyz")).status_code

        await eventually(ready, lambda status: status == 200)
        await eventually(lambda: unpublished(runtime), lambda n: n == 0)
        ends = await late.end_offsets([settings.topics.inbound])
        assert sum(ends.values()) >= 1

        # The consumers run: an event published onto the log now is applied.
        later = opened("LATER")
        await late.publish(settings.topics.inbound, b"LATER", json.dumps(later).encode())
        agent = auth(settings, "agent")

        async def account() -> int:
            return (await http.get("/v1/accounts/LATER", headers=agent)).status_code

        await eventually(account, lambda status: status == 200)


async def test_stop_while_an_attempt_to_start_hangs_cancels_it_and_starts_nothing(
    tmp_path: Path,
) -> None:
    settings, late = await late_accounts(tmp_path)
    late.hang = True
    runtime = bootstrap(settings, event_log=late)
    await runtime.launch(wait=0)
    await eventually(lambda: asyncio.sleep(0, late.attempts), lambda n: n == 1)
    await asyncio.wait_for(runtime.stop(), 10)
    assert late.cancelled
    assert runtime.startup == "starting" and not runtime.healthy()


async def test_stop_while_waiting_to_retry_returns_without_waiting_out_the_backoff(
    tmp_path: Path,
) -> None:
    # A minute's wait before the next attempt: stop must not sit through it.
    settings, late = await late_accounts(
        tmp_path, startup_retry_initial_s=60, startup_retry_max_s=3600
    )
    runtime = bootstrap(settings, event_log=late)
    await runtime.launch()
    assert late.attempts == 1 and runtime.startup.startswith("starting: ")
    await asyncio.wait_for(runtime.stop(), 10)
    assert late.attempts == 1


async def test_an_error_retrying_cannot_fix_stops_the_start_at_once(tmp_path: Path) -> None:
    settings, late = await late_accounts(tmp_path)
    late.broken = ValueError("bad sasl mechanism")
    app = create_app(settings, event_log=late)
    with pytest.raises(ValueError, match="bad sasl mechanism"):
        async with app.router.lifespan_context(app):
            pass
    assert late.attempts == 1
    assert app.state.runtime.startup == "failed: ValueError"


async def test_an_error_retrying_cannot_fix_found_after_the_wait_fails_liveness(
    tmp_path: Path,
) -> None:
    settings, late = await late_accounts(tmp_path)
    runtime = bootstrap(settings, event_log=late)
    app = create_service_app(runtime, title="t", routers=[])
    await runtime.launch(wait=0)
    try:
        async with client(app, {}) as http:
            assert (await http.get("/healthz")).status_code == 200
            late.broken = ValueError("topic creation refused by policy")

            async def health() -> int:
                return (await http.get("/healthz")).status_code

            await eventually(health, lambda status: status == 503)
            r = await http.get("/readyz")
            assert r.json()["checks"]["event_log"] == "failed: ValueError"
    finally:
        await runtime.stop()


async def test_a_route_that_needs_the_log_before_it_is_up_answers_503_with_a_problem(
    tmp_path: Path,
) -> None:
    settings, late = await late_accounts(tmp_path)
    runtime = bootstrap(settings, event_log=late)
    needs_log = APIRouter()

    @needs_log.get("/offsets")
    async def offsets() -> dict[str, int]:
        # The log is not started while the broker is "down".
        ends = await late.end_offsets([settings.topics.inbound])
        return {tp.topic: n for tp, n in ends.items()}

    app = create_service_app(runtime, title="t", routers=[needs_log])
    async with app.router.lifespan_context(app), client(app, {}) as http:
        r = await http.get("/offsets")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 503 and "Retry-After" in r.headers


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"startup_retry_initial_s": 0}, "startup_retry_initial_s"),
        ({"startup_retry_max_s": -1}, "startup_retry_max_s"),
        ({"startup_retry_initial_s": 5, "startup_retry_max_s": 1}, "STARTUP_RETRY_INITIAL_S"),
    ],
)
def test_bad_startup_retry_settings_are_refused(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        settings_for("accounts", tmp_path, **overrides)


def test_a_bad_startup_retry_setting_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STARTUP_RETRY_MAX_S", "soon")
    with pytest.raises(SettingsError, match="startup_retry_max_s"):
        Settings.load("accounts")


def test_the_retry_delay_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (500, 30.0)]:
        delays = {retry_delay(attempt, 0.5, 30.0, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, delays)
        assert len(delays) > 1


async def test_kafka_unreachable_at_start_is_reported_as_the_log_being_unavailable() -> None:
    # Nothing listens there: the client's bootstrap is refused at once.
    log = KafkaEventLog(f"127.0.0.1:{free_port()}")
    with pytest.raises(LogUnavailable, match="cannot reach Kafka") as raised:
        await log.start()
    assert type(raised.value.__cause__).__name__ == "KafkaConnectionError"
    await log.close()


async def test_a_database_down_at_startup_fails_readiness_and_logs_one_line_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = f"postgresql+asyncpg://x:y@127.0.0.1:{free_port()}/gone"
    settings = settings_for("accounts", tmp_path, database_url=gone)
    app = create_app(settings)
    caplog.set_level(logging.WARNING)
    async with app.router.lifespan_context(app), client(app, {}) as http:
        assert (await http.get("/healthz")).status_code == 200

        def retries() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == "shared.eventstore.relay"]

        await eventually(lambda: asyncio.sleep(0, retries()), lambda rs: len(rs) >= 2)
        r = await http.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["database"] != "ok", r.text
    noisy = [r.getMessage() for r in caplog.records if r.exc_info and r.name.startswith("shared")]
    assert noisy == []
    assert all("ConnectionRefusedError" in r.getMessage() for r in retries())
