"""Rebuilds reproduce the live trail whatever the batching: audit logs the order it chained
in (`TrailChained` on its own topic) and a rebuild replays the sources in it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from services.audit.adapters.tables import audit_entries, audit_subject_keys
from services.audit.bootstrap import bootstrap as audit_bootstrap
from services.audit.service_layer.rebuild import (
    RebuildResult,
    compare,
    heads_and_root,
    rebuild,
    source_topics,
)
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from services.registry import migrations_dir
from shared.eventlog.embedded import EmbeddedEventLog
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.support import bill, eventually, opened, payment, running_stack, settings_for

ACCOUNTS = ("O1", "O2", "O3")


def workload(settings: Settings, tag: str, with_openings: bool) -> list[tuple[str, dict[str, Any]]]:
    """Each account's events spread over the four source topics, topic after topic, so
    the order audit chains them in depends on how its polls batch the partitions."""
    t = settings.topics
    out: list[tuple[str, dict[str, Any]]] = []
    for topic in (t.inbound, t.accounts, t.plans, t.contact):
        for account in ACCOUNTS:
            if with_openings and topic == t.inbound:
                out.append((topic, opened(account)))
            out.append((topic, bill(account, f"{tag}-{topic[-4:]}")))
            out.append((topic, payment(account, f"{tag}-P-{topic[-4:]}", 1_00)))
    return out


async def publish(settings: Settings, records: list[tuple[str, dict[str, Any]]]) -> None:
    log = EmbeddedEventLog(settings.embedded_log_path)
    await log.start()
    try:
        for topic, env in records:
            await log.publish(topic, env["account_id"].encode(), json.dumps(env).encode())
    finally:
        await log.close()


async def entry_count(runtime: ServiceRuntime[AuditUnitOfWork]) -> int:
    async with runtime.uow() as uow:
        count = await uow.session.execute(select(func.count()).select_from(audit_entries))
        return int(count.scalar_one())


async def live(settings: Settings, expected: int) -> dict[str, Any]:
    """Run the audit service until it chained `expected` entries; its heads and root."""
    async with running_stack({"audit": settings}) as http:
        runtime = http["audit"]._transport.app.state.runtime  # type: ignore[attr-defined]
        await eventually(lambda: entry_count(runtime), lambda n: n == expected, timeout=60)
        return await heads_and_root(runtime)


async def live_run(
    tmp_path: Path, max_batch: int
) -> tuple[Settings, list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """Publish the workload, then let audit, polling `max_batch` records, chain it."""
    settings = settings_for("audit", tmp_path, consumer_max_batch=max_batch)
    records = workload(settings, "W", with_openings=True)
    await publish(settings, records)
    return settings, records, await live(settings, len(records))


@asynccontextmanager
async def stopped_audit(settings: Settings) -> AsyncIterator[ServiceRuntime[AuditUnitOfWork]]:
    await asyncio.to_thread(upgrade, settings, migrations_dir("audit"))
    runtime = audit_bootstrap(settings)
    await runtime.start(consume=False)
    try:
        yield runtime
    finally:
        await runtime.stop()  # publishes the order facts it logged


async def rebuilt(settings: Settings, max_batch: int) -> tuple[dict[str, Any], RebuildResult]:
    async with stopped_audit(settings) as runtime:
        result = await rebuild(runtime, max_batch=max_batch)
        for account in ACCOUNTS:
            async with runtime.uow() as uow:
                assert await uow.trail.verify(account) is None
        # The service resumes where the rebuild read to.
        ends = await runtime.log.end_offsets(source_topics(runtime))
        async with runtime.uow() as uow:
            stored = await uow.positions.load(runtime.consumers["trail"].name)
        assert stored == {tp: end for tp, end in ends.items() if end}
        return await heads_and_root(runtime), result


async def empty_database_with_keys(tmp_path: Path, name: str, live_db: Settings) -> Settings:
    """A fresh audit database holding only the accounts' commitment keys, which are on no
    topic (erasure deletes them)."""
    settings = settings_for(
        "audit", tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/{name}"
    )
    async with stopped_audit(live_db) as source, stopped_audit(settings) as target:
        async with source.uow() as uow:
            keys = [dict(r._mapping) for r in await uow.session.execute(select(audit_subject_keys))]
        async with target.uow() as uow:
            await uow.session.execute(insert(audit_subject_keys), keys)
            await uow.commit()
    return settings


async def chain_orders(settings: Settings) -> dict[str, list[str]]:
    async with stopped_audit(settings) as runtime, runtime.uow() as uow:
        t = audit_entries
        rows = await uow.session.execute(
            select(t.c.account_id, t.c.event_id).order_by(t.c.account_id, t.c.seq)
        )
        out: dict[str, list[str]] = {}
        for account, event_id in rows:
            out.setdefault(account, []).append(event_id)
        return out


async def test_rebuilds_with_any_batching_give_the_live_heads_and_root(tmp_path: Path) -> None:
    # One record a poll: audit takes the partitions in turn, not in publish order.
    settings, records, before = await live_run(tmp_path, 1)
    # The test means something only if the live order is not the publish order.
    published = {a: [e["id"] for _, e in records if e["account_id"] == a] for a in ACCOUNTS}
    assert await chain_orders(settings) != published

    into_same = [await rebuilt(settings, max_batch) for max_batch in (1, 7, 500)]
    empty = await empty_database_with_keys(tmp_path, "empty.sqlite3", settings)
    into_empty = await rebuilt(empty, 3)
    for heads, result in [*into_same, into_empty]:
        assert heads == before
        assert (result.in_logged_order, result.beyond_the_log) == (len(records), 0)
        assert (result.missing, result.differing) == (0, [])


async def test_records_the_live_trail_never_chained_follow_in_one_order_and_are_logged(
    tmp_path: Path,
) -> None:
    settings, first, before = await live_run(tmp_path, 2)
    # Published while audit was down: no order log covers them.
    later = workload(settings, "L", with_openings=False)
    await publish(settings, later)

    a = await empty_database_with_keys(tmp_path, "a.sqlite3", settings)
    b = await empty_database_with_keys(tmp_path, "b.sqlite3", settings)
    heads_a, result_a = await rebuilt(a, 500)
    heads_b, result_b = await rebuilt(b, 1)
    assert (result_a.in_logged_order, result_a.beyond_the_log) == (len(first), len(later))
    # The first rebuild logged the order it gave them, so the second replays it.
    assert (result_b.in_logged_order, result_b.beyond_the_log) == (len(first) + len(later), 0)
    assert heads_a == heads_b
    # Each account's live chain is the rebuilt chain's beginning.
    orders_live, orders_a = await chain_orders(settings), await chain_orders(a)
    for account in ACCOUNTS:
        assert orders_a[account][: len(orders_live[account])] == orders_live[account]
    assert heads_a != before


async def test_compare_names_lost_altered_and_extra_entries_of_the_live_trail(
    tmp_path: Path,
) -> None:
    settings, records, _ = await live_run(tmp_path, 5)
    async with stopped_audit(settings) as runtime:
        clean = await compare(runtime, max_batch=4)
        assert clean.equal and clean.records == len(records), clean.to_dict()

        t = audit_entries
        async with runtime.uow() as uow:
            rows = (
                await uow.session.execute(
                    select(t.c.account_id, t.c.seq, t.c.event_id, t.c.event)
                    .where(t.c.account_id == "O2")
                    .order_by(t.c.seq.desc())
                    .limit(2)
                )
            ).all()
            (lost, altered) = rows
            # An acknowledged but lost commit, and an edited entry.
            await uow.session.execute(delete(t).where(t.c.account_id == "O2", t.c.seq == lost.seq))
            await uow.session.execute(
                update(t)
                .where(t.c.account_id == "O2", t.c.seq == altered.seq)
                .values(event=altered.event.replace("integrator-test", "integrator-tost"))
            )
            await uow.commit()
        # Published after audit stopped: on the topics, never chained.
        unseen = payment("O3", "P-UNSEEN", 5_00)
        await publish(settings, [(settings.topics.inbound, unseen)])

        found = (await compare(runtime)).to_dict()
    assert found["equal"] is False
    assert found["on_topics_only"]["accounts"] == {
        "O2": [lost.event_id],
        "O3": [unseen["id"]],
    }
    assert found["content_differs"]["accounts"] == {"O2": [altered.event_id]}
    assert found["on_trail_only"]["events"] == found["order_differs"]["events"] == 0
