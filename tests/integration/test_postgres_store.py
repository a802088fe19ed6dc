"""The store contract on PostgreSQL, plus the late-commit trap only a real server can show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.accounts.adapters.tables import platform
from shared.clock import FixedClock
from shared.eventlog.embedded import EmbeddedEventLog
from shared.eventstore.relay import OutboxRelay
from tests.contract.ratelimit_contract import Make, RateLimiterContract, sql_limiters
from tests.contract.store_contract import NOW, StoreContract, UowFactory, event

pytestmark = pytest.mark.integration


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def database_url(self, pg_database: str) -> str:
        return pg_database

    async def test_a_position_that_commits_late_is_still_published(
        self, uow: UowFactory, tmp_path: Path
    ) -> None:
        # Transaction `slow` takes outbox position N first but commits after `fast`
        # (position N+1) has committed and been relayed. A relay that remembered "last
        # position sent" would skip N for ever.
        log = EmbeddedEventLog(tmp_path / "log.sqlite3")
        await log.start()
        relay = OutboxRelay(self.sessions, platform, log, FixedClock(NOW))
        slow_event, fast_event = event(account="A1"), event(account="A2")
        try:
            async with uow() as slow:
                await slow.record("s-slow", 0, [slow_event], "out")
                async with uow() as fast:
                    await fast.record("s-fast", 0, [fast_event], "out")
                    await fast.commit()
                assert await relay.run_once() == 1
                await slow.commit()
            assert await relay.run_once() == 1
            sub = log.subscribe("g", ["out"])
            await sub.start()
            got = await sub.poll(timeout=1)
            await sub.close()
        finally:
            await log.close()
        assert sorted(r.key for r in got if r.key) == [b"A1", b"A2"]


class TestPostgresRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def make(self, pg_database: str) -> AsyncIterator[Make]:
        async for make in sql_limiters(pg_database):
            yield make
