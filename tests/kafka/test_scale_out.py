"""Two copies of accounts and two of audit share their groups' partitions on real Kafka and
PostgreSQL; one copy of each is killed -9 mid-run and the survivor takes its partitions;
every event is applied once and every chain verifies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.faults import checks
from tests.faults.harness import until
from tests.integration.conftest import pg_url  # noqa: F401 - the PostgreSQL fixture
from tests.kafka.scale_out import ScaleOut, workload

pytestmark = [pytest.mark.kafka, pytest.mark.integration]
ACCOUNTS = 300  # 2,100 inbound events


async def test_copies_split_the_partitions_and_a_survivor_takes_over(
    kafka_bootstrap: str,
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    stack = ScaleOut(tmp_path, kafka_bootstrap, pg_url, copies=2)
    events = workload(ACCOUNTS)
    half = len(events) // 2
    try:
        await stack.start()
        await stack.publish(events[:half])

        # Each copy applies its own partitions' events: both of each service count some.
        async def split() -> bool:
            counts = [await stack.applied(s) for s in ("accounts", "audit")]
            return all(len(c) == 2 and all(n > 0 for n in c) for c in counts)

        await until(split, 300, "both copies of each service applied some events")
        before = {s: await stack.applied(s) for s in ("accounts", "audit")}
        stack.processes["accounts"][1].kill()
        stack.processes["audit"][1].kill()
        await stack.publish(events[half:])
        await stack.settled()
        after = {s: await stack.applied(s) for s in ("accounts", "audit")}
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()

    # The survivors applied more than their own half's share: the dead copies' partitions too.
    for service in ("accounts", "audit"):
        assert all(n > 0 for n in before[service]), before
        assert after[service][0] > before[service][0], (before, after)

    # Every inbound event applied exactly once by accounts (its ledger holds each id once,
    # and nothing else) ...
    conn = await asyncpg.connect(stack.dsn("accounts"))
    try:
        applied = Counter(
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM processed_events WHERE consumer = $1",
                stack.group("accounts"),
            )
        )
    finally:
        await conn.close()
    assert set(applied) == {e["id"] for e in events}

    # ... and chained exactly once by audit, every chain verifying.
    findings = checks.Findings()
    survivor = stack.processes["audit"][0]
    survivor.start()
    await survivor.wait_ready()
    try:
        async with httpx.AsyncClient(timeout=30, headers=stack.token("compliance")) as http:
            for account in sorted({e["account_id"] for e in events}):
                entries = await checks.audit_history(http, survivor.url, account)
                ids = Counter(e["event_id"] for e in entries)
                mine = [e["id"] for e in events if e["account_id"] == account]
                assert all(ids[i] == 1 for i in mine), (account, ids)
                assert all(n == 1 for n in ids.values()), (account, ids)
            await checks.check_chains(findings, http, survivor.url, set())
    finally:
        survivor.stop()
        await stack.drop_databases()
    assert not findings.problems(), findings.problems()
