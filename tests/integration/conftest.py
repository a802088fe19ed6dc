"""PostgreSQL for the integration tier: env ARREARS_TEST_PG_URL, deploy/local/postgres.sh,
a testcontainers postgres:16, or none (skip, or fail with CI=true); see tests/infra_choice.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.infra_start import session_dependency
from tests.support import create_database


@pytest.fixture(scope="session")
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An asyncpg SQLAlchemy URL of a server where we may create databases."""
    yield from session_dependency(request.config, "postgresql")


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
