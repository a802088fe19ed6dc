"""HTTP ingest and a consumer run at once, each with openings and a close of every account,
on PostgreSQL (issue 13): each took the book lock shared at its first opening and then
wanted it exclusive for its `*` close, so two of them deadlocked and ingest answered 500."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from shared.eventlog.port import Record
from tests.support import opened
from tests.unit.book_kit import Book, day, runtime_at, star
from tests.unit.test_accounts_ingest_transient import post

pytestmark = pytest.mark.integration

ROUNDS = 25
OPENINGS = 20
RETRIERS = {"shared.db", "shared.consumer"}


def _records(book: Book, events: list[dict[str, object]], first_offset: int) -> list[Record]:
    topic = book.runtime.settings.topics.inbound
    return [
        Record(topic, 0, first_offset + n, str(e["account_id"]).encode(), json.dumps(e).encode(), 0)
        for n, e in enumerate(events)
    ]


async def test_ingest_and_a_consumer_run_with_star_closes_never_deadlock(
    pg_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    book = Book(await runtime_at(tmp_path, database_url=pg_database))
    runtime = book.runtime
    consumer = runtime.consumers["inbound"]
    offset = 0
    try:
        for r in range(ROUNDS):
            posted = [opened(f"H{r}-{i}") for i in range(OPENINGS)] + [star(1 + r)]
            consumed = [opened(f"C{r}-{i}") for i in range(OPENINGS)] + [star(2 + r)]
            results, _ = await asyncio.gather(
                post(book, consumer.handler, *posted),
                consumer.process(_records(book, consumed, offset)),
            )
            offset += len(consumed)
            assert [x.status for x in results] == ["accepted"] * len(posted), results
        # No transaction was rolled back and tried again (ingest's retry and the consumer's
        # would hide a deadlock from the results), and nothing was dead-lettered.
        retried = [r.getMessage() for r in caplog.records if r.name in RETRIERS]
        assert retried == []
        assert await consumer.dead_letters() == []
        assert [d for _, d, _ in await book.book()] == [day(n) for n in range(1, ROUNDS + 2)]
    finally:
        await runtime.engine.dispose()
