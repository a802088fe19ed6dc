"""The outbox relay: publishes committed outbox rows to the event log, in position order."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock
from shared.errors import describe_outage, is_outage
from shared.eventlog.port import EventLog, Unpublishable
from shared.eventstore.tables import PlatformTables
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class OutboxRelay:
    """Sends unpublished outbox rows, oldest first; one relay per database holds the lease.

    It selects rows that are still unpublished rather than rows after the last position
    sent, so a transaction that took a smaller position but committed later is never
    skipped. Per-key order holds because one stream's transactions cannot commit out of
    order (the stream version is unique). A crash between publishing and marking means
    a message may be sent twice; consumers are idempotent on event id.

    A message the log refuses itself (`Unpublishable`, e.g. too large) parks its key:
    it and that key's later messages stay unpublished (so the key's order holds), every
    other key goes on, and `parked` counts the parked keys. Parking lasts until the
    relay restarts (or `unpark()`), when they are tried again: nothing is lost.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: PlatformTables,
        event_log: EventLog,
        clock: Clock,
        *,
        name: str = "outbox-relay",
        batch_size: int = 500,
        lease: timedelta = timedelta(seconds=15),
        idle_wait: float = 0.05,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._sessions = sessions
        self._t = tables
        self._log = event_log
        self._clock = clock
        self._name = name
        self._holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._batch = batch_size
        self._lease = lease
        self._idle_wait = idle_wait
        self._wake = asyncio.Event()
        self._held_until: datetime | None = None
        self._parked: dict[tuple[str, bytes], int] = {}  # (topic, key) -> the refused position

    @property
    def parked(self) -> int:
        """How many keys wait behind a message the log refused."""
        return len(self._parked)

    def unpark(self) -> None:
        """Try the parked keys' messages again on the next batch."""
        self._parked.clear()

    def notify(self) -> None:
        """Tell the relay new rows may be waiting (saves a poll interval)."""
        self._wake.set()

    async def _hold_lease(self, session: AsyncSession) -> bool:
        now = self._clock.now()
        # Renew only once half the lease is gone: a write per batch would contend with
        # every other writer of a SQLite database. Others take the lease only after expiry.
        if self._held_until is not None and now < self._held_until - self._lease / 2:
            return True
        self._held_until = None
        leases = self._t.leases
        result = await session.execute(
            update(leases)
            .where(
                leases.c.name == self._name,
                or_(leases.c.holder == self._holder, leases.c.expires_at < now),
            )
            .values(holder=self._holder, expires_at=now + self._lease)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            self._held_until = now + self._lease
            return True
        exists = (
            await session.execute(select(leases.c.name).where(leases.c.name == self._name))
        ).first()
        if exists:
            return False
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(leases).values(
                        name=self._name, holder=self._holder, expires_at=now + self._lease
                    )
                )
        except IntegrityError:
            return False
        self._held_until = now + self._lease
        return True

    async def release(self) -> None:
        """Give the lease up (on a clean stop), so a successor need not wait for expiry."""
        leases = self._t.leases
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(leases).where(leases.c.name == self._name, leases.c.holder == self._holder)
            )
        self._held_until = None

    async def run_once(self) -> int:
        """Publish one batch; returns how many messages it sent or parked."""
        outbox = self._t.outbox
        # Short transactions on both sides of the publish: a write lock held across a
        # network round trip would stall every writer of a SQLite database.
        async with self._sessions() as session, session.begin():
            if not await self._hold_lease(session):
                return 0
            query = (
                select(outbox.c.position, outbox.c.topic, outbox.c.key, outbox.c.value)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.position)
                .limit(self._batch)
            )
            if self._parked:
                query = query.where(~tuple_(outbox.c.topic, outbox.c.key).in_(list(self._parked)))
            rows = (await session.execute(query)).all()
        if not rows:
            return 0
        sent: list[int] = []
        # Consecutive rows of one topic go as one batch; topics keep their relative order.
        for topic, group in groupby(rows, key=lambda r: r.topic):
            batch = list(group)
            try:
                started = time.perf_counter()
                await self._log.publish_batch(topic, [(r.key, r.value) for r in batch])
                if self._metrics is not None:
                    self._metrics.relay_latency.labels(topic).observe(time.perf_counter() - started)
                    self._metrics.relayed.labels(topic).inc(len(batch))
                sent.extend(r.position for r in batch)
            except Unpublishable:
                sent.extend(await self._one_by_one(topic, batch))
        if sent:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(outbox)
                    .where(outbox.c.position.in_(sent))
                    .values(published_at=self._clock.now())
                )
        return len(rows)

    async def _one_by_one(self, topic: str, batch: list[Any]) -> list[int]:
        """Publish a refused batch a message at a time, parking the key of each refused one."""
        sent = []
        for r in batch:
            if (topic, r.key) in self._parked:
                continue  # behind its key's refused message, in order
            try:
                await self._log.publish_batch(topic, [(r.key, r.value)])
            except Unpublishable as exc:
                self._parked[(topic, r.key)] = r.position
                # Position, size and the log's reason; never the key or value (personal data).
                log.error(
                    "outbox row %d (%d bytes) to %s refused by the log, its key parked: %s",
                    r.position,
                    len(r.value),
                    topic,
                    exc,
                )
                continue
            sent.append(r.position)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; errors are logged and retried with backoff."""
        backoff, idle = 0.1, self._idle_wait
        while not stop.is_set():
            try:
                sent = await self.run_once()
                backoff = 0.1
            except Exception as exc:
                if is_outage(exc):
                    log.warning(
                        "outbox relay: %s; retrying in %.1fs", describe_outage(exc), backoff
                    )
                else:
                    log.exception("outbox relay failed; retrying in %.1fs", backoff)
                sent = 0
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent:
                idle = self._idle_wait
                continue
            # Idle: wait longer each time, up to a second, unless a local commit wakes us.
            self._wake.clear()
            await _sleep_or_stop(stop, idle, self._wake)
            idle = self._idle_wait if self._wake.is_set() else min(idle * 2, 1.0)


async def _sleep_or_stop(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None
) -> None:
    waiters = [asyncio.create_task(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.create_task(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
