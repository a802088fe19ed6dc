"""Rebuilding a service's read models from its own event store.

A projection here is a read model born of events: each stored event of its types yields
rows, and the rows of every event, inserted in store position order, are the read
model. The live path stages the same rows from the same function as it appends the
events, so a rebuild that reads the store again must come out equal, row for row.

The rebuild reads the store in keyset pages (never the whole store in memory), inserts
each page's rows into temporary copies of the tables (one transaction a page), compares
them with the live tables, and only then, unless asked merely to check, replaces the
live rows with the rebuilt ones in one transaction: a rebuild that fails half-way leaves
the live read models as they were. Run it with the service stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.catalogue import Catalogue
from shared.envelope import Envelope, decode_envelope

Row = dict[str, Any]
Rows = Iterable[tuple[Table, Row]]
Progress = Callable[[int, int], None]

PAGE = 5_000
"""Events read, projected and written per transaction."""
SAMPLE = 5
"""Keys of differing rows a report names per table and direction."""


@dataclass(frozen=True)
class Projection:
    """Read-model tables derived from the store: `rows` maps one event of `types` to rows."""

    tables: tuple[Table, ...]
    types: tuple[str, ...]
    rows: Callable[[Envelope], Rows]


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
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
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
    """Rebuild the projection's tables from `events`; with `check`, only compare them."""
    async with engine.connect() as conn:
        metadata = MetaData()
        scratch = {t: _scratch(t, metadata) for t in projection.tables}
        await conn.run_sync(metadata.create_all)
        await conn.commit()
        try:
            read = await _project(conn, events, catalogue, projection, scratch, page, progress)
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


async def _project(
    conn: AsyncConnection,
    events: Table,
    catalogue: Catalogue,
    projection: Projection,
    scratch: dict[Table, Table],
    page: int,
    progress: Progress | None,
) -> int:
    wanted = events.c.type.in_(list(projection.types))
    total = int(
        (await conn.execute(select(func.count()).select_from(events).where(wanted))).scalar_one()
    )
    done, after = 0, 0
    if progress:
        progress(done, total)
    while True:
        rows = (
            await conn.execute(
                select(events.c.position, events.c.envelope)
                .where(events.c.position > after, wanted)
                .order_by(events.c.position)
                .limit(page)
            )
        ).all()
        if not rows:
            return done
        projected: list[tuple[Table, Row]] = []
        for row in rows:
            projected.extend(projection.rows(catalogue.upcast(decode_envelope(row.envelope))))
        await write_rows(conn, projected, scratch)
        await conn.commit()
        done, after = done + len(rows), rows[-1].position
        if progress:
            progress(done, max(total, done))


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
