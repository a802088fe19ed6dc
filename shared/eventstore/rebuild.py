"""Rebuilding a service's read models from its own database: its event store and its inbox.

A projection here is a read model born of events. Either each stored event of its types
yields rows, inserted in store position order (`rows`); or a function applies each event
to the tables (`apply`); and the facts the service consumed from other services' topics,
kept in its inbox (`shared.eventstore.inbox`), are applied first, in the order consumed
(`facts`). The live path writes through the same functions as it appends the events or
consumes the facts, so a rebuild that reads them again must come out equal, row for row.

The rebuild reads the store in keyset pages (never the whole store in memory), inserts
each page's rows into temporary copies of the tables (one transaction a page), compares
them with the live tables, and only then, unless asked merely to check, replaces the
live rows with the rebuilt ones in one transaction: a rebuild that fails half-way leaves
the live read models as they were. Run it with the service stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, delete, func, insert, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.catalogue import Catalogue
from shared.envelope import Envelope, decode_envelope
from shared.eventstore.inbox import Fact

Row = dict[str, Any]
Rows = Iterable[tuple[Table, Row]]
Progress = Callable[[int, int], None]

PAGE = 5_000
"""Events read, projected and written per transaction."""
SAMPLE = 5
"""Keys of differing rows a report names per table and direction."""


@dataclass(frozen=True)
class Target:
    """Where projected rows go: the live tables (a unit of work's session) or, in a
    rebuild, their temporary copies; `t[table]` names the one to write."""

    conn: Any
    copies: dict[Table, Table] = field(default_factory=dict)
    catalogue: Catalogue | None = None

    def __getitem__(self, table: Table) -> Table:
        return self.copies.get(table, table)

    async def execute(self, statement: Any) -> Any:
        """Run a statement on the target's connection."""
        return await self.conn.execute(statement)


@dataclass(frozen=True)
class Projection:
    """Read-model tables derived from the service's own database.

    `rows` maps one stored event of `types` to rows; `apply` writes one to a target
    instead; `facts` applies each fact of the `inbox` table to a target, before any event.
    """

    tables: tuple[Table, ...]
    types: tuple[str, ...]
    rows: Callable[[Envelope], Rows] | None = None
    apply: Callable[[Target, Envelope], Awaitable[None]] | None = None
    inbox: Table | None = None
    facts: Callable[[Target, Fact], Awaitable[Any]] | None = None


@dataclass
class TableDiff:
    """How a table's live rows compare with the rows the store rebuilds."""

    live: int
    rebuilt: int
    only_live: int
    only_rebuilt: int
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """Whether the live table holds exactly the rebuilt rows."""
        return self.only_live == 0 and self.only_rebuilt == 0


@dataclass
class Report:
    """What a rebuild read and how each table compared before it was replaced."""

    events: int
    tables: dict[str, TableDiff]
    replaced: bool

    @property
    def equal(self) -> bool:
        """Whether every live table already held exactly the rebuilt rows."""
        return all(d.equal for d in self.tables.values())


async def write_rows(conn: Any, rows: Rows, target: dict[Table, Table] | None = None) -> None:
    """Insert projected rows, one multi-row statement per table, in the order given.

    `conn` is a session or a connection; `target` redirects a table to another (a copy).
    """
    by_table: dict[Table, list[Row]] = {}
    for table, row in rows:
        by_table.setdefault(table, []).append(row)
    for table, values in by_table.items():
        await conn.execute(insert((target or {}).get(table, table)), values)


def _scratch(table: Table, metadata: MetaData) -> Table:
    """A temporary table with `table`'s columns and key, to rebuild into."""
    # Server defaults too: a projection may leave a column to its default (a flag).
    columns = [
        Column(
            c.name,
            c.type,
            primary_key=c.primary_key,
            nullable=c.nullable,
            server_default=getattr(c.server_default, "arg", None),
        )
        for c in table.columns
    ]
    return Table(f"rebuild_{table.name}", metadata, *columns, prefixes=["TEMPORARY"])


async def rebuild(
    engine: AsyncEngine,
    events: Table,
    catalogue: Catalogue,
    projection: Projection,
    *,
    check: bool = False,
    page: int = PAGE,
    progress: Progress | None = None,
) -> Report:
    """Rebuild the projection's tables from the inbox and `events`; with `check`, only
    compare them."""
    async with engine.connect() as conn:
        metadata = MetaData()
        scratch = {t: _scratch(t, metadata) for t in projection.tables}
        await conn.run_sync(metadata.create_all)
        await conn.commit()
        try:
            target = Target(conn, scratch, catalogue)
            feeds = _feeds(events, catalogue, projection, target)
            read = await _project(conn, feeds, page, progress)
            diffs = {t.name: await _compare(conn, t, copy) for t, copy in scratch.items()}
            await conn.commit()
            if not check:
                for table, copy in scratch.items():
                    await conn.execute(delete(table))
                    names = [c.name for c in table.columns]
                    await conn.execute(insert(table).from_select(names, select(*copy.c)))
                await conn.commit()
        finally:
            await conn.rollback()
            await conn.run_sync(metadata.drop_all)
            await conn.commit()
    return Report(read, diffs, replaced=not check)


@dataclass(frozen=True)
class _Feed:
    """One source a rebuild reads in position order, and what it does with each row."""

    table: Table
    where: Any
    apply: Callable[[list[Any]], Awaitable[None]]


def _feeds(
    events: Table, catalogue: Catalogue, projection: Projection, target: Target
) -> list[_Feed]:
    feeds = []
    facts, inbox = projection.facts, projection.inbox
    if facts is not None and inbox is not None:

        async def apply_facts(rows: list[Any]) -> None:
            for row in rows:
                await facts(target, Fact.from_row(row))

        feeds.append(_Feed(inbox, true(), apply_facts))

    async def apply_events(rows: list[Any]) -> None:
        envelopes = [catalogue.upcast(decode_envelope(row.envelope)) for row in rows]
        if projection.rows is not None:
            await write_rows(
                target.conn, [r for env in envelopes for r in projection.rows(env)], target.copies
            )
        if projection.apply is not None:
            for env in envelopes:
                await projection.apply(target, env)

    if projection.types:
        feeds.append(_Feed(events, events.c.type.in_(list(projection.types)), apply_events))
    return feeds


async def _project(
    conn: AsyncConnection, feeds: list[_Feed], page: int, progress: Progress | None
) -> int:
    async def count(feed: _Feed) -> int:
        query = select(func.count()).select_from(feed.table).where(feed.where)
        return int((await conn.execute(query)).scalar_one())

    total = sum([await count(feed) for feed in feeds])
    done = 0
    if progress:
        progress(done, total)
    for feed in feeds:
        after = 0
        while True:
            rows = (
                await conn.execute(
                    select(feed.table)
                    .where(feed.table.c.position > after, feed.where)
                    .order_by(feed.table.c.position)
                    .limit(page)
                )
            ).all()
            if not rows:
                break
            await feed.apply(list(rows))
            await conn.commit()
            done, after = done + len(rows), rows[-1].position
            if progress:
                progress(done, max(total, done))
    return done


async def _compare(conn: AsyncConnection, live: Table, rebuilt: Table) -> TableDiff:
    async def count(query: Any) -> int:
        return int((await conn.execute(select(func.count()).select_from(query))).scalar_one())

    keys = [c.name for c in live.primary_key.columns]
    only_live = select(*live.c).except_(select(*rebuilt.c)).subquery()
    only_rebuilt = select(*rebuilt.c).except_(select(*live.c)).subquery()
    samples: list[dict[str, Any]] = []
    for where, query in (("live", only_live), ("rebuilt", only_rebuilt)):
        found = await conn.execute(select(*(query.c[k] for k in keys)).limit(SAMPLE))
        samples.extend({"only_in": where, **dict(r._mapping)} for r in found)
    return TableDiff(
        live=await count(live),
        rebuilt=await count(rebuilt),
        only_live=await count(only_live),
        only_rebuilt=await count(only_rebuilt),
        samples=samples,
    )


def describe(report: Report) -> list[str]:
    """One line per table of a report, for people."""
    lines = []
    for name, d in report.tables.items():
        verdict = "equal" if d.equal else f"{d.only_live} only live, {d.only_rebuilt} only rebuilt"
        lines.append(f"{name}: {d.live} live rows, {d.rebuilt} rebuilt: {verdict}")
    return lines
