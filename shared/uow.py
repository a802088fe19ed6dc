"""The unit of work: one database transaction around one command or one consumed event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.envelope import Envelope
from shared.eventstore.positions import Positions
from shared.eventstore.store import EventStore, Outbox, ProcessedLedger
from shared.eventstore.tables import PlatformTables

if TYPE_CHECKING:
    from shared.metrics import ServiceMetrics


class SqlUnitOfWork:
    """Opens a transaction; only `commit()` makes its effects (and its outbox) durable."""

    metrics: ServiceMetrics | None = None
    """The service's metrics, when the runtime made this unit (handlers count through it)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: PlatformTables,
        catalogue: Catalogue,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._tables = tables
        self._catalogue = catalogue
        self._clock = clock
        self._committed = False

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        await self.session.begin()
        self.now: datetime = self._clock.now()
        self.events = EventStore(self.session, self._tables, self._catalogue)
        self.outbox = Outbox(self.session, self._tables, self.now)
        self.processed = ProcessedLedger(self.session, self._tables, self.now)
        self.positions = Positions(self.session, self._tables, self.now)
        self._committed = False
        self._after_commit: list[Callable[[], None]] = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        """Write what this unit staged, then make all of it durable at once."""
        await self.flush()
        await self.session.commit()
        self._committed = True
        for hook in self._after_commit:
            hook()
        self._after_commit.clear()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this unit commits (never if it rolls back): metrics count only
        what became durable."""
        self._after_commit.append(hook)

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """Load, in as few queries as possible, what handling `envelopes` will read.

        A consumer calls it once per run; a service whose handlers load aggregates
        overrides it (the default loads nothing)."""

    async def flush(self) -> None:
        """Write staged events and outbox messages now (still inside the transaction)."""
        await self.events.flush()
        await self.outbox.flush()

    async def rollback(self) -> None:
        """Throw away everything done in this unit."""
        self._after_commit.clear()
        await self.session.rollback()

    def stamp(self, envelopes: Sequence[Envelope], source: str) -> list[Envelope]:
        """Mark new events as recorded now by `source` (server-owned fields)."""
        return [env.recorded(self.now, source) for env in envelopes]

    async def record(
        self, stream_id: str, expected_version: int, envelopes: Sequence[Envelope], topic: str
    ) -> int:
        """Append to a stream and queue the same events for `topic`, in one transaction."""
        version = await self.events.append(stream_id, expected_version, envelopes)
        await self.outbox.add(topic, envelopes)
        return version
