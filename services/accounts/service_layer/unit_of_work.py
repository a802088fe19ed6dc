"""The accounts unit of work: the platform's, plus the account repository, snapshots and
the book's closes of every account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts.adapters import snapshots as snapshot_codec
from services.accounts.adapters.tables import (
    account_index,
    book_closes,
    snapshot_tables,
    submissions,
)
from services.accounts.domain.model import Account
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies
from services.accounts.service_layer.projections import account_rows
from shared.cache import AggregateCache
from shared.catalogue import Catalogue
from shared.db import in_chunks
from shared.envelope import Envelope, decode_envelope
from shared.events.inbound import PLATFORM_ACCOUNT, AccountOpened, BusinessDayClosed
from shared.eventstore.rebuild import Row, write_rows
from shared.eventstore.snapshots import Snapshot, SnapshotStore
from shared.eventstore.store import EventStore
from shared.pii import redact
from shared.uow import SqlUnitOfWork


def stream_id(account_id: str) -> str:
    """The event stream of one account."""
    return f"account-{account_id}"


class AccountRepository:
    """Loads accounts from their streams; saves their new events."""

    def __init__(
        self,
        session: AsyncSession,
        events: EventStore,
        policies: Policies,
        cache: AggregateCache[Account] | None = None,
        snapshots: SnapshotStore | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self._session = session
        self._events = events
        self._policies = policies
        self._cache = cache
        self._snapshots = snapshots
        self._catalogue = catalogue
        # Accounts already loaded in this transaction (an identity map): a consumer run of
        # several events of one account replays its stream once, not once per event. Safe
        # because the unit of work lives for one transaction and `save` applies what it
        # appends to the same object; a failed run discards the unit of work with it.
        self._seen: dict[str, Account] = {}
        self._projected: list[tuple[Table, Row]] = []
        self._entries: dict[str, tuple[datetime, str | None] | None] = {}

    async def get(self, account_id: str) -> Account:
        """The account as its stream says; a never-opened account has no customer."""
        if account_id not in self._seen:
            await self.prefetch([account_id])
        return self._seen[account_id]

    async def prefetch(self, account_ids: Sequence[str]) -> None:
        """Load several accounts into this transaction's identity map: those the cache
        holds at their stream's current version from it (one version query), the rest
        from their snapshots and the events after them (two queries), or from their whole
        streams (one query) where snapshots are off."""
        wanted = [a for a in dict.fromkeys(account_ids) if a not in self._seen]
        if not wanted:
            return
        if self._cache is not None and len(self._cache):
            versions = await self._events.versions([stream_id(a) for a in wanted])
            for account_id in wanted:
                cached = self._cache.take(account_id, versions[stream_id(account_id)])
                if cached is not None:
                    self._seen[account_id] = cached
            wanted = [a for a in wanted if a not in self._seen]
        if not wanted:
            return
        if self._snapshots is not None:
            await self._load_from_snapshots(wanted)
            return
        streams = await self._events.load_many([stream_id(a) for a in wanted])
        for account_id in wanted:
            events, version = streams[stream_id(account_id)]
            self._seen[account_id] = Account.from_events(
                account_id, events, version, self._policies
            )

    async def _load_from_snapshots(self, wanted: Sequence[str]) -> None:
        assert self._snapshots is not None and self._catalogue is not None
        await self._events.flush()  # a tail must see this transaction's own appends
        found = await self._snapshots.load_many(
            [stream_id(a) for a in wanted], snapshot_codec.SCHEMA_VERSION
        )
        start: dict[str, Account] = {}
        for account_id in wanted:
            snap = found.get(stream_id(account_id))
            decoded = None
            if snap is not None:
                decoded = snapshot_codec.decode(
                    snap.state, account_id, snap.stream_version, self._policies, self._catalogue
                )
            start[account_id] = decoded or Account(account_id, policies=self._policies)
        tails = await self._snapshots.tails({stream_id(a): start[a].version for a in wanted})
        for account_id, account in start.items():
            events, version = tails[stream_id(account_id)]
            for env in events:
                account.apply(env)
            account.version = version
            self._seen[account_id] = account

    def committed(self) -> None:
        """Keep this transaction's accounts for the next (their changes are durable now)."""
        if self._cache is not None:
            for account_id, account in self._seen.items():
                if account.version:
                    self._cache.put(account_id, account)
        self._seen.clear()

    async def history(
        self, account_id: str, types: Sequence[str], offset: int, limit: int
    ) -> list[Envelope]:
        """A page of the account's events of the given types, in stream order."""
        return await self._events.of_types(stream_id(account_id), types, offset, limit)

    def project(self, envelopes: Sequence[Envelope]) -> None:
        """Stage the read-model rows of events appended to account streams (the index of
        opened accounts, for day closes that cover every account)."""
        for env in envelopes:
            self._projected.extend(account_rows(env))

    async def opened_by(self, account_id: str) -> str | None:
        """Who opened the account (None: unknown account, or opened before owners were kept)."""
        await self.flush()
        row = await self._session.execute(
            select(account_index.c.opened_by).where(account_index.c.account_id == account_id)
        )
        return row.scalar_one_or_none()

    async def index_entry(self, account_id: str) -> tuple[datetime, str | None] | None:
        """When the account was opened and by whom, as the index says (None: not indexed);
        read once per transaction."""
        if account_id not in self._entries:
            await self.flush()
            t = account_index
            row = (
                await self._session.execute(
                    select(t.c.opened_at, t.c.opened_by).where(t.c.account_id == account_id)
                )
            ).first()
            self._entries[account_id] = None if row is None else (row[0], row[1])
        return self._entries[account_id]

    async def owners(self, account_ids: Sequence[str]) -> dict[str, str | None]:
        """Who opened each of these accounts (absent: unknown), in one query per chunk."""
        await self.flush()
        found: dict[str, str | None] = {}
        t = account_index
        for chunk in in_chunks(list(dict.fromkeys(account_ids))):
            rows = await self._session.execute(
                select(t.c.account_id, t.c.opened_by).where(t.c.account_id.in_(chunk))
            )
            found.update({account_id: owner for account_id, owner in rows})
        return found

    async def flush(self) -> None:
        """Write the read-model rows staged in this transaction, a statement per table."""
        if self._projected:
            rows, self._projected = self._projected, []
            await write_rows(self._session, rows)

    async def id_pages(self, size: int, opened_by: str | None = None) -> AsyncIterator[list[str]]:
        """Every open account id (of one opener, if given) in pages of `size`, in id order:
        keyset pages, so a book of millions is never in memory at once."""
        await self.flush()
        after = ""
        while True:
            query = (
                select(account_index.c.account_id)
                .where(account_index.c.account_id > after)
                .order_by(account_index.c.account_id)
                .limit(size)
            )
            if opened_by is not None:
                query = query.where(account_index.c.opened_by == opened_by)
            page = [r[0] for r in await self._session.execute(query)]
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1]


ALL_ACCOUNTS = ""
"""The scope of a close of every account that covered every account (not one opener's)."""

BOOK_LOCK = 0x61727265_61727301
"""The PostgreSQL advisory lock that orders openings against closes of every account."""


def _fans_out(env: Envelope) -> bool:
    """Whether handling `env` fans a close of every account out (and books its date)."""
    return env.type == BusinessDayClosed.event_type and env.account_id == PLATFORM_ACCOUNT


@dataclass(frozen=True)
class BookClose:
    """A business date a close of every account closed, and that close (the `*` event)."""

    business_date: date
    event: Envelope


class BookCloses:
    """The business dates closes of every account closed, per scope: ALL_ACCOUNTS, or the
    integrator whose own accounts an integrator-scoped `*` close covered.

    Written in the fan-out's transaction, so the book holds a date exactly when its
    per-account closes are in the outbox; read by an account that was not in the index
    then (opened, or applied, later) to catch up the closes it missed.
    """

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self._bounds: dict[str, tuple[date, date]] | None = None

    async def record(self, scope: str, business_date: date, event: Envelope) -> bool:
        """Book `event` as the close of `business_date` for `scope`; False (and nothing
        written) when that date of that scope was booked already, by this close or another."""
        t = book_closes
        dialect = postgresql if self._session.get_bind().dialect.name == "postgresql" else sqlite
        # A write before any read: on SQLite it starts the transaction and takes the write
        # lock, so the fan-out's read of the index that follows sees every committed opening.
        statement = (
            dialect.insert(t)
            .values(
                scope=scope,
                business_date=business_date,
                closed_at=self._now,
                event_id=str(event.id),
                event=event.to_json().decode(),
            )
            .on_conflict_do_nothing(index_elements=[t.c.scope, t.c.business_date])
        )
        result = await self._session.execute(statement)
        self._bounds = None
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def bounds(self) -> dict[str, tuple[date, date]]:
        """The first and the latest booked date of each scope (read once per transaction,
        and again after a close is booked in it)."""
        if self._bounds is None:
            t = book_closes
            rows = await self._session.execute(
                select(
                    t.c.scope, func.min(t.c.business_date), func.max(t.c.business_date)
                ).group_by(t.c.scope)
            )
            self._bounds = {scope: (first, last) for scope, first, last in rows}
        return self._bounds

    async def span(
        self, scopes: Sequence[str], on_or_after: date, before: date | None = None
    ) -> tuple[BookClose, BookClose] | None:
        """The first and the last close booked for any of `scopes` on or after `on_or_after`
        (and before `before`, if given); None if there is none."""
        t = book_closes
        query = select(t.c.business_date, t.c.event).where(
            t.c.scope.in_(list(scopes)), t.c.business_date >= on_or_after
        )
        if before is not None:
            query = query.where(t.c.business_date < before)
        ends = []
        for order in (t.c.business_date.asc(), t.c.business_date.desc()):
            row = (await self._session.execute(query.order_by(order, t.c.scope).limit(1))).first()
            if row is None:
                return None
            ends.append(BookClose(row[0], decode_envelope(row[1])))
        return ends[0], ends[1]


class SubmissionLog:
    """Each integrator's submitted event ids and what became of them (latest outcome)."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def record(self, submitter: str, outcomes: Sequence[tuple[str, str, str | None]]) -> None:
        """Store (event_id, status, reason) outcomes; a resubmission replaces the old one.

        A duplicate of an accepted event stays recorded as accepted.
        """
        t = submissions
        ids = list(dict.fromkeys(event_id for event_id, _, _ in outcomes))
        known: set[str] = set()
        # Three statements per batch whatever its size: which ids are known, delete the
        # ones replaced, insert the new outcomes together.
        for chunk in in_chunks(ids):
            found = await self._session.execute(
                select(t.c.event_id).where(t.c.submitter == submitter, t.c.event_id.in_(chunk))
            )
            known.update(found.scalars())
        rows: dict[str, dict[str, object]] = {}
        for event_id, status, reason in outcomes:
            if status == "duplicate":
                if event_id in known or event_id in rows:
                    continue
                status, reason = "accepted", None  # accepted earlier by another channel
            rows[event_id] = {
                "submitter": submitter,
                "event_id": event_id,
                "status": status,
                "reason": redact(reason) if reason else None,
                "submitted_at": self._now,
            }
        replaced = [event_id for event_id in rows if event_id in known]
        for chunk in in_chunks(replaced):
            await self._session.execute(
                delete(t).where(t.c.submitter == submitter, t.c.event_id.in_(chunk))
            )
        if rows:
            await self._session.execute(insert(t), list(rows.values()))

    async def get(self, submitter: str, event_id: str) -> dict[str, object] | None:
        """One submission of this submitter, or None (another's looks like none)."""
        t = submissions
        row = (
            (
                await self._session.execute(
                    select(t).where(t.c.submitter == submitter, t.c.event_id == event_id)
                )
            )
            .mappings()
            .first()
        )
        return _submission(row) if row else None

    async def list(
        self, submitter: str, status: str | None, offset: int, limit: int
    ) -> list[dict[str, object]]:
        """This submitter's submissions, newest first, a page at a time."""
        t = submissions
        query = select(t).where(t.c.submitter == submitter)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.submitted_at.desc(), t.c.event_id).offset(offset).limit(limit)
        return [_submission(r) for r in (await self._session.execute(query)).mappings()]


def _submission(row: Any) -> dict[str, object]:
    return {
        "event_id": row["event_id"],
        "status": row["status"],
        "reason": row["reason"],
        "submitted_at": row["submitted_at"].isoformat(),
    }


class AccountsUnitOfWork(SqlUnitOfWork):
    """One transaction over the accounts database."""

    # The servicing policy; bootstrap subclasses this with the deployment's policy file.
    policies: Policies = DEFAULT_POLICIES
    # Accounts kept across transactions; bootstrap gives each runtime its own.
    cache: AggregateCache[Account] | None = None
    # Snapshot an account each time its stream passes a multiple of this (0: never).
    snapshot_every: int = 0

    async def __aenter__(self) -> AccountsUnitOfWork:
        await super().__aenter__()
        self.snapshots = SnapshotStore(self.session, snapshot_tables, self._catalogue, self.now)
        self.accounts = AccountRepository(
            self.session,
            self.events,
            self.policies,
            self.cache,
            self.snapshots if self.snapshot_every else None,
            self._catalogue,
        )
        self.submissions = SubmissionLog(self.session, self.now)
        self.book = BookCloses(self.session, self.now)
        self._book_lock: bool | None = None  # None: not taken; else whether exclusively
        return self

    async def order_with_fan_outs(self, *, exclusive: bool) -> None:
        """Order this transaction against closes of every account: an opening that then
        reads the book, and a fan-out that books a close and then reads the index, never
        miss each other's write (one of them sees the other's commit).

        PostgreSQL: an advisory lock held to commit, shared by openings and exclusive for a
        fan-out. SQLite: its one writer at a time does it, once this transaction has
        written (pysqlite begins a transaction at the first write, not the first read);
        staged writes are flushed for that, once.
        """
        if self._book_lock is not None and (self._book_lock or not exclusive):
            return
        if self.session.get_bind().dialect.name == "postgresql":
            fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            await self.session.execute(text(f"SELECT {fn}(:key)"), {"key": BOOK_LOCK})
        elif self._book_lock is None:
            await self.flush()
        self._book_lock = exclusive or bool(self._book_lock)

    async def commit(self) -> None:
        """Commit, then keep the accounts this transaction loaded for the next one."""
        await super().commit()
        self.accounts.committed()

    async def flush(self) -> None:
        """The platform's staged rows and the account index's."""
        await super().flush()
        await self.accounts.flush()
        await self.snapshots.flush()

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """The accounts a run's events name (a close of every account fans out later, so
        `*` is not one), after the book lock in the strongest mode the run will want."""
        if self.session.get_bind().dialect.name == "postgresql":
            # Taken before anything is written, in the run's strongest mode: a run of
            # openings and a `*` close that took it shared at an opening and then wanted
            # it exclusive deadlocked against another run doing the same, and waiting for
            # it while holding row locks could close a cycle with the exclusive holder.
            # (SQLite needs none of this: its one writer already orders them.)
            if any(_fans_out(e) for e in envelopes):
                await self.order_with_fan_outs(exclusive=True)
            elif any(e.type == AccountOpened.event_type for e in envelopes):
                await self.order_with_fan_outs(exclusive=False)
        await self.accounts.prefetch([e.account_id for e in envelopes if e.account_id != "*"])

    async def save(
        self, account: Account, facts: Sequence[Envelope], emitted: Sequence[Envelope], topic: str
    ) -> None:
        """Append received facts and emitted events to the stream; queue the emitted for `topic`."""
        new = [*facts, *emitted]
        stream = stream_id(account.account_id)
        await self.events.append(stream, account.version, new)
        self.accounts.project(new)
        for env in new:
            account.apply(env)
        before, account.version = account.version, account.version + len(new)
        await self.outbox.add(topic, emitted)
        every = self.snapshot_every
        if every and account.version // every > before // every:
            state = snapshot_codec.encode(account)
            schema = snapshot_codec.SCHEMA_VERSION
            self.snapshots.stage(Snapshot(stream, schema, account.version, state))
