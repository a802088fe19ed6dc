"""HTTP ingest tries a transaction again when the database rolled it back as a deadlock or
a serialization failure (issue 13): nothing the integrator did, so no 500 for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from services.accounts.service_layer.ingest import IngestResult, ingest
from shared.auth import Principal
from shared.db import is_transient
from shared.envelope import Envelope
from tests.support import opened
from tests.unit.book_kit import Book, runtime_at


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def rolled_back(sqlstate: str) -> DBAPIError:
    """What SQLAlchemy raises when PostgreSQL aborts a statement with `sqlstate`."""
    return DBAPIError("SELECT pg_advisory_xact_lock($1)", None, _Orig(sqlstate))


async def post(book: Book, handler: Any, *events: dict[str, Any]) -> list[IngestResult]:
    runtime = book.runtime
    return await ingest(
        list(events),
        uow_factory=runtime.uow,
        handler=handler,
        catalogue=runtime.catalogue,
        ledger_name=book.ledger,
        inbound_topic=runtime.settings.topics.inbound,
        principal=Principal(subject="integrator-test", role="integrator"),
        now=runtime.clock.now(),
    )


def failing(book: Book, sqlstate: str, times: int) -> Any:
    """The inbound handler, failing its first `times` calls as the database would."""
    calls = {"n": 0}

    async def handler(uow: Any, env: Envelope) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise rolled_back(sqlstate)
        await book.handler(uow, env)

    return handler


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.db.TRANSIENT_BACKOFF_S", 0.0)


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_or_serialization_failure_is_tried_again(
    sqlstate: str, tmp_path: Path
) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        results = await post(book, failing(book, sqlstate, times=2), opened("A"), opened("B"))
        assert [r.status for r in results] == ["accepted", "accepted"]
        assert [e.type for e in await book.stream("A")] == ["AccountOpened"]
    finally:
        await book.runtime.engine.dispose()


async def test_it_is_tried_a_bounded_number_of_times(tmp_path: Path) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        with pytest.raises(DBAPIError):
            await post(book, failing(book, "40P01", times=10_000), opened("A"))
        assert await book.stream("A") == []
    finally:
        await book.runtime.engine.dispose()


async def test_other_database_errors_are_not_tried_again(tmp_path: Path) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        handler = failing(book, "23505", times=1)
        with pytest.raises(DBAPIError):
            await post(book, handler, opened("A"))
    finally:
        await book.runtime.engine.dispose()


def test_only_deadlocks_and_serialization_failures_are_transient() -> None:
    assert is_transient(rolled_back("40P01")) and is_transient(rolled_back("40001"))
    assert not is_transient(rolled_back("23505")) and not is_transient(ValueError("x"))
