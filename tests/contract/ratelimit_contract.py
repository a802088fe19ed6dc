"""One contract for every rate limiter: budgets per key, refilled over time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from services.accounts.adapters.tables import platform
from services.registry import migrations_dir
from shared.db import make_engine, make_sessions
from shared.migrations import upgrade
from shared.ratelimit import RateLimiter, SqlRateLimiter
from shared.settings import Settings

Make = Callable[[int, Callable[[], float]], RateLimiter]


async def sql_limiters(url: str) -> AsyncIterator[Make]:
    """Limiters on one migrated database (the accounts schema carries the table)."""
    await asyncio.to_thread(
        upgrade, Settings.load("accounts", database_url=url), migrations_dir("accounts")
    )
    engine = make_engine(url)
    sessions = make_sessions(engine)

    def make(per_minute: int, clock: Callable[[], float]) -> RateLimiter:
        return SqlRateLimiter(sessions, platform.rate_buckets, per_minute, clock)

    yield make
    await engine.dispose()


class RateLimiterContract:
    """Subclasses provide a `make` fixture: (per_minute, clock) -> a limiter on a fresh store."""

    async def test_a_key_gets_its_budget_then_waits_for_the_refill(self, make: Make) -> None:
        now = [1_000.0]
        limiter = make(2, lambda: now[0])
        assert await limiter.hit("alice") == 0
        assert await limiter.hit("alice") == 0
        assert await limiter.hit("alice") == pytest.approx(30.0)
        now[0] += 15
        assert await limiter.hit("alice") == pytest.approx(15.0)
        now[0] += 15
        assert await limiter.hit("alice") == 0

    async def test_keys_do_not_share_a_budget(self, make: Make) -> None:
        limiter = make(1, lambda: 5_000.0)
        assert await limiter.hit("alice") == 0
        assert await limiter.hit("alice") > 0
        assert await limiter.hit("bob") == 0

    async def test_an_idle_bucket_refills_only_to_its_capacity(self, make: Make) -> None:
        now = [0.0]
        limiter = make(3, lambda: now[0])
        now[0] += 3_600  # an hour idle is still only three requests
        assert [await limiter.hit("k") for _ in range(3)] == [0, 0, 0]
        assert await limiter.hit("k") > 0

    async def test_concurrent_requests_never_spend_more_than_the_budget(self, make: Make) -> None:
        # 16 clients, 200 requests at one instant against a budget of 60: exactly 60 pass.
        limiter = make(60, lambda: 7_000.0)

        async def client(n: int) -> list[float]:
            return [await limiter.hit("alice") for _ in range(n)]

        waits = [
            w
            for ws in await asyncio.gather(*(client(13) for _ in range(15)), client(5))
            for w in ws
        ]
        assert len(waits) == 200
        assert sum(w == 0 for w in waits) == 60
