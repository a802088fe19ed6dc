"""End-to-end latency on real Kafka + PostgreSQL: an integrator's event published onto
`<prefix>.inbound` → chained into its account's audit history, at a steady offered rate.

Starts its own Kafka broker and durable PostgreSQL (deploy/local) and the four services as
OS processes, as the fault tier does (tests/faults/harness.py: Stack). Opens and bills
`--accounts` accounts (not measured), then for each rate in `--rates` offers payments at
that rate for `--seconds`, on a schedule (a late send does not move the next one), and
reports the offered and achieved rates and p50/p95/p99/max of publish → in the audit trail.

"In the audit trail" is observed on audit's own order log, `<prefix>.audit`: each
`TrailChained` names the event ids one audit transaction chained, and audit publishes it
through its outbox after that transaction committed. So a figure here is an upper bound of
"visible in the history API" (it includes audit's relay and one more broker hop).

An event not chained within `--drain` seconds of the end of its phase counts as not
delivered; percentiles are then over every event offered, not delivered ones at +∞ — the
row says how many were late.

    python bench/kafka_latency.py [--rates 250,1000,2000] [--seconds 20] [--accounts 1000]

Not part of `make bench` (it starts a broker and PostgreSQL). Needs java, mvn and
PostgreSQL's server binaries, like the fault tier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from figures import peak_rss_mib, report  # bench/figures.py: this script's folder is on sys.path
from inbound import envelope  # bench/inbound.py
from table import table  # bench/table.py

# The harness lives with the fault tier's tests; this tree's root makes `tests` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.harness import Stack

SETUP_TIMEOUT_S = 600.0


class Chained:
    """Follows audit's order log and remembers when each event id was first seen chained."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Chained:
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    env = json.loads(record.value)
                    if env.get("type") != "TrailChained":
                        continue
                    for entry in env["data"]["entries"]:
                        self.seen.setdefault(entry["event_id"], now)

    async def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """Wait until every id in `ids` is chained or `timeout` passes; the ids still missing."""
        deadline = time.monotonic() + timeout
        missing = ids - self.seen.keys()
        while missing and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            missing -= self.seen.keys()
        return missing


def openings(run: str, accounts: int) -> list[dict[str, Any]]:
    """Each account opened and billed; payments against the bill come later."""
    opened = {"customer_id": "c", "product": "cash_loan", "currency": "CNY",
              "time_zone": "Asia/Shanghai"}  # fmt: skip
    bill = {"bill_id": "B1", "currency": "CNY", "principal": 100_000_000,
            "issued_on": "2026-03-01", "due_date": "2026-03-10"}  # fmt: skip
    out = []
    for a in range(accounts):
        out.append(envelope("AccountOpened", f"{run}-A{a}", opened, 2))
        out.append(envelope("BillIssued", f"{run}-A{a}", bill))
    return out


def payment(run: str, accounts: int, i: int) -> dict[str, Any]:
    """The i-th payment of the steady phase, round-robin over the accounts."""
    data = {"payment_id": f"P{i}", "currency": "CNY", "amount": 100,
            "paid_at": "2026-03-05T10:00:00+08:00"}  # fmt: skip
    return envelope("PaymentReceived", f"{run}-A{i % accounts}", data)


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of an ascending list; inf stands for not delivered."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> float | str:
    return round(value * 1000, 1) if math.isfinite(value) else "not delivered"


async def ingested(dsn: str, ids: list[str]) -> dict[str, float]:
    """When audit's consumer stamped each event (its `ingested_at`, inside the transaction)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id, ingested_at FROM audit_entries WHERE event_id = ANY($1)", ids
        )
    finally:
        await conn.close()
    return {r["event_id"]: r["ingested_at"].timestamp() for r in rows}


async def phase(
    producer: AIOKafkaProducer,
    chained: Chained,
    audit_dsn: str,
    topic: str,
    run: str,
    accounts: int,
    rate: int,
    seconds: float,
    drain: float,
    first: int,
) -> dict[str, Any]:
    """Offer `rate` payments a second for `seconds`, then wait for them in the trail."""
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    acks = []
    start = time.monotonic()
    wall = time.time() - start
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        env = payment(run, accounts, first + i)
        # The offered time is the schedule's, so a producer falling behind shows as latency.
        sent_at[env["id"]] = wall + due
        acks.append(
            await producer.send(topic, json.dumps(env).encode(), key=env["account_id"].encode())
        )
    await asyncio.gather(*acks)
    offered_s = time.monotonic() - start
    missing = await chained.wait_for(set(sent_at), drain)
    done = time.monotonic() - start
    latencies = sorted(
        chained.seen[i] - t if i not in missing else math.inf for i, t in sent_at.items()
    )
    # Where the time goes: publish → audit's transaction stamped it, and from there → its
    # TrailChained seen on the order log (commit, relay, one more hop).
    stamped = await ingested(audit_dsn, list(sent_at))
    to_audit = sorted(stamped[i] - t for i, t in sent_at.items() if i in stamped)
    to_log = sorted(chained.seen[i] - stamped[i] for i in stamped if i in chained.seen)
    return {
        "offered_per_s": rate,
        "events": total,
        "publish_s": round(offered_s, 1),
        "chained_per_s": round((total - len(missing)) / done, 1),
        "not_delivered": len(missing),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p95_ms": ms(percentile(latencies, 0.95)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(latencies[-1]),
        "publish_to_audit_txn_p50_ms": ms(percentile(to_audit, 0.50)) if to_audit else "none",
        "audit_txn_to_order_log_p50_ms": ms(percentile(to_log, 0.50)) if to_log else "none",
    }


async def bench(rates: list[int], seconds: float, accounts: int, drain: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp))
        try:
            await stack.start()
            bootstrap, prefix = stack.broker.bootstrap, stack.prefix
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2
            )
            await producer.start()
            try:
                async with Chained(bootstrap, f"{prefix}.audit") as chained:
                    run = stack.prefix[-6:]
                    setup = openings(run, accounts)
                    for env in setup:
                        await producer.send(
                            f"{prefix}.inbound",
                            json.dumps(env).encode(),
                            key=env["account_id"].encode(),
                        )
                    await producer.flush()
                    late = await chained.wait_for({e["id"] for e in setup}, SETUP_TIMEOUT_S)
                    assert not late, f"{len(late)} openings never reached the audit trail"
                    rows, first = [], 0
                    for rate in rates:
                        rows.append(
                            await phase(
                                producer, chained, stack.dsns()["audit"],
                                f"{prefix}.inbound", run, accounts,
                                rate, seconds, drain, first,
                            )
                        )  # fmt: skip
                        first += rows[-1]["events"]
                        print(json.dumps(rows[-1]), flush=True)
            finally:
                await producer.stop()
        finally:
            stack.teardown()
    return {"accounts": accounts, "seconds_per_rate": seconds, "phases": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rates", default="250,1000,2000", help="offered events/s, comma-separated")
    p.add_argument("--seconds", type=float, default=20.0, help="how long each rate is offered")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--drain", type=float, default=120.0, help="seconds to wait after a phase")
    args = p.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    figures = asyncio.run(bench(rates, args.seconds, args.accounts, args.drain))
    report("kafka_latency", figures)
    print(table([{"bench": f"kafka_latency {r['offered_per_s']}/s", "figures": r,
                  "peak_rss_mib": peak_rss_mib()} for r in figures["phases"]]))  # fmt: skip


if __name__ == "__main__":
    main()
