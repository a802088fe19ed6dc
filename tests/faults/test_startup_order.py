"""A service started before its broker waits for it: alive, not ready and saying why, then
ready once the broker is up, applying what is published afterwards, without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.auth import mint_dev_token
from shared.settings import Settings
from tests.faults.infra import Broker, ServiceProcess, Unavailable, migrate, service_env
from tests.support import opened

pytestmark = pytest.mark.faults

WAIT_S = 60


async def until(
    service: ServiceProcess, probe: httpx.AsyncClient, url: str, status: int, **kw: object
) -> httpx.Response:
    """GET `url` until it answers `status` (connection errors while it boots are retried);
    fail at once if the process exits."""
    deadline = time.monotonic() + WAIT_S
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        assert service.proc is not None
        if service.proc.poll() is not None:
            raise AssertionError(f"{service.service} exited with {service.proc.returncode}")
        try:
            last = await probe.get(url, **kw)  # type: ignore[arg-type]
            if last.status_code == status:
                return last
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"{url} never answered {status}; last: {last and last.text}")


async def test_a_service_started_before_its_broker_turns_ready_once_the_broker_is_up(
    tmp_path: Path,
) -> None:
    try:
        Broker.check_available()
    except Unavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the fault tier needs its broker in CI: {exc}")
        pytest.skip(f"fault tier unavailable: {exc}")
    broker = Broker()  # its port chosen, nothing listening there yet
    prefix = f"startup{uuid.uuid4().hex[:8]}"
    env = service_env(
        "accounts",
        bootstrap=broker.bootstrap,
        prefix=prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'accounts.sqlite3'}",
        workdir=tmp_path,
    )
    env.update(STARTUP_RETRY_INITIAL_S="0.2", STARTUP_RETRY_MAX_S="1")
    await asyncio.to_thread(migrate, "accounts", env)
    accounts = ServiceProcess("accounts", env, tmp_path / "accounts.log")
    accounts.start()
    try:
        async with httpx.AsyncClient(base_url=accounts.url, timeout=5) as http:
            await until(accounts, http, "/healthz", 200)
            r = await until(accounts, http, "/readyz", 503)
            assert r.json()["checks"]["event_log"].startswith("starting"), r.text

            await asyncio.to_thread(broker.start)
            await until(accounts, http, "/readyz", 200)

            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await producer.start()
            try:
                event = opened("AFTER-BROKER")
                await producer.send_and_wait(
                    f"{prefix}.inbound", json.dumps(event).encode(), key=b"AFTER-BROKER"
                )
            finally:
                await producer.stop()
            settings = Settings.load(
                "accounts", auth_mode="development", auth_dev_secret_file=tmp_path / "dev-secret"
            )
            token = mint_dev_token(settings, role="agent", subject="faults")
            await until(
                accounts,
                http,
                "/v1/accounts/AFTER-BROKER",
                200,
                headers={"Authorization": f"Bearer {token}"},
            )
    except BaseException:
        print(accounts.log_tail())
        raise
    finally:
        accounts.stop()
        await asyncio.to_thread(broker.remove)
