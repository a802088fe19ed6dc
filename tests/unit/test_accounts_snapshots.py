"""Snapshots of accounts (issue 12): snapshot + tail is the full replay, a snapshot that
cannot be trusted is ignored and rebuilt, and snapshots never change what is decided."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sqla_event
from sqlalchemy import select, update

from services.accounts.adapters import snapshots as codec
from services.accounts.adapters.tables import snapshot_tables
from services.accounts.bootstrap import bootstrap
from services.accounts.domain.bills import AllocationRecord, Bill
from services.accounts.domain.model import Account
from services.accounts.service_layer.unit_of_work import stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.errors import Rejected
from shared.events import default_catalogue
from shared.migrations import upgrade
from tests.support import bill, day_closed, opened, payment, settings_for
from tests.unit.accounts_kit import Ledger
from tests.unit.test_accounts_cache import NOW, Runtime, _apply, _stream, _workload

S = date(2026, 3, 1)

op_st = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 60_000), st.integers(0, 12)),
    st.tuples(st.just("close"), st.integers(1, 15), st.just(0)),
    st.tuples(st.just("bill"), st.integers(1, 30_000), st.integers(1, 40)),
    st.tuples(st.sampled_from(["plan", "waive", "defer", "reinstall"]), st.just(0), st.just(0)),
)


def _step(lg: Ledger, n: int, op: str, x: int, y: int) -> None:
    today = lg.account.today or S
    try:
        if op == "pay":
            lg.pay(f"P{n}", x, today - timedelta(days=y))
        elif op == "close":
            lg.close(today + timedelta(days=x - 1))
        elif op == "bill":
            lg.bill(f"N{n}", x, today + timedelta(days=y))
        elif op == "plan":
            lg.do("end_plan" if lg.account.active_plans else "start_plan", "PL")
        elif op == "waive":
            lg.do("apply_waiver", f"W{n}")
        elif op == "defer":
            lg.do("apply_deferral", f"D{n}", 1)
        else:
            lg.do("apply_reinstallment", f"R{n}", 2, today + timedelta(days=30))
    except Rejected:
        pass  # refused relief (nothing past due): the stream is unchanged, as in the service


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st, min_size=1, max_size=16))
def test_any_snapshot_plus_the_events_after_it_is_the_full_replay(
    ops: list[tuple[str, int, int]],
) -> None:
    lg = Ledger()
    lg.bill("B0", 10_000, S + timedelta(days=3), fees=100)
    lg.close(S)
    taken = [(codec.encode(lg.account), lg.account.version)]
    for n, (op, x, y) in enumerate(ops):
        _step(lg, n, op, x, y)
        taken.append((codec.encode(lg.account), lg.account.version))
    catalogue = default_catalogue()
    for state, version in taken:
        account = codec.decode(state, "A1", version, lg.policies, catalogue)
        assert account is not None
        for env in lg.events[version:]:
            account.apply(env)
        account.version = len(lg.events)
        assert account == lg.replay() == lg.account


def test_the_encoding_covers_every_field_of_the_state() -> None:
    """A new field in the account's state needs the codec and SCHEMA_VERSION to follow;
    this list is the reminder (kept beside SCHEMA_VERSION = 1)."""
    assert codec.SCHEMA_VERSION == 1
    assert [f.name for f in dataclasses.fields(Account)] == [
        "account_id", "customer_id", "product", "currency", "time_zone", "bills",
        "payment_ids", "allocations", "credit", "last_closed", "bucket", "charged_off_on",
        "active_plans", "pauses", "deferred_months", "reliefs", "first_bill_id",
        "first_default_reported", "partial_streak", "timeline", "barrier", "policies",
        "version", "_out",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(Bill)] == [
        "bill_id", "due_date", "issued_on", "charged", "paid_by", "waived", "reinstalled",
        "overdue_reported", "due_soon_reported",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(AllocationRecord)] == ["kind", "amount", "by_bill"]


def _ledger_with_history() -> Ledger:
    lg = Ledger()
    lg.bill("B1", 50_000, S + timedelta(days=2))
    lg.close(S + timedelta(days=10))
    lg.pay("P1", 1_000, S + timedelta(days=11))
    return lg


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: "{not json",
        lambda s: json.dumps({**json.loads(s), "bills": "nonsense"}),
        lambda s: json.dumps({k: v for k, v in json.loads(s).items() if k != "credit"}),
        # A timeline event the catalogue has since moved past (its upcaster must run).
        lambda s: json.dumps(
            {**json.loads(s), "timeline": [[t, 0, d] for t, _, d in json.loads(s)["timeline"]]}
        ),
    ],
    ids=["not-json", "wrong-shape", "missing-field", "older-event-version"],
)
def test_a_snapshot_that_cannot_be_trusted_decodes_to_none(damage: Any) -> None:
    lg = _ledger_with_history()
    state = codec.encode(lg.account)
    catalogue = default_catalogue()
    assert codec.decode(state, "A1", lg.account.version, lg.policies, catalogue) == lg.account
    assert codec.decode(damage(state), "A1", 1, lg.policies, catalogue) is None


def _runtime(data_dir: Path, every: int) -> Runtime:
    cfg = settings_for("accounts", data_dir, aggregate_cache_size=0, snapshot_every=every)
    upgrade(cfg, migrations_dir("accounts"))
    return bootstrap(cfg, clock=FixedClock(NOW))


async def _snapshots(runtime: Runtime) -> dict[str, tuple[int, int]]:
    t = snapshot_tables.snapshots
    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(t.c.stream_id, t.c.schema_version, t.c.stream_version)
        )
    return {s: (schema, version) for s, schema, version in rows}


async def _loaded_and_replayed(runtime: Runtime, account_id: str) -> tuple[Account, Account]:
    async with runtime.uow() as uow:
        loaded = await uow.accounts.get(account_id)
        events, version = await uow.events.load(stream_id(account_id))
    return loaded, Account.from_events(account_id, events, version, runtime.uow_class.policies)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["bill", "pay", "close"]), st.integers(0, 5000)),
        min_size=1,
        max_size=10,
    )
)
async def test_with_snapshots_the_service_decides_exactly_as_by_replaying(
    tmp_path_factory: Any, ops: list[tuple[str, int]]
) -> None:
    snapped = await asyncio.to_thread(_runtime, tmp_path_factory.mktemp("snap"), 2)
    replayed = await asyncio.to_thread(_runtime, tmp_path_factory.mktemp("replay"), 0)
    try:
        for run in _workload(ops):
            for runtime in (snapped, replayed):
                await _apply(runtime, run)
        for account in "AB":
            assert await _stream(snapped, account) == await _stream(replayed, account)
            loaded, full = await _loaded_and_replayed(snapped, account)
            assert loaded == full
        assert await _snapshots(replayed) == {}
    finally:
        for runtime in (snapped, replayed):
            await runtime.engine.dispose()


async def test_an_account_snapshots_as_its_stream_passes_each_multiple(tmp_path: Path) -> None:
    runtime = await asyncio.to_thread(_runtime, tmp_path, 3)
    try:
        await _apply(runtime, [opened("A"), bill("A", "B1", due="2026-03-10", principal=500)])
        assert await _snapshots(runtime) == {}  # version 2
        await _apply(runtime, [payment("A", "P1", 100)])  # +2: 4, past 3
        assert await _snapshots(runtime) == {"account-A": (codec.SCHEMA_VERSION, 4)}
        await _apply(runtime, [day_closed("2026-03-05", "A")])  # +1: 5
        assert await _snapshots(runtime) == {"account-A": (codec.SCHEMA_VERSION, 4)}
        await _apply(runtime, [payment("A", "P2", 100)])  # +2: 7, past 6
        assert await _snapshots(runtime) == {"account-A": (codec.SCHEMA_VERSION, 7)}
        loaded, full = await _loaded_and_replayed(runtime, "A")
        assert loaded == full and loaded.payment_ids == {"P1", "P2"}
    finally:
        await runtime.engine.dispose()


async def test_a_snapshot_of_another_schema_version_is_ignored_and_rebuilt(
    tmp_path: Path,
) -> None:
    runtime = await asyncio.to_thread(_runtime, tmp_path, 2)
    t = snapshot_tables.snapshots
    try:
        await _apply(runtime, [opened("A"), bill("A", "B1", due="2026-03-10", principal=500)])
        before = await _stream(runtime, "A")
        # As an older release would have left it: another encoding, misleading if read.
        async with runtime.uow() as uow:
            state = json.loads((await uow.session.execute(select(t.c.state))).scalar_one())
            misleading = json.dumps({**state, "credit": 9_00})  # readable, and wrong
            await uow.session.execute(
                update(t).values(schema_version=codec.SCHEMA_VERSION - 1, state=misleading)
            )
            await uow.commit()
        loaded, full = await _loaded_and_replayed(runtime, "A")
        assert loaded == full and loaded.credit == 0
        await _apply(runtime, [payment("A", "P1", 100), payment("A", "P2", 100)])
        assert await _snapshots(runtime) == {"account-A": (codec.SCHEMA_VERSION, 6)}
        after = await _stream(runtime, "A")
        assert after[: len(before)] == before  # history is what it was; snapshots add none
    finally:
        await runtime.engine.dispose()


async def test_loading_many_accounts_costs_the_same_few_queries_as_loading_one(
    tmp_path: Path,
) -> None:
    runtime = await asyncio.to_thread(_runtime, tmp_path, 3)
    try:
        ids = [f"A{n:03d}" for n in range(250)]
        await _apply(runtime, [opened(a) for a in ids])
        await _apply(runtime, [bill(a, "B1", due="2026-03-10", principal=500) for a in ids])
        await _apply(runtime, [payment(a, "P1", 100) for a in ids])  # snapshot at 4
        await _apply(runtime, [day_closed("2026-03-05", a) for a in ids])  # a tail of 1
        statements: list[str] = []
        async with runtime.uow() as uow:
            sync = uow.session.bind.sync_engine  # type: ignore[union-attr]

            def count(_c: object, _cur: object, sql: str, *_: object) -> None:
                statements.append(sql.split()[0])

            sqla_event.listen(sync, "before_cursor_execute", count)
            try:
                await uow.accounts.prefetch(ids)
            finally:
                sqla_event.remove(sync, "before_cursor_execute", count)
            accounts = [await uow.accounts.get(a) for a in ids]
        # One snapshot query, one tail query per 200 streams: 3, whatever the events.
        assert statements == ["SELECT"] * 3
        assert {a.version for a in accounts} == {5}
        assert accounts[-1] == (await _loaded_and_replayed(runtime, ids[-1]))[1]
    finally:
        await runtime.engine.dispose()
