"""The audit repositories on SQL: the trail (entries, the personal values kept beside
them, the accounts' commitment keys), signed checkpoints and the access log (the ports
in `service_layer.ports`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.adapters.tables import (
    access_log,
    audit_entries,
    audit_frozen_entries,
    audit_personal_values,
    audit_subject_keys,
    checkpoints,
    published_compare,
)
from services.audit.domain.chain import GENESIS
from services.audit.domain.filters import HistoryFilters
from services.audit.domain.personal import ERASURE
from services.audit.domain.verify import BrokenLink, StoredEntry, verify_chain
from shared.auth import Principal
from shared.db import in_chunks
from shared.eventstore.store import utc

Head = tuple[int, str]
"""An account's newest entry: (seq, hash)."""


def _on_conflict_insert(session: AsyncSession) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert


def _filtered(query: Any, filters: HistoryFilters) -> Any:
    t = audit_entries
    if filters.types:
        query = query.where(t.c.type.in_(filters.types))
    if filters.source:
        query = query.where(t.c.source == filters.source)
    if filters.occurred_from:
        query = query.where(t.c.occurred_at >= filters.occurred_from)
    if filters.occurred_to:
        query = query.where(t.c.occurred_at < filters.occurred_to)
    if filters.as_of_occurred:
        query = query.where(t.c.occurred_at <= filters.as_of_occurred)
    if filters.as_of_recorded:
        known = func.coalesce(t.c.recorded_at, t.c.ingested_at)
        query = query.where(known <= filters.as_of_recorded)
    return query


class SqlTrail:
    """Each account's hash-chained entries: what chaining reads, the rows it stages (and
    inserts at flush, one statement per table), and every read of the trail."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self._entries: list[dict[str, Any]] = []
        self._values: list[dict[str, Any]] = []

    async def present(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these events are on the trail already (one query per chunk)."""
        t, found = audit_entries, set[str]()
        for chunk in in_chunks(list(event_ids)):
            rows = await self._session.execute(select(t.c.event_id).where(t.c.event_id.in_(chunk)))
            found.update(rows.scalars())
        return found

    async def contains(self, event_id: str) -> bool:
        """Whether this event is on the trail already."""
        t = audit_entries
        found = await self._session.execute(select(t.c.seq).where(t.c.event_id == event_id))
        return found.first() is not None

    async def heads_of(self, account_ids: Sequence[str]) -> dict[str, Head]:
        """Each account's newest entry; (0, GENESIS) for one without a trail."""
        t, heads = audit_entries, dict[str, Head]()
        for chunk in in_chunks(list(account_ids)):
            top = (
                select(t.c.account_id, func.max(t.c.seq).label("seq"))
                .where(t.c.account_id.in_(chunk))
                .group_by(t.c.account_id)
                .subquery()
            )
            rows = await self._session.execute(
                select(t.c.account_id, t.c.seq, t.c.hash).join(
                    top, (t.c.account_id == top.c.account_id) & (t.c.seq == top.c.seq)
                )
            )
            heads.update({r.account_id: (r.seq, r.hash) for r in rows})
            heads.update({a: (0, GENESIS) for a in chunk if a not in heads})
        return heads

    async def subject_key(self, account_id: str, *, create: bool = False) -> bytes | None:
        """The account's commitment key; a new random one if `create` and there is none."""
        k = audit_subject_keys
        found = (
            await self._session.execute(select(k.c.key).where(k.c.account_id == account_id))
        ).scalar_one_or_none()
        if found is None and create:
            # Events of one account arrive on several topics, so two consumers may create
            # its key at once: the first one in wins and both use it.
            await self._session.execute(
                _on_conflict_insert(self._session)(k)
                .values(account_id=account_id, key=secrets.token_bytes(32), created_at=self._now)
                .on_conflict_do_nothing(index_elements=[k.c.account_id])
            )
            return await self.subject_key(account_id)
        return found

    async def subject_keys(self, account_ids: Sequence[str]) -> dict[str, bytes]:
        """The accounts' commitment keys, creating the missing ones (first writer wins)."""
        k = audit_subject_keys
        keys: dict[str, bytes] = {}

        async def read(accounts: list[str]) -> None:
            for chunk in in_chunks(accounts):
                rows = await self._session.execute(
                    select(k.c.account_id, k.c.key).where(k.c.account_id.in_(chunk))
                )
                keys.update({r.account_id: r.key for r in rows})

        await read(list(account_ids))
        missing = [a for a in account_ids if a not in keys]
        if missing:
            # Events of one account arrive on several topics, so two consumers may create
            # its key at once: the first one in wins and both read and use that one.
            await self._session.execute(
                _on_conflict_insert(self._session)(k).on_conflict_do_nothing(
                    index_elements=[k.c.account_id]
                ),
                [
                    {"account_id": a, "key": secrets.token_bytes(32), "created_at": self._now}
                    for a in missing
                ],
            )
            await read(missing)
        return keys

    def stage(self, entry: dict[str, Any], values: Sequence[dict[str, Any]]) -> None:
        """Stage one chained entry and the personal values kept beside it."""
        self._entries.append(entry)
        self._values.extend(values)

    async def flush(self) -> None:
        """Insert the staged entries, then their values: a statement per table."""
        if self._entries:
            rows, self._entries = self._entries, []
            await self._session.execute(insert(audit_entries), rows)
        if self._values:
            rows, self._values = self._values, []
            await self._session.execute(insert(audit_personal_values), rows)

    async def last_activity(self, account_id: str) -> tuple[int, datetime] | None:
        """The account's head seq and when its newest event (audit's own erasures aside)
        occurred; None without a trail."""
        t = audit_entries
        row = (
            await self._session.execute(
                select(func.max(t.c.seq), func.max(t.c.occurred_at)).where(
                    t.c.account_id == account_id, t.c.type != ERASURE
                )
            )
        ).first()
        if row is None or row[0] is None:
            return None
        head = (
            await self._session.execute(
                select(func.max(t.c.seq)).where(t.c.account_id == account_id)
            )
        ).scalar_one()
        return int(head), utc(row[1])

    async def erase_personal_values(self, account_id: str) -> int:
        """Delete the account's personal values and its commitment key; how many values."""
        v = audit_personal_values
        count = (
            await self._session.execute(
                select(func.count()).select_from(v).where(v.c.account_id == account_id)
            )
        ).scalar_one()
        await self._session.execute(delete(v).where(v.c.account_id == account_id))
        k = audit_subject_keys
        await self._session.execute(delete(k).where(k.c.account_id == account_id))
        return int(count)

    async def freeze(self, account_id: str) -> None:
        """Keep the account's trail as chained now, for a rebuild to restore (not re-read)."""
        f, t = audit_frozen_entries, audit_entries
        await self._session.execute(delete(f).where(f.c.account_id == account_id))
        await self._session.execute(
            insert(f).from_select(
                [c.name for c in t.c], select(t).where(t.c.account_id == account_id)
            )
        )

    async def restore_frozen(self) -> set[str]:
        """Replace the whole trail with the frozen (erased) trails; their event ids."""
        frozen = audit_frozen_entries
        await self._session.execute(delete(audit_entries))
        await self._session.execute(delete(audit_personal_values))
        await self._session.execute(
            insert(audit_entries).from_select([c.name for c in frozen.c], select(frozen))
        )
        return set((await self._session.execute(select(frozen.c.event_id))).scalars())

    async def history(
        self, account_id: str, after_seq: int, limit: int, filters: HistoryFilters | None = None
    ) -> list[dict[str, Any]]:
        """Trail entries of an account after `after_seq`, in order, filtered."""
        t = audit_entries
        query = select(
            t.c.seq,
            t.c.event_id,
            t.c.type,
            t.c.source,
            t.c.occurred_at,
            t.c.recorded_at,
            t.c.event,
            t.c.hash,
            t.c.prev_hash,
        ).where(t.c.account_id == account_id, t.c.seq > after_seq)
        if filters is not None:
            query = _filtered(query, filters)
        rows = (await self._session.execute(query.order_by(t.c.seq).limit(limit))).all()
        out = []
        # Plain tuples, one JSON parse per row: this loop is every trail read's cost.
        for seq, event_id, type_, source, occurred, recorded, text, hashed, prev in rows:
            event = orjson.loads(text)
            out.append(
                {
                    "seq": seq,
                    "event_id": event_id,
                    "type": type_,
                    "schema_version": event["schema_version"],
                    "source": source,
                    "occurred_at": occurred.isoformat(),
                    "recorded_at": recorded.isoformat() if recorded else None,
                    "data": event["data"],
                    "metadata": event.get("metadata", {}),
                    "hash": hashed,
                    "prev_hash": prev,
                }
            )
        return out

    async def personal_values(
        self, account_id: str, from_seq: int, to_seq: int
    ) -> dict[int, dict[str, str]]:
        """The values kept beside entries `from_seq`..`to_seq`: seq → path → value."""
        v = audit_personal_values
        rows = await self._session.execute(
            select(v.c.seq, v.c.path, v.c.value).where(
                v.c.account_id == account_id, v.c.seq >= from_seq, v.c.seq <= to_seq
            )
        )
        out: dict[int, dict[str, str]] = {}
        for r in rows:
            out.setdefault(int(r.seq), {})[r.path] = r.value
        return out

    async def verify(self, account_id: str, batch: int = 5000) -> BrokenLink | None:
        """Recompute one account's chain from its first entry; the first break or None."""
        t = audit_entries
        columns = (t.c.seq, t.c.event_id, t.c.type, t.c.source, t.c.event, t.c.hash, t.c.prev_hash)
        entries: list[StoredEntry] = []
        after = 0
        while True:
            page = (
                await self._session.execute(
                    select(*columns)
                    .where(t.c.account_id == account_id, t.c.seq > after)
                    .order_by(t.c.seq)
                    .limit(batch)
                )
            ).all()
            entries.extend(map(StoredEntry._make, page))
            if len(page) < batch:
                break
            after = page[-1].seq
        return verify_chain(account_id, entries)

    async def heads(self) -> list[tuple[str, int, str]]:
        """Every account's newest entry: (account id, seq, hash), by account id."""
        t = audit_entries
        newest = (
            select(t.c.account_id, func.max(t.c.seq).label("seq"))
            .group_by(t.c.account_id)
            .subquery()
        )
        rows = await self._session.execute(
            select(t.c.account_id, t.c.seq, t.c.hash)
            .join(newest, (t.c.account_id == newest.c.account_id) & (t.c.seq == newest.c.seq))
            .order_by(t.c.account_id)
        )
        return [(r.account_id, int(r.seq), r.hash) for r in rows]

    async def entry_hash(self, account_id: str, seq: int) -> str | None:
        """The stored hash of one entry, or None if there is no such entry."""
        t = audit_entries
        row = await self._session.execute(
            select(t.c.hash).where(t.c.account_id == account_id, t.c.seq == seq)
        )
        return row.scalar_one_or_none()

    async def stored_entries(self, account_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        """Entries exactly as stored (the hashed event text included), up to a seq."""
        t = audit_entries
        rows = await self._session.execute(
            select(t.c.seq, t.c.event_id, t.c.type, t.c.source, t.c.event, t.c.hash, t.c.prev_hash)
            .where(t.c.account_id == account_id, t.c.seq <= up_to_seq)
            .order_by(t.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    async def links(self) -> list[tuple[str, int, str, str]]:
        """Every entry's place in its chain: (account, seq, event id, hash)."""
        t = audit_entries
        rows = await self._session.execute(select(t.c.account_id, t.c.seq, t.c.event_id, t.c.hash))
        return [(a, int(seq), event_id, hashed) for a, seq, event_id, hashed in rows]

    async def all_entries(self) -> list[tuple[str, int, str, str, str, str]]:
        """Every entry of every account: (account, seq, event id, source, event, hash)."""
        t = audit_entries
        rows = await self._session.execute(
            select(t.c.account_id, t.c.seq, t.c.event_id, t.c.source, t.c.event, t.c.hash)
        )
        return [(a, int(seq), e, src, event, h) for a, seq, e, src, event, h in rows]

    async def head(self, account_id: str) -> Head | None:
        """The account's newest entry (seq, hash), or None without a trail."""
        t = audit_entries
        row = (
            await self._session.execute(
                select(t.c.seq, t.c.hash)
                .where(t.c.account_id == account_id)
                .order_by(t.c.seq.desc())
                .limit(1)
            )
        ).first()
        return (int(row.seq), row.hash) if row else None

    async def has_trail(self, account_id: str) -> bool:
        """Whether any event of the account is on the trail (else: no such account, a 404)."""
        t = audit_entries
        found = await self._session.execute(
            select(t.c.seq).where(t.c.account_id == account_id).limit(1)
        )
        return found.first() is not None

    async def accounts(self) -> list[str]:
        """Every account with a trail."""
        t = audit_entries
        result = await self._session.execute(
            select(t.c.account_id).distinct().order_by(t.c.account_id)
        )
        return [r[0] for r in result]


class SqlCheckpoints:
    """Signed checkpoints of every head, and the last clean comparison with the published ones."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint."""
        await self._session.execute(
            insert(checkpoints).values(
                at=datetime.fromisoformat(checkpoint["at"]),
                size=checkpoint["size"],
                root=checkpoint["root"],
                heads=json.dumps(checkpoint["heads"]),
                signature=checkpoint["signature"],
                public_key=checkpoint["public_key"],
            )
        )

    async def latest(self) -> dict[str, Any] | None:
        """The newest signed checkpoint, as it was signed."""
        query = select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        return {
            "id": row["id"],
            "at": utc(row["at"]).isoformat(),
            "size": row["size"],
            "root": row["root"],
            "heads": json.loads(row["heads"]),
            "signature": row["signature"],
            "public_key": row["public_key"],
        }

    async def all(self) -> list[dict[str, Any]]:
        """Every kept checkpoint's id, time and root, oldest first."""
        c = checkpoints
        rows = await self._session.execute(select(c.c.id, c.c.at, c.c.root).order_by(c.c.id))
        return [{"id": int(r.id), "at": utc(r.at).isoformat(), "root": r.root} for r in rows]

    async def published_compare(self) -> dict[str, Any] | None:
        """The last clean comparison with the published checkpoints, as it was signed."""
        pc = published_compare
        row = (await self._session.execute(select(pc).where(pc.c.id == 1))).mappings().first()
        if row is None:
            return None
        return {**row, "verified_at": utc(row["verified_at"]).isoformat()}

    async def save_published_compare(self, state: dict[str, Any]) -> None:
        """Remember a clean comparison (the caller commits)."""
        pc = published_compare
        values = {**state, "verified_at": datetime.fromisoformat(state["verified_at"])}
        await self._session.execute(delete(pc))
        await self._session.execute(insert(pc).values(id=1, **values))


class SqlAccessLog:
    """Who read, exported or verified what, and why."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def log(
        self,
        principal: Principal,
        action: str,
        purpose: str,
        account_id: str | None,
        filters: dict[str, Any],
    ) -> None:
        """Record one access (the caller commits)."""
        await self._session.execute(
            insert(access_log).values(
                at=self._now,
                subject=principal.subject,
                role=principal.role,
                action=action,
                purpose=purpose,
                account_id=account_id,
                filters=json.dumps(filters, sort_keys=True, default=str),
            )
        )

    async def entries(
        self, after_id: int, limit: int, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The access log, oldest first."""
        query = select(access_log).where(access_log.c.id > after_id)
        if account_id is not None:
            query = query.where(access_log.c.account_id == account_id)
        rows = (
            await self._session.execute(query.order_by(access_log.c.id).limit(limit))
        ).mappings()
        return [
            {**dict(r), "at": utc(r["at"]).isoformat(), "filters": json.loads(r["filters"])}
            for r in rows
        ]
