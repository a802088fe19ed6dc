"""The audit unit of work: the platform's, plus the trail."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from services.audit.adapters.tables import audit_entries
from services.audit.domain.chain import GENESIS, canonical, link
from shared.envelope import Envelope
from shared.eventstore.store import utc
from shared.uow import SqlUnitOfWork


class AuditUnitOfWork(SqlUnitOfWork):
    """One transaction over the audit database."""

    async def append_entry(self, env: Envelope) -> None:
        """Chain an event onto its account's trail; an event already there is left alone."""
        t = audit_entries
        if (await self.session.execute(select(t.c.seq).where(t.c.event_id == str(env.id)))).first():
            return
        head = (
            await self.session.execute(
                select(t.c.seq, t.c.hash)
                .where(t.c.account_id == env.account_id)
                .order_by(t.c.seq.desc())
                .limit(1)
            )
        ).first()
        seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
        event = env.model_dump(mode="json")
        await self.session.execute(
            insert(t).values(
                account_id=env.account_id,
                seq=seq,
                event_id=str(env.id),
                type=env.type,
                source=env.source,
                occurred_at=env.occurred_at,
                recorded_at=env.recorded_at,
                ingested_at=self.now,
                event=canonical(event).decode(),
                hash=link(prev, event),
                prev_hash=prev,
            )
        )

    async def history(self, account_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """Trail entries of an account after `after_seq`, in order."""
        t = audit_entries
        rows = (
            (
                await self.session.execute(
                    select(t)
                    .where(t.c.account_id == account_id, t.c.seq > after_seq)
                    .order_by(t.c.seq)
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
        out = []
        for r in rows:
            event = json.loads(r["event"])
            out.append(
                {
                    "seq": r["seq"],
                    "event_id": r["event_id"],
                    "type": r["type"],
                    "schema_version": event["schema_version"],
                    "source": r["source"],
                    "occurred_at": utc(r["occurred_at"]).isoformat(),
                    "recorded_at": utc(r["recorded_at"]).isoformat() if r["recorded_at"] else None,
                    "data": event["data"],
                    "metadata": event.get("metadata", {}),
                    "hash": r["hash"],
                    "prev_hash": r["prev_hash"],
                }
            )
        return out
