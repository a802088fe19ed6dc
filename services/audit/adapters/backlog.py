"""What audit reads of its consumer's own platform tables: records not on the trail
(dead letters, parked behind them) and the order facts still in the outbox."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.adapters.tables import platform
from services.audit.domain.missing import missing_records as describe

Position = tuple[str, int, int]
"""Where a record came from: (topic, partition, offset)."""


class SqlBacklog:
    """Records a consumer has not chained (and why), and what the outbox has not sent."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def missing_records(self, consumer: str, account_id: str | None = None) -> dict[str, str]:
        """Per account, why its trail lacks records: `consumer`'s unresolved dead letters
        and the records parked behind them (all accounts, or only `account_id`)."""
        dl, parked = platform.dead_letters, platform.parked
        letters: dict[str, list[str]] = {}
        query = select(dl.c.id, dl.c.kind, dl.c.account_id, dl.c.key).where(
            dl.c.consumer == consumer, dl.c.resolved_at.is_(None)
        )
        if account_id is not None:
            # A record that could not be decoded has no account id, but its key is one.
            query = query.where(
                (dl.c.account_id == account_id)
                | (dl.c.account_id.is_(None) & (dl.c.key == account_id.encode()))
            )
        for r in await self._session.execute(query.order_by(dl.c.id)):
            owner = r.account_id or (r.key or b"").decode("utf-8", "replace")
            if owner:
                letters.setdefault(owner, []).append(f"{r.id} ({r.kind})")
        waiting = select(parked.c.account_id, func.count()).where(parked.c.consumer == consumer)
        if account_id is not None:
            waiting = waiting.where(parked.c.account_id == account_id)
        behind = {
            a: int(n) for a, n in await self._session.execute(waiting.group_by(parked.c.account_id))
        }
        return describe(letters, behind)

    async def gaps(self, consumer: str) -> set[Position]:
        """Where the consumer's unresolved dead letters and parked records came from."""
        dl, parked = platform.dead_letters, platform.parked
        letters = await self._session.execute(
            select(dl.c.topic, dl.c.partition, dl.c.offset).where(
                dl.c.consumer == consumer, dl.c.resolved_at.is_(None)
            )
        )
        waiting = await self._session.execute(
            select(parked.c.topic, parked.c.partition, parked.c.offset).where(
                parked.c.consumer == consumer
            )
        )
        return {(t, p, o) for t, p, o in [*letters, *waiting]}

    async def unpublished(self, topic: str) -> int:
        """How many outbox messages for `topic` the relay has not published yet."""
        outbox = platform.outbox
        query = (
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.topic == topic, outbox.c.published_at.is_(None))
        )
        return int((await self._session.execute(query)).scalar_one())

    async def forget_processed(self, consumer: str) -> None:
        """Drop the consumer's ledger of applied event ids (a rebuild applies them anew)."""
        processed = platform.processed
        await self._session.execute(delete(processed).where(processed.c.consumer == consumer))
