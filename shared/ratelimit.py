"""Per-subject request budgets (token buckets): in one process, or shared through the
service's database by every replica."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
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

    A hit is one conditional UPDATE ... RETURNING that refills and takes a token in the
    same statement, so concurrent requests (threads, replicas) can never both spend the
    last token: the database applies one statement at a time per row. Only a key's first
    request inserts its row (INSERT ... ON CONFLICT DO NOTHING). The clock is the wall
    clock: replicas on different hosts must agree on it to within the refill granularity
    (NTP does); a row stamped ahead of a replica's clock refills nothing until then.
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
        t = self._table
        now = self._clock()
        refilled = case(
            (t.c.updated_at >= now, t.c.tokens),
            else_=t.c.tokens + (now - t.c.updated_at) * self._rate,
        )
        level = case((refilled > self._capacity, self._capacity), else_=refilled)
        take = (
            update(t)
            .where(t.c.key == key, level >= 1)
            .values(tokens=level - 1, updated_at=now)
            .returning(t.c.key)
        )
        async with self._sessions() as session, session.begin():
            if (await session.execute(take)).first() is not None:
                return 0.0
            first = _insert_if_absent(session, t).values(
                key=key, tokens=self._capacity - 1, updated_at=now
            )
            if (await session.execute(first.returning(t.c.key))).first() is not None:
                return 0.0
            # Another request inserted the row after our UPDATE looked (its INSERT won the
            # conflict): the row exists now, so take through the same conditional UPDATE,
            # never by judging a read, or two requests could both spend one token.
            if (await session.execute(take)).first() is not None:
                return 0.0
            row = (
                await session.execute(select(t.c.tokens, t.c.updated_at).where(t.c.key == key))
            ).one()
        # Only the UPDATE grants; a read that raced a later writer never says "go now".
        return max(self._take(row.tokens, row.updated_at, now)[1], 0.001)


def _insert_if_absent(session: AsyncSession, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the session's SQL dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["key"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["key"])
