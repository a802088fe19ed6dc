"""A real Kafka broker for the kafka tier, and a started KafkaEventLog on it.

Which broker (env KAFKA_BOOTSTRAP_SERVERS, deploy/local/kafka.sh, a testcontainers
apache/kafka, or none: skip, or fail with CI=true) is decided in tests/infra_choice.py; the
report header names the choice and the terminal summary the broker actually started.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from shared.eventlog.kafka import KafkaEventLog
from tests.infra_start import session_dependency


@pytest.fixture(scope="session")
def _kafka_broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """The bootstrap servers of a broker that lives for the whole session (sync: no loop)."""
    yield from session_dependency(request.config, "kafka")


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
