"""`arrears rebuild`: a service's read models rebuilt from its own store equal the live ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select, update

from services.accounts.adapters.tables import account_index
from services.accounts.service_layer.projections import PROJECTION as ACCOUNTS
from services.cli import main
from services.registry import bootstrap_module
from shared.envelope import Envelope
from shared.eventstore.rebuild import Projection, Report, Rows, rebuild
from shared.settings import Settings
from tests.support import (
    auth,
    bill,
    day_closed,
    ingest,
    opened,
    payment,
    running_stack,
    settings_for,
)

ACCOUNT_IDS = [f"R{i:03}" for i in range(30)]


async def accounts_workload(tmp_path: Path) -> Settings:
    """Thirty accounts opened by two integrators, with bills, payments and day closes."""
    s = settings_for("accounts", tmp_path)
    other = auth(s, "integrator", sub="lender-b")
    async with running_stack({"accounts": s}) as http:
        for i, account_id in enumerate(ACCOUNT_IDS):
            events = [opened(account_id), bill(account_id, f"{account_id}-B1", due="2026-03-10")]
            if i % 3 == 0:
                events.append(payment(account_id, f"{account_id}-P1", 50_00))
            if i % 2:
                r = await http["accounts"].post(
                    "/v1/inbound/events", json={"events": events}, headers=other
                )
                assert r.status_code == 200, r.text
            else:
                await ingest(http, *events)
        await ingest(http, day_closed("2026-03-11"), day_closed("2026-03-12"))
    return s


async def rows_of(settings: Settings, tables: tuple[Table, ...]) -> dict[str, list[Any]]:
    """Every row of each table, sorted: what must come out equal."""
    runtime = bootstrap_module(settings.service).bootstrap(settings)
    try:
        async with runtime.uow() as uow:
            return {
                t.name: sorted(tuple(r) for r in await uow.session.execute(select(t)))
                for t in tables
            }
    finally:
        await runtime.engine.dispose()


async def run_rebuild(settings: Settings, projection: Projection, **kw: Any) -> Report:
    runtime = bootstrap_module(settings.service).bootstrap(settings)
    try:
        return await rebuild(
            runtime.engine, runtime.tables.events, runtime.catalogue, projection, **kw
        )
    finally:
        await runtime.engine.dispose()


async def change(settings: Settings, statement: Any) -> None:
    runtime = bootstrap_module(settings.service).bootstrap(settings)
    try:
        async with runtime.uow() as uow:
            await uow.session.execute(statement)
            await uow.commit()
    finally:
        await runtime.engine.dispose()


async def test_accounts_rebuild_equals_the_live_read_models_row_for_row(tmp_path: Path) -> None:
    s = await accounts_workload(tmp_path)
    live = await rows_of(s, ACCOUNTS.tables)
    assert len(live["account_index"]) == len(ACCOUNT_IDS)
    assert {r[2] for r in live["account_index"]} == {"tester", "lender-b"}

    seen: list[tuple[int, int]] = []
    # Pages of 7 events: the keyset paging crosses pages, and each page commits.
    report = await run_rebuild(s, ACCOUNTS, page=7, progress=lambda d, t: seen.append((d, t)))
    assert report.equal and report.replaced
    assert report.events == len(ACCOUNT_IDS)
    assert seen[0] == (0, 30) and seen[-1] == (30, 30) and len(seen) == 6
    assert await rows_of(s, ACCOUNTS.tables) == live


async def test_a_rebuild_repairs_a_read_model_and_a_check_changes_nothing(tmp_path: Path) -> None:
    s = await accounts_workload(tmp_path)
    live = await rows_of(s, ACCOUNTS.tables)
    await change(s, delete(account_index).where(account_index.c.account_id == "R003"))
    await change(
        s,
        update(account_index).where(account_index.c.account_id == "R004").values(opened_by="x"),
    )

    checked = await run_rebuild(s, ACCOUNTS, check=True)
    diff = checked.tables["account_index"]
    assert (diff.only_live, diff.only_rebuilt) == (1, 2)
    assert {(x["only_in"], x["account_id"]) for x in diff.samples} == {
        ("live", "R004"),
        ("rebuilt", "R003"),
        ("rebuilt", "R004"),
    }
    assert await rows_of(s, ACCOUNTS.tables) != live  # a check leaves the damage

    assert not (await run_rebuild(s, ACCOUNTS)).equal
    assert await rows_of(s, ACCOUNTS.tables) == live
    assert (await run_rebuild(s, ACCOUNTS, check=True)).equal


async def test_a_broken_projector_is_caught(tmp_path: Path) -> None:
    s = await accounts_workload(tmp_path)

    def forgets_the_opener(env: Envelope) -> Rows:
        for table, row in ACCOUNTS.rows(env):
            yield table, {**row, "opened_by": None}

    def drops_one(env: Envelope) -> Rows:
        return () if env.account_id == "R007" else ACCOUNTS.rows(env)

    for broken in (forgets_the_opener, drops_one):
        report = await run_rebuild(s, dataclasses.replace(ACCOUNTS, rows=broken), check=True)
        assert not report.equal, broken.__name__


def test_the_cli_checks_and_rebuilds(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    import asyncio

    s = asyncio.run(accounts_workload(tmp_path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACCOUNTS_DATABASE_URL", s.database_url)
    main(["rebuild", "accounts", "--check"])
    out = capsys.readouterr()
    assert "account_index: 30 live rows, 30 rebuilt: equal" in out.err
    assert "30/30 events" in out.err
    asyncio.run(change(s, delete(account_index).where(account_index.c.account_id == "R001")))
    try:
        main(["rebuild", "accounts", "--check"])
    except SystemExit as exc:
        assert exc.code == 1
    else:
        raise AssertionError("a check that finds differences exits 1")
    main(["rebuild", "accounts"])
    assert '"replaced": true' in capsys.readouterr().out
    main(["rebuild", "accounts", "--check"])


def test_rebuild_audit_runs_the_audit_rebuild(monkeypatch: Any) -> None:
    import services.cli as cli

    called: list[Any] = []
    monkeypatch.setattr(cli, "cmd_audit_rebuild", called.append)
    main(["rebuild", "audit"])
    assert len(called) == 1
    try:
        main(["rebuild", "audit", "--check"])
    except SystemExit as exc:
        assert "from the topics" in str(exc.code)
    else:
        raise AssertionError("audit has no check against its own store")
