"""PostgreSQL for the integration tier: ARREARS_TEST_PG_URL, else a local throwaway cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support import create_database

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PORT = "15433"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """An asyncpg SQLAlchemy URL of a server where we may create databases."""
    url = os.environ.get("ARREARS_TEST_PG_URL")
    if url:
        yield url
        return
    script = ROOT / "deploy/local/postgres.sh"
    if not (shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))):
        _missing("set ARREARS_TEST_PG_URL or install PostgreSQL (deploy/local/postgres.sh install)")
    out = subprocess.run(
        [str(script), "start", LOCAL_PORT], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        _missing(f"deploy/local/postgres.sh start failed: {out.stderr[-500:]}")
    yield out.stdout.strip().split("=", 1)[1]
    subprocess.run([str(script), "stop", LOCAL_PORT], capture_output=True, check=False)


@pytest.fixture
async def new_pg_database(pg_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes fresh, empty databases for one test (as many as asked); dropped afterwards."""
    names: list[str] = []

    async def make() -> str:
        names.append(f"t_{uuid.uuid4().hex[:12]}")
        return await create_database(pg_url, names[-1])

    yield make
    admin_dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pg_database(new_pg_database: Callable[[], Awaitable[str]]) -> str:
    """A fresh, empty database for one test; dropped afterwards."""
    return await new_pg_database()
