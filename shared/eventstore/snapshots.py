"""Snapshots of aggregates beside their streams: load = newest snapshot + the events after it.

A snapshot is a cache of a replay, never a source of truth: it carries the schema version
of its state's encoding, a load ignores a snapshot of any other version (the aggregate is
rebuilt from its events), and nothing reads a snapshot to say what a stream contains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.catalogue import Catalogue
from shared.db import in_chunks
from shared.envelope import Envelope, decode_envelope
from shared.eventstore.tables import UtcDateTime

# Streams per tail query: each adds one (stream = s AND version > v) term to the OR.
TAIL_CHUNK = 200


def add_snapshot_table(metadata: MetaData, events: Table) -> SnapshotTables:
    """Define the snapshots table (one row per stream: its newest snapshot) in `metadata`."""
    snapshots = Table(
        "snapshots",
        metadata,
        Column("stream_id", String(128), primary_key=True),
        Column("schema_version", Integer, nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("state", Text, nullable=False),
        Column("taken_at", UtcDateTime(), nullable=False),
    )
    return SnapshotTables(snapshots, events)


@dataclass(frozen=True)
class SnapshotTables:
    """The snapshots table and the events table whose streams it snapshots."""

    snapshots: Table
    events: Table


@dataclass(frozen=True)
class Snapshot:
    """One stream's state as of `stream_version`, encoded at `schema_version`."""

    stream_id: str
    schema_version: int
    stream_version: int
    state: str


class SnapshotStore:
    """Reads snapshots and the events after them; stages new snapshots, written at `flush`."""

    def __init__(
        self, session: AsyncSession, tables: SnapshotTables, catalogue: Catalogue, now: datetime
    ) -> None:
        self._session = session
        self._s = tables.snapshots
        self._e = tables.events
        self._catalogue = catalogue
        self._now = now
        self._staged: dict[str, Snapshot] = {}

    async def load_many(
        self, stream_ids: Sequence[str], schema_version: int
    ) -> dict[str, Snapshot]:
        """The snapshot of each stream that has one at `schema_version` (one query per chunk)."""
        found: dict[str, Snapshot] = {}
        s = self._s
        for chunk in in_chunks(list(dict.fromkeys(stream_ids))):
            rows = await self._session.execute(
                select(s.c.stream_id, s.c.stream_version, s.c.state).where(
                    s.c.stream_id.in_(chunk), s.c.schema_version == schema_version
                )
            )
            for stream_id, version, state in rows:
                found[stream_id] = Snapshot(stream_id, schema_version, version, state)
        return found

    async def tails(self, after: Mapping[str, int]) -> dict[str, tuple[list[Envelope], int]]:
        """Each stream's events after the given version, upcast, with the stream's version
        (the given one if nothing followed); one query per chunk of streams."""
        found: dict[str, tuple[list[Envelope], int]] = {
            stream: ([], version) for stream, version in after.items()
        }
        e = self._e
        streams = list(after)
        for chunk in in_chunks(streams, TAIL_CHUNK):
            from_start = [stream for stream in chunk if after[stream] == 0]
            terms = [
                and_(e.c.stream_id == stream, e.c.stream_version > after[stream])
                for stream in chunk
                if after[stream] > 0
            ]
            if from_start:
                terms.append(e.c.stream_id.in_(from_start))
            rows = await self._session.execute(
                select(e.c.stream_id, e.c.envelope, e.c.stream_version)
                .where(or_(*terms))
                .order_by(e.c.stream_id, e.c.stream_version)
            )
            for stream_id, envelope, version in rows:
                envelopes = found[stream_id][0]
                envelopes.append(self._catalogue.upcast(decode_envelope(envelope)))
                found[stream_id] = (envelopes, version)
        return found

    def stage(self, snapshot: Snapshot) -> None:
        """Keep `snapshot` as its stream's newest once the transaction writes (replacing any)."""
        self._staged[snapshot.stream_id] = snapshot

    async def flush(self) -> None:
        """Replace the staged streams' snapshots: one delete and one multi-row insert."""
        if not self._staged:
            return
        staged, self._staged = list(self._staged.values()), {}
        s = self._s
        for chunk in in_chunks([snap.stream_id for snap in staged]):
            await self._session.execute(delete(s).where(s.c.stream_id.in_(chunk)))
        await self._session.execute(
            insert(s),
            [
                {
                    "stream_id": snap.stream_id,
                    "schema_version": snap.schema_version,
                    "stream_version": snap.stream_version,
                    "state": snap.state,
                    "taken_at": self._now,
                }
                for snap in staged
            ],
        )
