"""Database engines: SQLite files for the embedded default, PostgreSQL via asyncpg."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

IN_LIMIT = 500
"""The most values one `IN (...)` list carries: far below SQLite's and PostgreSQL's
bound-parameter limits, and small enough for the planner to use the index."""


def in_chunks(values: Sequence[T], size: int = IN_LIMIT) -> Iterator[Sequence[T]]:
    """`values` a slice of at most `size` at a time, for one `IN (...)` query each."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL (SQLite will not)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> AsyncEngine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so processes can share a file."""
    if make_url(url).get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        # hide_parameters: error messages would otherwise quote stored values (PII).
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (handlers read them afterwards)."""
    return async_sessionmaker(engine, expire_on_commit=False)


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization failure and deadlock: the transaction was rolled back, and
the same work tried again may well succeed."""


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a database failure worth retrying as is (a serialization failure
    or a deadlock): nothing of the transaction was kept."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES


TRANSIENT_ATTEMPTS = 4
"""Tries of one transaction that PostgreSQL rolled back as a deadlock or a serialization
failure, before the request fails."""

TRANSIENT_BACKOFF_S = 0.05
"""The pause before the second try; doubled before each later one."""


async def retry_transient(work: Callable[[], Awaitable[T]], what: str) -> T:
    """`work()`, tried again (a bounded number of times, backing off) while the database
    rolls it back as a deadlock or a serialization failure; such a failure is nothing the
    client did, and the very same transaction tried again usually commits."""
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == TRANSIENT_ATTEMPTS:
                raise
            sqlstate = getattr(exc.orig, "sqlstate", None)
            log.warning("%s rolled back (sqlstate %s), try %d; again", what, sqlstate, attempt)
            await asyncio.sleep(TRANSIENT_BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
