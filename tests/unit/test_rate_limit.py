"""The rate-limiter contract in memory and on SQLite, and the shared budget of replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.ratelimit import InMemoryRateLimiter
from tests.contract.ratelimit_contract import Make, RateLimiterContract, sql_limiters


class TestInMemory(RateLimiterContract):
    @pytest.fixture
    def make(self) -> Make:
        return lambda per_minute, clock: InMemoryRateLimiter(per_minute, clock)


class TestSqlite(RateLimiterContract):
    @pytest.fixture
    async def make(self, tmp_path: Path) -> AsyncIterator[Make]:
        async for make in sql_limiters(f"sqlite+aiosqlite:///{tmp_path / 'limits.sqlite3'}"):
            yield make


async def test_replicas_on_one_database_share_the_budget(tmp_path: Path) -> None:
    async for make in sql_limiters(f"sqlite+aiosqlite:///{tmp_path / 'limits.sqlite3'}"):
        one, two = make(2, lambda: 100.0), make(2, lambda: 100.0)
        assert await one.hit("alice") == 0
        assert await two.hit("alice") == 0
        assert await one.hit("alice") > 0 and await two.hit("alice") > 0


async def test_memory_drops_full_buckets_past_its_key_limit() -> None:
    now = [0.0]
    limiter = InMemoryRateLimiter(60, lambda: now[0])
    limiter.MAX_KEYS = 10
    for i in range(10):
        await limiter.hit(f"k{i}")
    now[0] += 60  # every bucket has refilled
    await limiter.hit("k-new")
    assert len(limiter._buckets) == 1
