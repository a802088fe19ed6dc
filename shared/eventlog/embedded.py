"""An event log in one SQLite file: Kafka's semantics for a single machine, no broker.

Several processes may open the same file. Topics have partitions chosen by a hash of
the key; each partition has gapless offsets; consumer groups keep committed offsets;
partitions are shared among a group's live members through leases, so two members
never read one partition at once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from shared.eventlog.port import (
    CommitFailed,
    EventLog,
    EventLogNotStarted,
    PartitionsCallback,
    Published,
    Record,
    Subscription,
    TopicPartition,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS partitions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, "offset")) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition));
CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT NOT NULL, member_id TEXT NOT NULL, heartbeat REAL NOT NULL,
    PRIMARY KEY (grp, member_id));
CREATE TABLE IF NOT EXISTS log_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1), last_timestamp_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS partition_leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    member_id TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (grp, topic, partition));
"""


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of a key: stable across processes and releases."""
    return zlib.crc32(key) % partitions


class EmbeddedEventLog(EventLog):
    """The EventLog port over one SQLite file that several local processes can share."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        default_partitions: int = 4,
        session_timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.path = Path(path)
        self.default_partitions = default_partitions
        self.session_timeout = session_timeout
        self.poll_interval = poll_interval
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._published = asyncio.Event()

    # -- plumbing -----------------------------------------------------------------

    async def start(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await asyncio.to_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged publish survives a power cut, as acks=all does on Kafka.
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        return conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise EventLogNotStarted("EmbeddedEventLog is not started")
        conn = self._conn

        def locked() -> T:
            with self._lock:
                return fn(conn)

        return await asyncio.to_thread(locked)

    @staticmethod
    def _write(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        # IMMEDIATE takes the write lock up front, so offset allocation never races.
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- topics and publishing ----------------------------------------------------

    async def ensure_topics(self, topics: Sequence[str], partitions: int) -> None:
        def create(conn: sqlite3.Connection) -> None:
            for topic in topics:
                self._create_topic(conn, topic, partitions)

        await self._run(lambda c: self._write(c, create))

    @staticmethod
    def _create_topic(conn: sqlite3.Connection, topic: str, partitions: int) -> int:
        existing = conn.execute(
            "SELECT COUNT(*) FROM partitions WHERE topic = ?", (topic,)
        ).fetchone()[0]
        if existing:
            return int(existing)
        conn.executemany(
            "INSERT INTO partitions (topic, partition, next_offset) VALUES (?, ?, 0)",
            [(topic, p) for p in range(partitions)],
        )
        return partitions

    async def publish_batch(
        self, topic: str, messages: Sequence[tuple[bytes, bytes]]
    ) -> list[Published]:
        def append(conn: sqlite3.Connection) -> list[Published]:
            # Every publish gets a timestamp later than any before it in this file, so
            # readers can merge topics in publish order (Kafka only promises it per partition).
            row = conn.execute("SELECT last_timestamp_ms FROM log_clock WHERE id = 1").fetchone()
            now_ms = max(int(time.time() * 1000), (row[0] + 1) if row else 0)
            conn.execute(
                "INSERT INTO log_clock (id, last_timestamp_ms) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET last_timestamp_ms = excluded.last_timestamp_ms",
                (now_ms,),
            )
            # Like Kafka with auto-create: the first publish creates the topic.
            count = self._create_topic(conn, topic, self.default_partitions)
            next_offsets = dict(
                conn.execute(
                    "SELECT partition, next_offset FROM partitions WHERE topic = ?", (topic,)
                ).fetchall()
            )
            out, rows = [], []
            for key, value in messages:
                p = partition_for(key, count)
                offset = next_offsets[p]
                next_offsets[p] = offset + 1
                rows.append((topic, p, offset, key, value, now_ms))
                out.append(Published(topic, p, offset))
            conn.executemany(
                'INSERT INTO records (topic, partition, "offset", key, value, timestamp_ms)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "UPDATE partitions SET next_offset = ? WHERE topic = ? AND partition = ?",
                [(o, topic, p) for p, o in next_offsets.items()],
            )
            return out

        published = await self._run(lambda c: self._write(c, append))
        # Wake this process's subscribers now; other processes notice on their next poll.
        self._published.set()
        self._published = asyncio.Event()
        return published

    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        def read(conn: sqlite3.Connection) -> dict[TopicPartition, int]:
            marks = ",".join("?" for _ in topics)
            rows = conn.execute(
                f"SELECT topic, partition, next_offset FROM partitions WHERE topic IN ({marks})",
                list(topics),
            ).fetchall()
            return {TopicPartition(t, p): o for t, p, o in rows}

        return await self._run(read)

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        *,
        max_batch: int = 500,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
    ) -> Subscription:
        return EmbeddedSubscription(self, group, list(topics), max_batch, on_assigned, on_revoked)

    async def wait_for_publish(self, timeout: float) -> None:
        """Sleep until this process publishes or `timeout` passes."""
        try:
            await asyncio.wait_for(self._published.wait(), timeout)
        except TimeoutError:
            pass


class EmbeddedSubscription(Subscription):
    """A member of a consumer group on an EmbeddedEventLog."""

    def __init__(
        self,
        log: EmbeddedEventLog,
        group: str,
        topics: list[str],
        max_batch: int,
        on_assigned: PartitionsCallback | None,
        on_revoked: PartitionsCallback | None,
    ) -> None:
        self._log = log
        self._group = group
        self._topics = topics
        self._max_batch = max_batch
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._member_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._positions: dict[TopicPartition, int] = {}
        self._started = False
        self._rotation = 0

    async def start(self) -> None:
        await self._log.start()
        await self._log.ensure_topics(self._topics, self._log.default_partitions)
        self._started = True
        await self._rebalance()

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        lost = set(self._positions)
        if lost and self._on_revoked:
            await self._on_revoked(lost)
        self._positions.clear()

        def leave(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM partition_leases WHERE grp = ? AND member_id = ?",
                (self._group, self._member_id),
            )
            conn.execute(
                "DELETE FROM group_members WHERE grp = ? AND member_id = ?",
                (self._group, self._member_id),
            )

        await self._log._run(lambda c: self._log._write(c, leave))

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    async def _rebalance(self) -> None:
        """Heartbeat, then take up this member's fair share of partitions and let go of the rest.

        A partition changes hands only after its owner released it or its lease expired,
        so a handover never has two readers.
        """
        now = time.time()
        ttl = self._log.session_timeout
        group, me = self._group, self._member_id

        def step(conn: sqlite3.Connection) -> tuple[set[TopicPartition], dict[TopicPartition, int]]:
            conn.execute(
                "INSERT INTO group_members (grp, member_id, heartbeat) VALUES (?, ?, ?)"
                " ON CONFLICT (grp, member_id) DO UPDATE SET heartbeat = excluded.heartbeat",
                (group, me, now),
            )
            conn.execute(
                "DELETE FROM group_members WHERE grp = ? AND heartbeat < ?", (group, now - ttl)
            )
            conn.execute("DELETE FROM partition_leases WHERE grp = ? AND expires < ?", (group, now))
            members = [
                m
                for (m,) in conn.execute(
                    "SELECT member_id FROM group_members WHERE grp = ? ORDER BY member_id",
                    (group,),
                )
            ]
            marks = ",".join("?" for _ in self._topics)
            all_tps = [
                TopicPartition(t, p)
                for t, p in conn.execute(
                    f"SELECT topic, partition FROM partitions WHERE topic IN ({marks})"
                    " ORDER BY topic, partition",
                    self._topics,
                )
            ]
            index = members.index(me)
            fair = {tp for i, tp in enumerate(all_tps) if i % len(members) == index}
            owners = {
                TopicPartition(t, p): m
                for t, p, m in conn.execute(
                    "SELECT topic, partition, member_id FROM partition_leases WHERE grp = ?",
                    (group,),
                )
            }
            mine: set[TopicPartition] = set()
            for tp in all_tps:
                owner = owners.get(tp)
                if tp in fair and owner in (None, me):
                    conn.execute(
                        "INSERT INTO partition_leases VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (grp, topic, partition) DO UPDATE"
                        " SET member_id = excluded.member_id, expires = excluded.expires",
                        (group, tp.topic, tp.partition, me, now + ttl),
                    )
                    mine.add(tp)
                elif tp not in fair and owner == me:
                    conn.execute(
                        "DELETE FROM partition_leases"
                        " WHERE grp = ? AND topic = ? AND partition = ?",
                        (group, tp.topic, tp.partition),
                    )
            committed = {
                TopicPartition(t, p): o
                for t, p, o in conn.execute(
                    'SELECT topic, partition, "offset" FROM group_offsets WHERE grp = ?', (group,)
                )
            }
            return mine, committed

        mine, committed = await self._log._run(lambda c: self._log._write(c, step))
        lost = set(self._positions) - mine
        gained = mine - set(self._positions)
        if lost:
            for tp in lost:
                del self._positions[tp]
            if self._on_revoked:
                await self._on_revoked(lost)
        if gained:
            for tp in gained:
                self._positions[tp] = committed.get(tp, 0)
            if self._on_assigned:
                await self._on_assigned(gained)

    async def poll(self, timeout: float = 1.0) -> list[Record]:
        if not self._started:
            raise RuntimeError("subscription is not started")
        deadline = time.monotonic() + timeout
        while True:
            await self._rebalance()
            records = await self._fetch()
            if records or time.monotonic() >= deadline:
                return records
            remaining = deadline - time.monotonic()
            await self._log.wait_for_publish(min(self._log.poll_interval, max(remaining, 0)))

    async def _fetch(self) -> list[Record]:
        tps = sorted(self._positions)
        if not tps:
            return []
        # Rotate the starting partition so a busy partition cannot starve the others.
        self._rotation = (self._rotation + 1) % len(tps)
        order = tps[self._rotation :] + tps[: self._rotation]
        positions = dict(self._positions)
        limit = self._max_batch

        def read(conn: sqlite3.Connection) -> list[Record]:
            out: list[Record] = []
            for tp in order:
                if len(out) >= limit:
                    break
                rows = conn.execute(
                    'SELECT "offset", key, value, timestamp_ms FROM records'
                    ' WHERE topic = ? AND partition = ? AND "offset" >= ?'
                    ' ORDER BY "offset" LIMIT ?',
                    (tp.topic, tp.partition, positions[tp], limit - len(out)),
                ).fetchall()
                out.extend(Record(tp.topic, tp.partition, o, k, v, ts) for o, k, v, ts in rows)
            return out

        records = await self._log._run(read)
        for r in records:
            if r.tp in self._positions:
                self._positions[r.tp] = r.offset + 1
        return records

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        group, me = self._group, self._member_id
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            for tp, offset in offsets.items():
                owner = conn.execute(
                    "SELECT member_id FROM partition_leases WHERE grp = ? AND topic = ?"
                    " AND partition = ? AND expires >= ?",
                    (group, tp.topic, tp.partition, now),
                ).fetchone()
                if owner is None or owner[0] != me:
                    raise CommitFailed(f"{tp} is no longer assigned to this member")
                conn.execute(
                    'INSERT INTO group_offsets (grp, topic, partition, "offset")'
                    " VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition)"
                    ' DO UPDATE SET "offset" = excluded."offset"',
                    (group, tp.topic, tp.partition, offset),
                )

        await self._log._run(lambda c: self._log._write(c, write))

    async def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._positions:
                self._positions[tp] = offset

    async def seek_to_beginning(self) -> None:
        for tp in self._positions:
            self._positions[tp] = 0
