"""Per-subject request budgets (token buckets): in one process, or shared through the
service's database by every replica."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class RateLimiter(abc.ABC):
    """A token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._clock = clock

    @abc.abstractmethod
    async def hit(self, key: str) -> float:
        """Take one request for `key`; 0 if allowed, else seconds until one is allowed."""

    def _take(self, tokens: float, last: float, now: float) -> tuple[float, float]:
        """(tokens left, seconds to wait) after one request at `now` on a bucket that held
        `tokens` at `last`."""
        tokens = min(self._capacity, tokens + max(0.0, now - last) * self._rate)
        if tokens >= 1:
            return tokens - 1, 0.0
        return tokens, (1 - tokens) / self._rate


class InMemoryRateLimiter(RateLimiter):
    """Buckets in this process: each replica of a service allows the whole budget."""

    MAX_KEYS = 100_000
    """Past this many buckets the full ones are dropped (a full bucket is the default)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        super().__init__(per_minute, clock)
        self._buckets: dict[str, tuple[float, float]] = {}

    async def hit(self, key: str) -> float:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens, wait = self._take(tokens, last, now)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.MAX_KEYS:
            self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        for k, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self._rate >= self._capacity:
                del self._buckets[k]


class SqlRateLimiter(RateLimiter):
    """Buckets in the service's database, so every replica draws on the same budget.

    Each hit is one short transaction that locks the key's row (SELECT ... FOR UPDATE on
    PostgreSQL; SQLite serialises writers). The clock is the wall clock: replicas on
    different hosts must agree on it to within the refill granularity (NTP does).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(per_minute, clock)
        self._sessions = sessions
        self._table = table

    async def hit(self, key: str) -> float:
        try:
            return await self._hit(key)
        except IntegrityError:
            # Another replica created the key's bucket between our read and insert.
            return await self._hit(key)

    async def _hit(self, key: str) -> float:
        t = self._table
        async with self._sessions() as session, session.begin():
            now = self._clock()
            row = (
                await session.execute(
                    select(t.c.tokens, t.c.updated_at).where(t.c.key == key).with_for_update()
                )
            ).first()
            if row is None:
                tokens, wait = self._take(self._capacity, now, now)
                await session.execute(insert(t).values(key=key, tokens=tokens, updated_at=now))
            else:
                tokens, wait = self._take(row.tokens, row.updated_at, now)
                await session.execute(
                    update(t).where(t.c.key == key).values(tokens=tokens, updated_at=now)
                )
        return wait
