"""The audit unit of work: the platform's transaction and stores, the audit repositories
(`service_layer.ports`, implemented in `adapters`), and chaining a transaction's events
onto their accounts' trails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from services.audit.adapters.backlog import SqlBacklog
from services.audit.adapters.repository import SqlAccessLog, SqlCheckpoints, SqlTrail
from services.audit.domain.chain import GENESIS, canonical, link_canonical
from services.audit.domain.filters import HistoryFilters
from services.audit.domain.personal import commit
from services.audit.domain.verify import BrokenLink
from services.audit.service_layer.ports import AccessLog, Backlog, Checkpoints, Head, Trail
from services.audit.service_layer.view_cache import ViewCache
from shared.bounds import MAX_ITEMS
from shared.catalogue import PersonalValue, new_envelope
from shared.envelope import Envelope
from shared.errors import UnknownEventType
from shared.events.audit import ChainedEntry, TrailChained
from shared.uow import SqlUnitOfWork

__all__ = ["SOURCE", "AuditUnitOfWork", "HistoryFilters"]

SOURCE = "audit"
"""The source of the events audit itself produces."""


@dataclass
class _Chaining:
    """What one transaction knows of the trail it chains onto (the rows it chained are
    staged in the trail repository)."""

    staging: bool = False
    looked_up: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    heads: dict[str, Head] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)
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

    trail: Trail
    checkpoints: Checkpoints
    access: AccessLog
    backlog: Backlog

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.trail = SqlTrail(self.session, self.now)
        self.checkpoints = SqlCheckpoints(self.session)
        self.access = SqlAccessLog(self.session, self.now)
        self.backlog = SqlBacklog(self.session)
        self._begin_chaining()
        self._appended = 0
        return self

    async def verify(self, account_id: str) -> BrokenLink | None:
        """The first broken link of the account's chain, or None; a broken one is counted."""
        broken = await self.trail.verify(account_id)
        if broken is not None and self.metrics is not None:
            self.metrics.audit_verify_failures.inc()
        return broken

    def _begin_chaining(self) -> None:
        """Forget what the last transaction knew of the trail."""
        self._chaining = _Chaining()

    def declared_personal(
        self, event_type: str, version: int, data: Mapping[str, Any]
    ) -> list[PersonalValue]:
        """The values at the fields the catalogue declares personal for this type and version
        (still in clear: a marker there is no value); none for a type it does not know."""
        try:
            return self._catalogue.personal_values(event_type, version, data)
        except UnknownEventType:
            return []

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """Read what chaining `envelopes` needs in three queries, whatever their number:
        which are on the trail already, each account's head, and the commitment keys;
        from then on `append_entry` stages its rows and `commit` inserts them together."""
        state = self._chaining
        ids = [str(e.id) for e in envelopes]
        state.present.update(await self.trail.present(ids))
        state.looked_up.update(ids)
        state.heads.update(await self.trail.heads_of(sorted({e.account_id for e in envelopes})))
        personal = sorted(
            {
                e.account_id
                for e in envelopes
                # A key only for what will be chained: an erased account's events are on
                # its restored trail already, and erasure must leave it without a key.
                if str(e.id) not in state.present
                and self.declared_personal(e.type, e.schema_version, e.data)
            }
        )
        if personal:
            state.keys.update(await self.trail.subject_keys(personal))
        state.staging = True

    async def append_entry(self, env: Envelope) -> tuple[int, str] | None:
        """Chain an event onto its account's trail: its (seq, hash); None if already there.

        Its personal fields are chained as commitments and their values kept beside the
        chain (audit_personal_values). After `prefetch` nothing is read or written here:
        the rows are staged and inserted at commit, one statement per table.
        """
        state, event_id = self._chaining, str(env.id)
        if event_id in state.present:
            return None
        if event_id not in state.looked_up and await self.trail.contains(event_id):
            return None
        head = state.heads.get(env.account_id)
        if head is None:
            head = await self.trail.head(env.account_id) or (0, GENESIS)
        seq, prev = head[0] + 1, head[1]
        personal = self.declared_personal(env.type, env.schema_version, env.data)
        key = None
        if personal:
            key = state.keys.get(env.account_id) or await self.trail.subject_key(
                env.account_id, create=True
            )
            assert key is not None
            state.keys[env.account_id] = key
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
        state.heads[env.account_id] = (seq, hashed)
        if event_id not in self.logged:
            state.chained.append(
                ChainedEntry(account_id=env.account_id, seq=seq, event_id=event_id, hash=hashed)
            )
        state.present.add(event_id)
        state.looked_up.add(event_id)
        self.trail.stage(entry, values)
        if not state.staging:
            await self.trail.flush()
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
        await self.trail.flush()
        await self._log_order()
        await super().flush()

    async def _log_order(self) -> None:
        state = self._chaining
        if not state.chained or self.order_topic is None:
            return
        chained, state.chained = state.chained, []
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
