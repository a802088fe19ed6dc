"""Accounts kept across transactions (issue 12): the cached path decides exactly as a
replay from the stream does, and an account another writer moved on is reloaded, never
used stale."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.accounts.bootstrap import bootstrap
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork, stream_id
from services.registry import migrations_dir
from shared.catalogue import Catalogue
from shared.clock import FixedClock
from shared.envelope import decode_envelope
from shared.errors import Rejected
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.support import bill, day_closed, opened, payment, settings_for
from tests.unit.test_consumer import NOW

Runtime = ServiceRuntime[AccountsUnitOfWork]


def _runtime(data_dir: Path, cache_size: int) -> Runtime:
    cfg = settings_for("accounts", data_dir, aggregate_cache_size=cache_size)
    upgrade(cfg, migrations_dir("accounts"))
    return bootstrap(cfg, clock=FixedClock(NOW))


async def _apply(runtime: Runtime, raw: Sequence[dict[str, Any]]) -> None:
    """One transaction over several events, as a consumer run is (prefetch included)."""
    catalogue: Catalogue = runtime.catalogue
    envelopes = [catalogue.validate(decode_envelope(r)) for r in raw]
    handler = runtime.consumers["inbound"].handler
    try:
        async with runtime.uow() as uow:
            await uow.prefetch(envelopes)
            for env in envelopes:
                await handler(uow, env)
            await uow.commit()
    except Rejected:
        pass  # the run leaves nothing, on either path; the next must not see half of it


async def _stream(runtime: Runtime, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.uow() as uow:
        events, _ = await uow.events.load(stream_id(account_id))
    return [(e.type, e.data) for e in events]


def _workload(ops: list[tuple[str, int]]) -> list[list[dict[str, Any]]]:
    """Runs of inbound events over two accounts, from (kind, n) steps."""
    runs: list[list[dict[str, Any]]] = [[opened("A"), opened("B")]]
    for i, (kind, n) in enumerate(ops):
        account = "AB"[n % 2]
        if kind == "bill":
            runs.append([bill(account, f"B{i}", due=f"2026-03-{1 + n % 9:02d}", principal=n + 1)])
        elif kind == "pay":
            runs.append([payment(account, f"P{i}", n + 1), payment(account, f"Q{i}", n + 2)])
        else:
            runs.append([day_closed(f"2026-03-{10 + i:02d}", account)])
    return runs


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["bill", "pay", "close"]), st.integers(0, 5000)),
        min_size=1,
        max_size=8,
    )
)
async def test_the_cached_path_writes_the_same_streams_as_replaying(
    tmp_path_factory: Any, ops: list[tuple[str, int]]
) -> None:
    async def scenario() -> None:
        cached = await asyncio.to_thread(_runtime, tmp_path_factory.mktemp("cached"), 10_000)
        replayed = await asyncio.to_thread(_runtime, tmp_path_factory.mktemp("replay"), 0)
        try:
            for run in _workload(ops):
                for runtime in (cached, replayed):
                    await _apply(runtime, run)
            for account in "AB":
                assert await _stream(cached, account) == await _stream(replayed, account)
        finally:
            for runtime in (cached, replayed):
                await runtime.engine.dispose()

    await scenario()


async def test_an_account_another_writer_moved_on_is_reloaded(tmp_path: Path) -> None:
    first = await asyncio.to_thread(_runtime, tmp_path, 10_000)
    second = bootstrap(first.settings, clock=FixedClock(NOW))  # another replica, same db
    try:
        await _apply(first, [opened("A"), bill("A", "B1", due="2026-03-10", principal=500)])
        await _apply(second, [payment("A", "P1", 200)])  # first's cached A is now stale
        await _apply(first, [payment("A", "P2", 300)])
        async with first.uow() as uow:
            account = await uow.accounts.get("A")
        assert account.payment_ids == {"P1", "P2"}
        assert sum(b.paid for b in account.bills.values()) == 500
        types = [t for t, _ in await _stream(first, "A")]
        assert types.count("PaymentAllocated") == 2
    finally:
        await first.engine.dispose()
        await second.engine.dispose()
