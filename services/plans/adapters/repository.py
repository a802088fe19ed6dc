"""The plans repositories on SQL: plans from their streams, the read models and the inbox
they are projected from, the evidence received (the ports in `service_layer.ports`).

A consumer run loads the rows its accounts will read in one query per table
(`SqlReadModels.prefetch`), answers every later read from memory and writes what it
changed at commit, one statement per table: its cost in statements is the same for one
event as for five hundred.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from services.plans.adapters.tables import (
    account_standings,
    evidence,
    inbox,
    known_accounts,
    plan_bills,
    plan_index,
    platform,
)
from services.plans.domain.plan import Evidence, Plan
from shared.catalogue import Catalogue
from shared.db import in_chunks
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Target
from shared.eventstore.store import EventStore

Row = dict[str, Any]
JSON_COLUMNS = ("balances", "overdue")
"""Standing columns kept as JSON text."""


def stream_id(plan_id: str) -> str:
    """The event stream of one plan."""
    return f"plan-{plan_id}"


def plan_of(envelopes: Sequence[Envelope], catalogue: Catalogue) -> Plan | None:
    """The plan as its stream's events leave it; None for a stream with none."""
    if not envelopes:
        return None
    return Plan.from_events(envelopes[0].account_id, [catalogue.parse(e) for e in envelopes])


def plan_steps(envelopes: Sequence[Envelope], catalogue: Catalogue) -> list[tuple[Envelope, Plan]]:
    """Each event of a plan's stream with the plan as that event left it."""
    parsed = [catalogue.parse(e) for e in envelopes]
    return [(e, Plan.from_events(e.account_id, parsed[:n])) for n, e in enumerate(envelopes, 1)]


KEPT_ONCE_SET = ("activated_on", "ended_on", "offer_basis")
"""Plan row columns a row that lacks them never clears: a run that read the row before
another transaction set one (an offer priced over HTTP) must not undo it."""


def _upsert(conn: Any, table: Table, *, update: bool, keep: Sequence[str] = ()) -> Any:
    """An insert of `table` that replaces (or, without `update`, keeps) a row whose key
    exists, on the connection's dialect; a null in a `keep` column keeps the stored value."""
    bind = conn.get_bind() if hasattr(conn, "get_bind") else conn
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    if not update:
        return statement.on_conflict_do_nothing(index_elements=keys)
    others = {
        c.name: func.coalesce(statement.excluded[c.name], c)
        if c.name in keep
        else statement.excluded[c.name]
        for c in table.columns
        if c.name not in keys
    }
    return statement.on_conflict_do_update(index_elements=keys, set_=others)


class SqlPlanRepository:
    """Plans rebuilt from their streams, once per transaction (an identity map: a run of
    several events of one plan replays its stream once); new events staged after the
    version each plan was loaded at."""

    def __init__(self, events: EventStore, catalogue: Catalogue) -> None:
        self._events = events
        self._catalogue = catalogue
        self._seen: dict[str, Plan | None] = {}

    async def prefetch(self, plan_ids: Sequence[str]) -> None:
        """Load several plans at once (one query per chunk of streams)."""
        wanted = [p for p in dict.fromkeys(plan_ids) if p not in self._seen]
        if not wanted:
            return
        streams = await self._events.load_many([stream_id(p) for p in wanted])
        for plan_id in wanted:
            self._seen[plan_id] = plan_of(streams[stream_id(plan_id)][0], self._catalogue)

    async def get(self, account_id: str, plan_id: str) -> Plan | None:
        """The account's plan as its stream says; None if the account has no such plan."""
        await self.prefetch([plan_id])
        plan = self._seen[plan_id]
        return plan if plan is not None and plan.account_id == account_id else None

    async def add(self, plan: Plan, envelopes: Sequence[Envelope]) -> None:
        """Stage the events `plan` has just applied after the version it had before them
        (the unique key on stream and version catches a concurrent writer at flush)."""
        await self._events.append(stream_id(plan.plan_id), plan.version - len(envelopes), envelopes)
        self._seen[plan.plan_id] = plan

    async def stream(self, plan_id: str) -> list[tuple[Envelope, Plan]]:
        """Each event of the plan's stream, in order, with the plan as that event left it
        (what a rebuild replays)."""
        envelopes, _ = await self._events.load(stream_id(plan_id))
        return plan_steps(envelopes, self._catalogue)


class SqlReadModels:
    """The plans read models and the inbox, read once per transaction and written at
    flush: known accounts, standings, plan rows and plan bills.

    `copies` redirects the projected tables to a rebuild's temporary ones.
    """

    def __init__(
        self, conn: Any, now: datetime | None = None, copies: Mapping[Table, Table] | None = None
    ) -> None:
        self._conn = conn
        self._now = now
        self._copies = dict(copies or {})
        self._known: dict[str, Row | None] = {}
        self._standings: dict[str, Row | None] = {}
        self._plans: dict[str, Row | None] = {}
        self._plans_of: set[str] = set()  # accounts whose every plan row is in _plans
        self._bills: dict[str, list[str]] = {}
        self._facts: list[Row] = []
        self._new_known: dict[str, Row] = {}
        self._new_standings: dict[str, Row] = {}
        self._new_plans: dict[str, Row] = {}
        self._new_bills: list[Row] = []

    def _t(self, table: Table) -> Table:
        return self._copies.get(table, table)

    async def _rows(self, table: Table, column: str, keys: Sequence[str]) -> list[Row]:
        t = self._t(table)
        found: list[Row] = []
        for chunk in in_chunks(list(keys)):
            result = await self._conn.execute(select(t).where(t.c[column].in_(chunk)))
            found.extend(dict(r) for r in result.mappings())
        return found

    async def prefetch(self, account_ids: Sequence[str], plan_ids: Sequence[str] = ()) -> None:
        """Load what these accounts (and plans) have in every read model, a query a table."""
        accounts = list(dict.fromkeys(account_ids))
        await self._load_known([a for a in accounts if a not in self._known])
        await self._load_standings([a for a in accounts if a not in self._standings])
        await self._load_plans_of([a for a in accounts if a not in self._plans_of])
        of_accounts = [p for p, r in self._plans.items() if r and r["account_id"] in accounts]
        await self._load_bills([p for p in (*of_accounts, *plan_ids) if p not in self._bills])

    async def _load_known(self, accounts: Sequence[str]) -> None:
        if accounts:
            rows = {
                r["account_id"]: r for r in await self._rows(known_accounts, "account_id", accounts)
            }
            self._known.update({a: rows.get(a) for a in accounts})

    async def _load_standings(self, accounts: Sequence[str]) -> None:
        if accounts:
            found = await self._rows(account_standings, "account_id", accounts)
            rows = {
                r["account_id"]: {**r, **{c: json.loads(r[c]) for c in JSON_COLUMNS}} for r in found
            }
            self._standings.update({a: rows.get(a) for a in accounts})

    async def _load_plans_of(self, accounts: Sequence[str]) -> None:
        if accounts:
            for row in await self._rows(plan_index, "account_id", accounts):
                self._plans.setdefault(row["plan_id"], row)  # this transaction's own win
            self._plans_of.update(accounts)

    async def _load_bills(self, plan_ids: Sequence[str]) -> None:
        if plan_ids:
            for plan_id in plan_ids:
                self._bills.setdefault(plan_id, [])
            for row in await self._rows(plan_bills, "plan_id", list(dict.fromkeys(plan_ids))):
                self._bills[row["plan_id"]].append(row["bill_id"])

    async def note(self, fact: Fact) -> None:
        """Keep a consumed fact in the inbox, in the order noted."""
        assert self._now is not None, "a rebuild notes no facts"
        self._facts.append(
            {
                "event_id": fact.event_id,
                "type": fact.type,
                "account_id": fact.account_id,
                "business_date": fact.business_date,
                "data": json.dumps(fact.data, sort_keys=True, default=str),
                "consumed_at": self._now,
            }
        )

    async def known_account(self, account_id: str) -> Row | None:
        """The account's currency and product, or None if plans never heard of it."""
        if account_id not in self._known:
            await self._load_known([account_id])
        return self._known[account_id]

    async def add_known_account(self, account_id: str, currency: str, product: str | None) -> None:
        """Remember an opened account (a known one is kept as it is)."""
        row = {"account_id": account_id, "currency": currency, "product": product}
        self._known[account_id] = self._new_known[account_id] = row

    async def standing(self, account_id: str) -> Row | None:
        """The account's standing at its latest close (balances decoded), or None."""
        if account_id not in self._standings:
            await self._load_standings([account_id])
        return self._standings[account_id]

    async def put_standing(self, row: Row) -> None:
        """Replace the account's standing with `row`."""
        self._standings[row["account_id"]] = self._new_standings[row["account_id"]] = row

    async def plans(self, account_id: str) -> list[Row]:
        """Every plan row of the account, in no particular order."""
        if account_id not in self._plans_of:
            await self._load_plans_of([account_id])
        return [r for r in self._plans.values() if r is not None and r["account_id"] == account_id]

    async def plan(self, plan_id: str) -> Row | None:
        """One plan's row, or None if it has none."""
        if plan_id not in self._plans:
            found = await self._rows(plan_index, "plan_id", [plan_id])
            self._plans[plan_id] = found[0] if found else None
        return self._plans[plan_id]

    async def put_plan(self, row: Row) -> None:
        """Replace (or add) one plan's row (a null activation, end or offer basis keeps the
        stored one)."""
        self._plans[row["plan_id"]] = self._new_plans[row["plan_id"]] = row

    async def bills(self, plan_id: str) -> list[str]:
        """The bills accounts issued for the plan's installments."""
        if plan_id not in self._bills:
            await self._load_bills([plan_id])
        return list(self._bills[plan_id])

    async def add_bills(self, plan_id: str, bill_ids: Sequence[str]) -> None:
        """Remember more bills of the plan (none of them known yet)."""
        self._bills.setdefault(plan_id, []).extend(bill_ids)
        self._new_bills.extend({"plan_id": plan_id, "bill_id": b} for b in bill_ids)

    async def page(self, account_id: str, *, offset: int, limit: int) -> list[Row]:
        """A page of the account's plan rows, newest requests first."""
        await self.flush()
        p = self._t(plan_index)
        rows = await self._conn.execute(
            select(p)
            .where(p.c.account_id == account_id)
            .order_by(p.c.requested_on.desc(), p.c.plan_id)
            .offset(offset)
            .limit(limit)
        )
        return [dict(r) for r in rows.mappings()]

    async def close(self, event_id: str) -> Fact | None:
        """The day close in the inbox with this event id."""
        return await self._first_close(inbox.c.event_id == event_id)

    async def first_close(self, account_id: str, business_date: date) -> Fact | None:
        """The account's first close of `business_date` in the inbox that kept a standing."""
        c = inbox.c
        return await self._first_close(
            c.account_id == account_id, c.business_date == business_date, c.data != "{}"
        )

    async def _first_close(self, *where: Any) -> Fact | None:
        await self.flush()
        query = select(inbox).where(inbox.c.type == "AccountDayClosed", *where)
        row = (await self._conn.execute(query.order_by(inbox.c.position).limit(1))).first()
        return None if row is None else Fact.from_row(row)

    async def facts(self, type_: str, account_id: str) -> list[Fact]:
        """The account's facts of one type in the inbox, in the order consumed."""
        await self.flush()
        c = inbox.c
        rows = await self._conn.execute(
            select(inbox).where(c.type == type_, c.account_id == account_id).order_by(c.position)
        )
        return [Fact.from_row(r) for r in rows]

    async def flush(self) -> None:
        """Write what is staged: one statement per table."""
        if self._facts:
            rows, self._facts = self._facts, []
            await self._conn.execute(insert(inbox), rows)
        staged: list[tuple[Table, list[Row], bool | None, Sequence[str]]] = [
            (known_accounts, list(self._new_known.values()), False, ()),
            (account_standings, [self._encoded(r) for r in self._new_standings.values()], True, ()),
            (plan_index, list(self._new_plans.values()), True, KEPT_ONCE_SET),
            (plan_bills, self._new_bills, None, ()),
        ]
        self._new_known, self._new_standings, self._new_plans, self._new_bills = {}, {}, {}, []
        for table, rows, update, keep in staged:
            if not rows:
                continue
            t = self._t(table)
            if update is None:
                statement = insert(t)
            else:
                statement = _upsert(self._conn, t, update=update, keep=keep)
            await self._conn.execute(statement, rows)

    @staticmethod
    def _encoded(row: Row) -> Row:
        return {**row, **{c: json.dumps(row[c]) for c in JSON_COLUMNS}}


class SqlEvidenceRecords:
    """The documents received for each account (their bytes live in the evidence store)."""

    def __init__(self, session: Any, now: datetime) -> None:
        self._session = session
        self._now = now

    async def remember(self, account_id: str, doc: Evidence, received_by: str) -> bool:
        """Note a document received for the account; False if it was already noted."""
        if await self.get(account_id, doc.sha256) is not None:
            return False
        await self._session.execute(
            insert(evidence).values(
                account_id=account_id,
                sha256=doc.sha256,
                kind=doc.kind,
                media_type=doc.media_type,
                size=doc.size,
                received_by=received_by,
                received_at=self._now,
            )
        )
        return True

    async def get(self, account_id: str, sha256: str) -> Evidence | None:
        """A document received for this account (another account's is not found)."""
        e = evidence
        row = (
            await self._session.execute(
                select(e.c.sha256, e.c.media_type, e.c.size, e.c.kind).where(
                    e.c.account_id == account_id, e.c.sha256 == sha256
                )
            )
        ).first()
        return Evidence(row.sha256, row.media_type, row.size, row.kind) if row else None

    async def list(self, account_id: str) -> list[Row]:
        """Every document received for the account, oldest first."""
        e = evidence
        rows = await self._session.execute(
            select(e).where(e.c.account_id == account_id).order_by(e.c.received_at, e.c.sha256)
        )
        return [dict(r) for r in rows.mappings()]


def rebuild_ports(t: Target) -> tuple[SqlPlanRepository, SqlReadModels]:
    """The plan streams and the read models as a rebuild sees them: the store and the
    inbox as they are, the projected tables redirected to the rebuild's copies."""
    assert t.catalogue is not None
    # A connection, not a session: the store only executes statements on it.
    events = EventStore(cast(Any, t.conn), platform, t.catalogue)
    return SqlPlanRepository(events, t.catalogue), SqlReadModels(t.conn, copies=t.copies)
