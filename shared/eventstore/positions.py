"""Tracking records: where each consumer is in each partition, kept with its effects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventlog.port import TopicPartition
from shared.eventstore.tables import PlatformTables


@dataclass(frozen=True)
class Gap:
    """Offsets [from_offset, to_offset) of a partition that a consumer never read."""

    consumer: str
    topic: str
    partition: int
    from_offset: int
    to_offset: int
    detected_at: datetime


class Positions:
    """A consumer's next offset per partition, written in the transaction of its effects.

    The database, not Kafka, is the source of truth for where a consumer is: a database
    that lost its last commits (a restore, a failover, a non-durable commit) lost the
    positions with them, and the consumer re-reads what it lost instead of skipping it.
    """

    def __init__(self, session: AsyncSession, tables: PlatformTables, now: datetime) -> None:
        self._session = session
        self._t = tables.positions
        self._gaps = tables.gaps
        self._now = now

    async def load(self, consumer: str) -> dict[TopicPartition, int]:
        """Every partition's next offset this consumer stored."""
        t = self._t
        rows = await self._session.execute(
            select(t.c.topic, t.c.partition, t.c.next_offset).where(t.c.consumer == consumer)
        )
        return {TopicPartition(topic, p): o for topic, p, o in rows}

    async def save(self, consumer: str, positions: Mapping[TopicPartition, int]) -> None:
        """Store these next offsets (one statement whatever the number of partitions)."""
        if not positions:
            return
        rows = [
            {
                "consumer": consumer,
                "topic": tp.topic,
                "partition": tp.partition,
                "next_offset": offset,
                "updated_at": self._now,
            }
            for tp, offset in positions.items()
        ]
        upsert = _insert_for(self._session)(self._t).values(rows)
        await self._session.execute(
            upsert.on_conflict_do_update(
                index_elements=["consumer", "topic", "partition"],
                set_={
                    "next_offset": upsert.excluded.next_offset,
                    "updated_at": upsert.excluded.updated_at,
                },
            )
        )

    async def forget(self, consumer: str) -> None:
        """Drop this consumer's positions and gaps (a rebuild that re-reads everything)."""
        await self._session.execute(self._t.delete().where(self._t.c.consumer == consumer))
        await self._session.execute(self._gaps.delete().where(self._gaps.c.consumer == consumer))

    async def add_gaps(
        self, consumer: str, gaps: Sequence[tuple[TopicPartition, int, int]]
    ) -> None:
        """Record offsets [from, to) of partitions this consumer found it never read."""
        if not gaps:
            return
        g = self._gaps
        known = {
            (topic, p, start)
            for topic, p, start in await self._session.execute(
                select(g.c.topic, g.c.partition, g.c.from_offset).where(
                    g.c.consumer == consumer,
                    tuple_(g.c.topic, g.c.partition, g.c.from_offset).in_(
                        [(tp.topic, tp.partition, start) for tp, start, _ in gaps]
                    ),
                )
            )
        }
        rows = [
            {
                "consumer": consumer,
                "topic": tp.topic,
                "partition": tp.partition,
                "from_offset": start,
                "to_offset": end,
                "detected_at": self._now,
            }
            for tp, start, end in gaps
            if (tp.topic, tp.partition, start) not in known
        ]
        if rows:
            await self._session.execute(g.insert(), rows)

    async def gaps(self, consumer: str | None = None) -> list[Gap]:
        """Every recorded gap (of one consumer, if given), oldest first."""
        g = self._gaps
        query = select(g).order_by(g.c.id)
        if consumer is not None:
            query = query.where(g.c.consumer == consumer)
        return [
            Gap(
                r["consumer"],
                r["topic"],
                r["partition"],
                r["from_offset"],
                r["to_offset"],
                r["detected_at"],
            )
            for r in (await self._session.execute(query)).mappings()
        ]


def _insert_for(session: AsyncSession) -> Any:
    # Both dialects spell an upsert the same way, from their own insert construct.
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
