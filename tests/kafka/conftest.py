"""A real Kafka broker for the kafka tier, and a started KafkaEventLog on it.

The broker is found in this order: env KAFKA_BOOTSTRAP_SERVERS; else a local broker via
deploy/local/kafka.sh (needs java and mvn); else a testcontainers Kafka (needs the
package and a Docker daemon that answers); else the tests are skipped — or, with CI=true,
failed, so a CI run never passes by testing nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.eventlog.kafka import KafkaEventLog

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy/local/kafka.sh"
# Not kafka.sh's default 19092, so a developer's own broker there is left alone.
LOCAL_PORT = "19192"
# First run: Maven fetches the broker's jars; afterwards a start takes a few seconds.
START_TIMEOUT_S = 900


def _missing(reasons: list[str]) -> None:
    why = "; ".join(reasons)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"a Kafka broker is required in CI: {why}")
    pytest.skip(f"no Kafka broker: {why}")


def _start_local(reasons: list[str]) -> str | None:
    """Start deploy/local/kafka.sh's broker; None (with a reason) when it cannot."""
    if not (shutil.which("java") and shutil.which("mvn")):
        reasons.append("java and mvn not both on PATH (for deploy/local/kafka.sh)")
        return None
    try:
        out = subprocess.run(
            [str(KAFKA_SH), "start", LOCAL_PORT],
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        reasons.append(f"deploy/local/kafka.sh start {LOCAL_PORT} took over {START_TIMEOUT_S}s")
        _stop_local()
        return None
    for line in out.stdout.splitlines():
        if out.returncode == 0 and line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
            return line.split("=", 1)[1].strip()
    reasons.append(f"deploy/local/kafka.sh start {LOCAL_PORT} failed: {out.stderr[-500:]}")
    return None


def _stop_local() -> None:
    subprocess.run(
        [str(KAFKA_SH), "stop", LOCAL_PORT], capture_output=True, check=False, timeout=120
    )


def _start_container(reasons: list[str]) -> tuple[Any, str] | None:
    """Start a testcontainers Kafka; None (with a reason) when it cannot."""
    try:
        import docker
        from testcontainers.kafka import KafkaContainer
    except ImportError:
        reasons.append("testcontainers[kafka] not installed")
        return None
    try:
        docker.from_env().ping()
    except Exception as exc:
        reasons.append(f"Docker does not answer: {exc}")
        return None
    container = KafkaContainer()
    try:
        container.start()
        return container, container.get_bootstrap_server()
    except Exception as exc:
        reasons.append(f"testcontainers Kafka did not start: {exc}")
        with contextlib.suppress(Exception):
            container.stop()
        return None


@pytest.fixture(scope="session")
def _kafka_broker() -> Iterator[str]:
    """The bootstrap servers of a broker that lives for the whole session (sync: no loop)."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        yield env
        return
    reasons: list[str] = ["KAFKA_BOOTSTRAP_SERVERS not set"]
    local = _start_local(reasons)
    if local is not None:
        try:
            yield local
        finally:
            _stop_local()
        return
    started = _start_container(reasons)
    if started is not None:
        container, bootstrap = started
        try:
            yield bootstrap
        finally:
            container.stop()
        return
    _missing(reasons)


@pytest.fixture
async def kafka_bootstrap(_kafka_broker: str) -> str:
    """Bootstrap servers of a running broker (started once per session if we start it)."""
    # The broker is a process, not an asyncio object, so a session-wide broker behind a
    # function-scoped async fixture never ties a test to another test's event loop.
    return _kafka_broker


@pytest.fixture
async def kafka_event_log(kafka_bootstrap: str) -> AsyncIterator[KafkaEventLog]:
    """A started KafkaEventLog on the test broker; closed after the test."""
    log = KafkaEventLog(kafka_bootstrap, client_id=f"test-{uuid.uuid4().hex[:8]}")
    await log.start()
    try:
        yield log
    finally:
        await log.close()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Makes topic or group names no other test (or earlier run on the broker) uses."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
