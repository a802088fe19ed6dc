"""Append-only event streams with optimistic concurrency, and the outbox beside them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.catalogue import Catalogue
from shared.db import IN_LIMIT, in_chunks
from shared.envelope import Envelope, decode_envelope
from shared.errors import ConcurrencyError
from shared.eventstore.tables import PlatformTables


def utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite hands them back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EventStore:
    """Streams of envelopes inside one session; appends are staged and written together.

    `append` reads nothing: the version the caller loaded is the expected version, and
    the unique key on (stream, version) refuses a concurrent writer's append, as a
    ConcurrencyError raised by `flush` (at the latest when the unit of work commits).
    Staged rows are flushed before any read, so a read in the same transaction sees them.
    """

    def __init__(self, session: AsyncSession, tables: PlatformTables, catalogue: Catalogue) -> None:
        self._session = session
        self._t = tables.events
        self._catalogue = catalogue
        self._staged: list[dict[str, object]] = []
        self._heads: dict[str, int] = {}  # the version each stream reaches once flushed

    async def version(self, stream_id: str) -> int:
        """The stream's current version; 0 for a stream with no events."""
        await self.flush()
        result = await self._session.execute(
            select(func.max(self._t.c.stream_version)).where(self._t.c.stream_id == stream_id)
        )
        return int(result.scalar() or 0)

    async def versions(self, stream_ids: Sequence[str], chunk: int = IN_LIMIT) -> dict[str, int]:
        """The current version of each stream (0 for none), in one query per `chunk`."""
        await self.flush()
        found = dict.fromkeys(stream_ids, 0)
        wanted = list(found)
        for part in in_chunks(wanted, chunk):
            rows = await self._session.execute(
                select(self._t.c.stream_id, func.max(self._t.c.stream_version))
                .where(self._t.c.stream_id.in_(part))
                .group_by(self._t.c.stream_id)
            )
            found.update({stream: int(version) for stream, version in rows})
        return found

    async def load(self, stream_id: str) -> tuple[list[Envelope], int]:
        """Every event of a stream, upcast to current schema versions, and its version."""
        return (await self.load_many([stream_id]))[stream_id]

    async def load_many(
        self, stream_ids: Sequence[str], chunk: int = IN_LIMIT
    ) -> dict[str, tuple[list[Envelope], int]]:
        """Several streams at once (one query per `chunk` streams), each with its version."""
        await self.flush()
        found: dict[str, tuple[list[Envelope], int]] = {s: ([], 0) for s in stream_ids}
        wanted = list(dict.fromkeys(stream_ids))
        for part in in_chunks(wanted, chunk):
            rows = await self._session.execute(
                select(self._t.c.stream_id, self._t.c.envelope, self._t.c.stream_version)
                .where(self._t.c.stream_id.in_(part))
                .order_by(self._t.c.stream_id, self._t.c.stream_version)
            )
            for row in rows:
                envelopes, _ = found[row.stream_id]
                envelopes.append(self._catalogue.upcast(decode_envelope(row.envelope)))
                found[row.stream_id] = (envelopes, row.stream_version)
        return found

    async def of_types(
        self, stream_id: str, types: Sequence[str], offset: int, limit: int
    ) -> list[Envelope]:
        """A page of a stream's events of the given types, upcast, in version order."""
        await self.flush()
        rows = await self._session.execute(
            select(self._t.c.envelope)
            .where(self._t.c.stream_id == stream_id, self._t.c.type.in_(list(types)))
            .order_by(self._t.c.stream_version)
            .offset(offset)
            .limit(limit)
        )
        return [self._catalogue.upcast(decode_envelope(r.envelope)) for r in rows]

    async def append(
        self, stream_id: str, expected_version: int, envelopes: Sequence[Envelope]
    ) -> int:
        """Stage events after `expected_version`; returns the stream's new version.

        A second append to a stream in one transaction must follow the first
        (ConcurrencyError at once otherwise); a clash with another transaction's commit
        is a ConcurrencyError from `flush`.
        """
        if not envelopes:
            return expected_version
        head = self._heads.get(stream_id)
        if head is not None and head != expected_version:
            raise ConcurrencyError(
                f"stream {stream_id} is at version {head}, expected {expected_version}"
            )
        for i, env in enumerate(envelopes, start=1):
            if env.recorded_at is None:
                raise ValueError("an appended event must be stamped with recorded_at")
            self._staged.append(
                {
                    "stream_id": stream_id,
                    "stream_version": expected_version + i,
                    "event_id": str(env.id),
                    "type": env.type,
                    "schema_version": env.schema_version,
                    "account_id": env.account_id,
                    "occurred_at": env.occurred_at,
                    "recorded_at": env.recorded_at,
                    "envelope": env.to_json().decode(),
                }
            )
        self._heads[stream_id] = expected_version + len(envelopes)
        return self._heads[stream_id]

    async def flush(self) -> None:
        """Write every staged event in one multi-row insert."""
        if not self._staged:
            return
        rows, self._staged = self._staged, []
        streams = sorted({str(r["stream_id"]) for r in rows})
        try:
            await self._session.execute(insert(self._t), rows)
        except IntegrityError as exc:
            # Another writer appended the same (stream, version) first.
            raise ConcurrencyError(f"streams {streams} were appended to concurrently") from exc
        except OperationalError as exc:
            # SQLite's form of the same race: our snapshot is older than a newer commit.
            if "locked" not in str(exc.orig):
                raise
            raise ConcurrencyError(f"streams {streams} were appended to concurrently") from exc


class Outbox:
    """Messages to publish once their transaction commits; the relay sends them."""

    def __init__(self, session: AsyncSession, tables: PlatformTables, now: datetime) -> None:
        self._session = session
        self._t = tables.outbox
        self._now = now
        self._staged: list[dict[str, object]] = []

    async def add(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        """Queue envelopes for `topic`, keyed by account id (written at `flush`)."""
        self._staged.extend(
            {
                "event_id": str(env.id),
                "topic": topic,
                "key": env.key(),
                "value": env.to_json(),
                "created_at": self._now,
            }
            for env in envelopes
        )

    async def flush(self) -> None:
        """Write every queued message in one multi-row insert, in the order queued."""
        if self._staged:
            rows, self._staged = self._staged, []
            await self._session.execute(insert(self._t), rows)

    async def add_raw(
        self, topic: str, event_id: str, key: bytes, payload: dict[str, object]
    ) -> None:
        """Queue a message that is not an event envelope (a dead-letter record)."""
        await self.flush()  # positions keep the order messages were queued in
        await self._session.execute(
            insert(self._t).values(
                event_id=event_id,
                topic=topic,
                key=key,
                value=json.dumps(payload, sort_keys=True).encode(),
                created_at=self._now,
            )
        )


class ProcessedLedger:
    """Which event ids a consumer has already applied, written in the same transaction."""

    def __init__(self, session: AsyncSession, tables: PlatformTables, now: datetime) -> None:
        self._session = session
        self._t = tables.processed
        self._now = now

    async def seen(self, consumer: str, event_id: str) -> bool:
        """Whether this consumer already applied the event."""
        result = await self._session.execute(
            select(self._t.c.event_id).where(
                self._t.c.consumer == consumer, self._t.c.event_id == event_id
            )
        )
        return result.first() is not None

    async def seen_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids this consumer already applied (one query)."""
        if not event_ids:
            return set()
        result = await self._session.execute(
            select(self._t.c.event_id).where(
                self._t.c.consumer == consumer, self._t.c.event_id.in_(list(event_ids))
            )
        )
        return {row[0] for row in result}

    async def add_many(self, consumer: str, event_ids: Sequence[str]) -> None:
        """Mark several events applied (one statement)."""
        if event_ids:
            await self._session.execute(
                insert(self._t),
                [
                    {"consumer": consumer, "event_id": e, "processed_at": self._now}
                    for e in event_ids
                ],
            )

    async def add(self, consumer: str, event_id: str) -> None:
        """Mark the event applied; a second insert fails the transaction (a duplicate)."""
        await self._session.execute(
            insert(self._t).values(consumer=consumer, event_id=event_id, processed_at=self._now)
        )
