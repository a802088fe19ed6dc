"""The audit unit of work: the platform's, plus the trail."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from services.audit.adapters.tables import (
    access_log,
    audit_entries,
    audit_frozen_entries,
    audit_personal_values,
    audit_subject_keys,
    checkpoints,
    platform,
    published_compare,
)
from services.audit.domain.chain import GENESIS, canonical, link_canonical
from services.audit.domain.personal import ERASURE, commit
from services.audit.domain.verify import BrokenLink, StoredEntry, verify_chain
from services.audit.service_layer.view_cache import ViewCache
from shared.auth import Principal
from shared.bounds import MAX_ITEMS
from shared.catalogue import PersonalValue, new_envelope
from shared.db import in_chunks
from shared.envelope import Envelope
from shared.errors import UnknownEventType
from shared.events.audit import ChainedEntry, TrailChained
from shared.eventstore.store import utc
from shared.uow import SqlUnitOfWork

SOURCE = "audit"
"""The source of the events audit itself produces."""


@dataclass
class _StagedTrail:
    """What one transaction knows of the trail and has chained but not yet written."""

    staging: bool = False
    looked_up: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)
    chained: list[ChainedEntry] = field(default_factory=list)


class AuditUnitOfWork(SqlUnitOfWork):
    """One transaction over the audit database."""

    views: ViewCache = ViewCache(0)
    """Views reused across transactions; the bootstrap gives each runtime its own."""

    order_topic: str | None = None
    """Where each transaction publishes the order it chained in (`TrailChained`), through
    the outbox in that transaction: the order exists exactly when the chain does. The
    bootstrap sets it; None publishes nothing."""

    logged: frozenset[str] = frozenset()
    """Event ids whose chaining is on the order log already: a rebuild replaying that log
    does not publish it again (the bootstrap's class, set by the rebuild alone)."""

    def declared_personal(
        self, event_type: str, version: int, data: Mapping[str, Any]
    ) -> list[PersonalValue]:
        """The values at the fields the catalogue declares personal for this type and version
        (still in clear: a marker there is no value); none for a type it does not know."""
        try:
            return self._catalogue.personal_values(event_type, version, data)
        except UnknownEventType:
            return []

    async def subject_key(self, account_id: str, *, create: bool = False) -> bytes | None:
        """The account's commitment key; a new random one if `create` and there is none."""
        k = audit_subject_keys
        found = (
            await self.session.execute(select(k.c.key).where(k.c.account_id == account_id))
        ).scalar_one_or_none()
        if found is None and create:
            # Events of one account arrive on several topics, so two consumers may create
            # its key at once: the first one in wins and both use it.
            postgres = self.session.get_bind().dialect.name == "postgresql"
            dialect = postgresql if postgres else sqlite
            await self.session.execute(
                dialect.insert(k)
                .values(account_id=account_id, key=secrets.token_bytes(32), created_at=self.now)
                .on_conflict_do_nothing(index_elements=[k.c.account_id])
            )
            return await self.subject_key(account_id)
        return found

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._trail = _StagedTrail()
        self._appended = 0
        return self

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """Read what chaining `envelopes` needs in three queries, whatever their number:
        which are on the trail already, each account's head, and the commitment keys;
        from then on `append_entry` stages its rows and `commit` inserts them together."""
        trail, t = self._trail, audit_entries
        ids = [str(e.id) for e in envelopes]
        accounts = sorted({e.account_id for e in envelopes})
        for chunk in in_chunks(ids):
            found = await self.session.execute(select(t.c.event_id).where(t.c.event_id.in_(chunk)))
            trail.present.update(found.scalars())
        trail.looked_up.update(ids)
        for chunk in in_chunks(accounts):
            top = (
                select(t.c.account_id, func.max(t.c.seq).label("seq"))
                .where(t.c.account_id.in_(chunk))
                .group_by(t.c.account_id)
                .subquery()
            )
            heads = await self.session.execute(
                select(t.c.account_id, t.c.seq, t.c.hash).join(
                    top, (t.c.account_id == top.c.account_id) & (t.c.seq == top.c.seq)
                )
            )
            trail.heads.update({r.account_id: (r.seq, r.hash) for r in heads})
            trail.heads.update({a: (0, GENESIS) for a in chunk if a not in trail.heads})
        personal = sorted(
            {
                e.account_id
                for e in envelopes
                # A key only for what will be chained: an erased account's events are on
                # its restored trail already, and erasure must leave it without a key.
                if str(e.id) not in trail.present
                and self.declared_personal(e.type, e.schema_version, e.data)
            }
        )
        if personal:
            trail.keys.update(await self._subject_keys(personal))
        trail.staging = True

    async def _subject_keys(self, accounts: list[str]) -> dict[str, bytes]:
        """The accounts' commitment keys, creating the missing ones (first writer wins)."""
        k = audit_subject_keys
        keys: dict[str, bytes] = {}
        for chunk in in_chunks(accounts):
            rows = await self.session.execute(
                select(k.c.account_id, k.c.key).where(k.c.account_id.in_(chunk))
            )
            keys.update({r.account_id: r.key for r in rows})
        missing = [a for a in accounts if a not in keys]
        if missing:
            # Events of one account arrive on several topics, so two consumers may create
            # its key at once: the first one in wins and both read and use that one.
            dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
            await self.session.execute(
                dialect.insert(k).on_conflict_do_nothing(index_elements=[k.c.account_id]),
                [
                    {"account_id": a, "key": secrets.token_bytes(32), "created_at": self.now}
                    for a in missing
                ],
            )
            for chunk in in_chunks(missing):
                rows = await self.session.execute(
                    select(k.c.account_id, k.c.key).where(k.c.account_id.in_(chunk))
                )
                keys.update({r.account_id: r.key for r in rows})
        return keys

    async def append_entry(self, env: Envelope) -> tuple[int, str] | None:
        """Chain an event onto its account's trail: its (seq, hash); None if already there.

        Its personal fields are chained as commitments and their values kept beside the
        chain (audit_personal_values). After `prefetch` nothing is read or written here:
        the rows are staged and inserted at commit, one statement per table.
        """
        trail, t, event_id = self._trail, audit_entries, str(env.id)
        if event_id in trail.present:
            return None
        if event_id not in trail.looked_up:
            found = await self.session.execute(select(t.c.seq).where(t.c.event_id == event_id))
            if found.first():
                return None
        head = trail.heads.get(env.account_id)
        if head is None:
            row = (
                await self.session.execute(
                    select(t.c.seq, t.c.hash)
                    .where(t.c.account_id == env.account_id)
                    .order_by(t.c.seq.desc())
                    .limit(1)
                )
            ).first()
            head = (row.seq, row.hash) if row else (0, GENESIS)
        seq, prev = head[0] + 1, head[1]
        personal = self.declared_personal(env.type, env.schema_version, env.data)
        key = None
        if personal:
            key = trail.keys.get(env.account_id) or await self.subject_key(
                env.account_id, create=True
            )
            assert key is not None
            trail.keys[env.account_id] = key
        values = [
            {"account_id": env.account_id, "seq": seq, "path": v.path, "value": v.value}
            for v in personal
        ]
        body = self.chained_body(env, key, personal)
        assert body is not None
        hashed = link_canonical(prev, body)
        entry = {
            "account_id": env.account_id,
            "seq": seq,
            "event_id": event_id,
            "type": env.type,
            "source": env.source,
            "occurred_at": env.occurred_at,
            "recorded_at": env.recorded_at,
            "ingested_at": self.now,
            "event": body.decode(),
            "hash": hashed,
            "prev_hash": prev,
        }
        trail.heads[env.account_id] = (seq, hashed)
        if event_id not in self.logged:
            trail.chained.append(
                ChainedEntry(account_id=env.account_id, seq=seq, event_id=event_id, hash=hashed)
            )
        trail.present.add(event_id)
        trail.looked_up.add(event_id)
        trail.entries.append(entry)
        trail.values.extend(values)
        if not trail.staging:
            await self._flush_trail()
        self._count_append()
        return seq, hashed

    def _count_append(self) -> None:
        # One hook per transaction adds its appends to the counter once it commits.
        metrics = self.metrics
        if metrics is None:
            return
        self._appended += 1
        if self._appended == 1:
            self.after_commit(lambda: metrics.audit_appends.inc(self._appended))

    def chained_body(
        self, env: Envelope, key: bytes | None, personal: list[PersonalValue] | None = None
    ) -> bytes | None:
        """The bytes an event is chained as: its personal fields (`personal`, else what the
        catalogue declares) as commitments under the account's key; None for an event with
        personal fields and no key (erased)."""
        event = env.model_dump(mode="json")
        if personal is None:
            personal = self.declared_personal(env.type, env.schema_version, env.data)
        if personal:
            if key is None:
                return None
            event["data"] = commit(event["data"], personal, str(env.id), key)
        return canonical(event)

    async def flush(self) -> None:
        """Insert the staged trail rows and queue the order they were chained in, then the
        platform's staged rows."""
        await self._flush_trail()
        await self._log_order()
        await super().flush()

    async def _log_order(self) -> None:
        trail = self._trail
        if not trail.chained or self.order_topic is None:
            return
        chained, trail.chained = trail.chained, []
        facts = [
            new_envelope(
                TrailChained(entries=chained[i : i + MAX_ITEMS]),
                account_id="*",
                occurred_at=self.now,
                recorded_at=self.now,
                source=SOURCE,
            )
            for i in range(0, len(chained), MAX_ITEMS)
        ]
        await self.outbox.add(self.order_topic, facts)

    async def _flush_trail(self) -> None:
        trail = self._trail
        if trail.entries:
            await self.session.execute(insert(audit_entries), trail.entries)
            trail.entries = []
        if trail.values:
            await self.session.execute(insert(audit_personal_values), trail.values)
            trail.values = []

    async def last_activity(self, account_id: str) -> tuple[int, datetime] | None:
        """The account's head seq and when its newest event (audit's own erasures aside)
        occurred; None without a trail."""
        t = audit_entries
        row = (
            await self.session.execute(
                select(func.max(t.c.seq), func.max(t.c.occurred_at)).where(
                    t.c.account_id == account_id, t.c.type != ERASURE
                )
            )
        ).first()
        if row is None or row[0] is None:
            return None
        head = (
            await self.session.execute(
                select(func.max(t.c.seq)).where(t.c.account_id == account_id)
            )
        ).scalar_one()
        return int(head), utc(row[1])

    async def erase_personal_values(self, account_id: str) -> int:
        """Delete the account's personal values and its commitment key; how many values."""
        v = audit_personal_values
        count = (
            await self.session.execute(
                select(func.count()).select_from(v).where(v.c.account_id == account_id)
            )
        ).scalar_one()
        await self.session.execute(delete(v).where(v.c.account_id == account_id))
        k = audit_subject_keys
        await self.session.execute(delete(k).where(k.c.account_id == account_id))
        return int(count)

    async def freeze(self, account_id: str) -> None:
        """Keep the account's trail as chained now, for a rebuild to restore (not re-read)."""
        f, t = audit_frozen_entries, audit_entries
        await self.session.execute(delete(f).where(f.c.account_id == account_id))
        await self.session.execute(
            insert(f).from_select(
                [c.name for c in t.c], select(t).where(t.c.account_id == account_id)
            )
        )

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
            query = filters.apply(query)
        rows = (await self.session.execute(query.order_by(t.c.seq).limit(limit))).all()
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
        rows = await self.session.execute(
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
                await self.session.execute(
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
        broken = verify_chain(account_id, entries)
        if broken is not None and self.metrics is not None:
            self.metrics.audit_verify_failures.inc()
        return broken

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
        for r in await self.session.execute(query.order_by(dl.c.id)):
            owner = r.account_id or (r.key or b"").decode("utf-8", "replace")
            if owner:
                letters.setdefault(owner, []).append(f"{r.id} ({r.kind})")
        waiting = select(parked.c.account_id, func.count()).where(parked.c.consumer == consumer)
        if account_id is not None:
            waiting = waiting.where(parked.c.account_id == account_id)
        behind = {
            a: int(n) for a, n in await self.session.execute(waiting.group_by(parked.c.account_id))
        }
        out = {}
        for owner in sorted(set(letters) | set(behind)):
            parts = []
            if owner in letters:
                parts.append(f"unresolved dead letters {', '.join(letters[owner])}")
            if behind.get(owner):
                parts.append(f"{behind[owner]} records parked behind them")
            out[owner] = (
                "records of this account are not on the trail: "
                + "; ".join(parts)
                + " (see arrears dlq list audit)"
            )
        return out

    async def heads(self) -> list[tuple[str, int, str]]:
        """Every account's newest entry: (account id, seq, hash), by account id."""
        t = audit_entries
        newest = (
            select(t.c.account_id, func.max(t.c.seq).label("seq"))
            .group_by(t.c.account_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(t.c.account_id, t.c.seq, t.c.hash)
            .join(newest, (t.c.account_id == newest.c.account_id) & (t.c.seq == newest.c.seq))
            .order_by(t.c.account_id)
        )
        return [(r.account_id, int(r.seq), r.hash) for r in rows]

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint."""
        await self.session.execute(
            insert(checkpoints).values(
                at=datetime.fromisoformat(checkpoint["at"]),
                size=checkpoint["size"],
                root=checkpoint["root"],
                heads=json.dumps(checkpoint["heads"]),
                signature=checkpoint["signature"],
                public_key=checkpoint["public_key"],
            )
        )

    async def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest signed checkpoint, as it was signed."""
        row = (
            (
                await self.session.execute(
                    select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)
                )
            )
            .mappings()
            .first()
        )
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

    async def all_checkpoints(self) -> list[dict[str, Any]]:
        """Every kept checkpoint's id, time and root, oldest first."""
        rows = await self.session.execute(
            select(checkpoints.c.id, checkpoints.c.at, checkpoints.c.root).order_by(
                checkpoints.c.id
            )
        )
        return [{"id": int(r.id), "at": utc(r.at).isoformat(), "root": r.root} for r in rows]

    async def published_compare(self) -> dict[str, Any] | None:
        """The last clean comparison with the published checkpoints, as it was signed."""
        pc = published_compare
        row = (await self.session.execute(select(pc).where(pc.c.id == 1))).mappings().first()
        if row is None:
            return None
        return {**row, "verified_at": utc(row["verified_at"]).isoformat()}

    async def save_published_compare(self, state: dict[str, Any]) -> None:
        """Remember a clean comparison (the caller commits)."""
        pc = published_compare
        values = {**state, "verified_at": datetime.fromisoformat(state["verified_at"])}
        await self.session.execute(delete(pc))
        await self.session.execute(insert(pc).values(id=1, **values))

    async def entry_hash(self, account_id: str, seq: int) -> str | None:
        """The stored hash of one entry, or None if there is no such entry."""
        t = audit_entries
        row = await self.session.execute(
            select(t.c.hash).where(t.c.account_id == account_id, t.c.seq == seq)
        )
        return row.scalar_one_or_none()

    async def stored_entries(self, account_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        """Entries exactly as stored (the hashed event text included), up to a seq."""
        t = audit_entries
        rows = await self.session.execute(
            select(t.c.seq, t.c.event_id, t.c.type, t.c.source, t.c.event, t.c.hash, t.c.prev_hash)
            .where(t.c.account_id == account_id, t.c.seq <= up_to_seq)
            .order_by(t.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    async def head(self, account_id: str) -> tuple[int, str] | None:
        """The account's newest entry (seq, hash), or None without a trail."""
        t = audit_entries
        row = (
            await self.session.execute(
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
        found = await self.session.execute(
            select(t.c.seq).where(t.c.account_id == account_id).limit(1)
        )
        return found.first() is not None

    async def accounts(self) -> list[str]:
        """Every account with a trail."""
        t = audit_entries
        result = await self.session.execute(
            select(t.c.account_id).distinct().order_by(t.c.account_id)
        )
        return [r[0] for r in result]

    async def log_access(
        self,
        principal: Principal,
        action: str,
        purpose: str,
        account_id: str | None,
        filters: dict[str, Any],
    ) -> None:
        """Record who read, exported or verified what, and why (the caller commits)."""
        await self.session.execute(
            insert(access_log).values(
                at=self.now,
                subject=principal.subject,
                role=principal.role,
                action=action,
                purpose=purpose,
                account_id=account_id,
                filters=json.dumps(filters, sort_keys=True, default=str),
            )
        )

    async def access_entries(
        self, after_id: int, limit: int, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The access log, oldest first."""
        query = select(access_log).where(access_log.c.id > after_id)
        if account_id is not None:
            query = query.where(access_log.c.account_id == account_id)
        rows = (await self.session.execute(query.order_by(access_log.c.id).limit(limit))).mappings()
        return [
            {**dict(r), "at": utc(r["at"]).isoformat(), "filters": json.loads(r["filters"])}
            for r in rows
        ]


@dataclass(frozen=True)
class HistoryFilters:
    """What a compliance reader narrowed the trail to; both "as of" axes included."""

    types: tuple[str, ...] = ()
    source: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    as_of_occurred: datetime | None = None
    as_of_recorded: datetime | None = None

    def apply(self, query: Any) -> Any:
        """Narrow a select over the trail."""
        t = audit_entries
        if self.types:
            query = query.where(t.c.type.in_(self.types))
        if self.source:
            query = query.where(t.c.source == self.source)
        if self.occurred_from:
            query = query.where(t.c.occurred_at >= self.occurred_from)
        if self.occurred_to:
            query = query.where(t.c.occurred_at < self.occurred_to)
        if self.as_of_occurred:
            query = query.where(t.c.occurred_at <= self.as_of_occurred)
        if self.as_of_recorded:
            # What the system knew then: recorded by a service by that time (an event no
            # service stamped counts from when audit received it).
            known = func.coalesce(t.c.recorded_at, t.c.ingested_at)
            query = query.where(known <= self.as_of_recorded)
        return query

    def describe(self) -> dict[str, Any]:
        """The filters as logged in the access log."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, ())}
