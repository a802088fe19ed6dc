"""The embedded event log passes the event-log contract, and is shared between handles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.eventlog.embedded import EmbeddedEventLog
from tests.contract.eventlog_contract import EventLogContract, drain


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedEventLog]:
    log = EmbeddedEventLog(tmp_path / "log.sqlite3", session_timeout=5)
    await log.start()
    yield log
    await log.close()


class TestEmbeddedEventLog(EventLogContract):
    pass


async def test_two_handles_on_one_file_see_each_others_messages(tmp_path: Path) -> None:
    # Two handles stand for two processes: the file is the only thing they share.
    writer = EmbeddedEventLog(tmp_path / "shared.sqlite3")
    reader = EmbeddedEventLog(tmp_path / "shared.sqlite3")
    await writer.start()
    await reader.start()
    try:
        await writer.publish("t", b"acct-1", b"hello")
        sub = reader.subscribe("g", ["t"])
        await sub.start()
        got = await drain(sub, 1, timeout=5)
        await sub.close()
        assert [r.value for r in got] == [b"hello"]
    finally:
        await writer.close()
        await reader.close()


async def test_a_dead_members_partitions_are_taken_over_after_its_lease(tmp_path: Path) -> None:
    log = EmbeddedEventLog(tmp_path / "log.sqlite3", session_timeout=0.3)
    await log.start()
    try:
        await log.publish("t", b"k", b"v")
        dead = log.subscribe("g", ["t"])
        await dead.start()
        assert dead.assignment()
        # The dead member never polls or closes again, as after kill -9.
        survivor = log.subscribe("g", ["t"])
        await survivor.start()
        got = await drain(survivor, 1, timeout=5)
        assert [r.value for r in got] == [b"v"]
    finally:
        await log.close()
