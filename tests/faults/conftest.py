"""The fault tier's stack: its own broker and durable PostgreSQL (both get restarted, so
never the ones other tiers share), and the four services as OS processes on them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.harness import Stack
from tests.faults.infra import Postgres, Unavailable

NEEDS = (
    "it restarts its own broker and PostgreSQL on the same data dirs, so it runs them as "
    "local processes and needs java and mvn (deploy/local/kafka.sh) and PostgreSQL's server "
    "binaries (deploy/local/postgres.sh), never a container"
)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A started stack; every process and both servers are gone afterwards, pass or fail."""
    # ARREARS_FAULT_PG_DURABLE=0 runs PostgreSQL as postgres.sh does for the other tiers,
    # where a crash loses acknowledged commits (issue 13): the tier then finds them lost.
    durable = os.environ.get("ARREARS_FAULT_PG_DURABLE", "1") != "0"
    stack = Stack(tmp_path, postgres=Postgres(durable=durable))
    try:
        try:
            await stack.start()
        except Unavailable as exc:
            # Never testcontainers (nor ARREARS_TEST_INFRA): the tier restarts its broker and
            # PostgreSQL on the same data dirs, which it does as local processes.
            why = f"{NEEDS}: {exc}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"the fault tier needs them in CI; {why}")
            pytest.skip(f"fault tier unavailable; {why}")
        yield stack
    finally:
        stack.teardown()
