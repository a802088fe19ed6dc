"""The accounts repositories on SQL: accounts and their index, the book of closes of
every account, the submission log (the ports in `service_layer.ports`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts.adapters import snapshots as snapshot_codec
from services.accounts.adapters.tables import account_index, book_closes, submissions
from services.accounts.domain.book import (
    BookClose,
    Outcome,
    submission_rows,
    submission_view,
)
from services.accounts.domain.model import Account
from services.accounts.domain.policy import Policies
from shared.cache import AggregateCache
from shared.catalogue import Catalogue
from shared.db import in_chunks
from shared.envelope import Envelope, decode_envelope
from shared.eventstore.rebuild import Row, Rows, write_rows
from shared.eventstore.snapshots import Snapshot, SnapshotStore
from shared.eventstore.store import EventStore

BOOK_LOCK = 0x61727265_61727301
"""The PostgreSQL advisory lock that orders openings against closes of every account."""


def stream_id(account_id: str) -> str:
    """The event stream of one account."""
    return f"account-{account_id}"


async def lock_book(session: AsyncSession, *, exclusive: bool) -> bool:
    """Take PostgreSQL's advisory book lock to commit (shared, or exclusive); False on a
    database without one (SQLite, whose single writer orders transactions instead)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(text(f"SELECT {fn}(:key)"), {"key": BOOK_LOCK})
    return True


class SqlAccountRepository:
    """Loads accounts from their streams (or snapshots and the events after them); saves
    their new events, the read-model rows those yield and, now and then, a snapshot."""

    def __init__(
        self,
        session: AsyncSession,
        events: EventStore,
        snapshots: SnapshotStore,
        policies: Policies,
        catalogue: Catalogue,
        rows: Callable[[Envelope], Rows],
        *,
        cache: AggregateCache[Account] | None = None,
        snapshot_every: int = 0,
    ) -> None:
        self._session = session
        self._events = events
        self._snapshots = snapshots
        self._policies = policies
        self._catalogue = catalogue
        self._rows = rows
        self._cache = cache
        self._snapshot_every = snapshot_every
        # Accounts already loaded in this transaction (an identity map): a consumer run of
        # several events of one account replays its stream once, not once per event. Safe
        # because the unit of work lives for one transaction and `add` applies what it
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
        if self._snapshot_every:
            await self._load_from_snapshots(wanted)
            return
        streams = await self._events.load_many([stream_id(a) for a in wanted])
        for account_id in wanted:
            events, version = streams[stream_id(account_id)]
            self._seen[account_id] = Account.from_events(
                account_id, events, version, self._policies
            )

    async def _load_from_snapshots(self, wanted: Sequence[str]) -> None:
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

    async def add(self, account: Account, envelopes: Sequence[Envelope]) -> None:
        """Stage `envelopes` after the version `account` was loaded at (the unique key on
        stream and version catches a concurrent writer at flush), their read-model rows
        and, each time the stream passes a multiple of `snapshot_every`, a snapshot; apply
        them to `account`."""
        stream = stream_id(account.account_id)
        await self._events.append(stream, account.version, envelopes)
        for env in envelopes:
            self._projected.extend(self._rows(env))
            account.apply(env)
        before, account.version = account.version, account.version + len(envelopes)
        every = self._snapshot_every
        if every and account.version // every > before // every:
            state = snapshot_codec.encode(account)
            schema = snapshot_codec.SCHEMA_VERSION
            self._snapshots.stage(Snapshot(stream, schema, account.version, state))

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
        """Write the read-model rows staged in this transaction, a statement per table (the
        snapshots staged are the unit of work's to flush, with the other platform stores)."""
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


class SqlBookCloses:
    """The book of closes of every account, per scope: ALL_ACCOUNTS, or the integrator
    whose own accounts an integrator-scoped `*` close covered.

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
        # Every opening asks; most are of today, after the book's latest close, and the
        # transaction's cached bounds answer those without a query per opening.
        bounds = await self.bounds()
        known = [bounds[s] for s in scopes if s in bounds]
        if not any(
            last >= on_or_after and (before is None or first < before) for first, last in known
        ):
            return None
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


class SqlSubmissionLog:
    """Each integrator's submitted event ids and what became of them (latest outcome)."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def record(self, submitter: str, outcomes: Sequence[Outcome]) -> None:
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
        rows = submission_rows(submitter, outcomes, known, self._now)
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
        return submission_view(row) if row else None

    async def list(
        self, submitter: str, status: str | None, offset: int, limit: int
    ) -> list[dict[str, object]]:
        """This submitter's submissions, newest first, a page at a time."""
        t = submissions
        query = select(t).where(t.c.submitter == submitter)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.submitted_at.desc(), t.c.event_id).offset(offset).limit(limit)
        return [submission_view(r) for r in (await self._session.execute(query)).mappings()]
