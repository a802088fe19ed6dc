"""Inbound events per second through accounts and audit on real Kafka and PostgreSQL, with
one copy of each service and with two (each copy its own OS process, one group per service).

Starts the copies, publishes the events onto the inbound topic and times how long from
the first publish until every consumer of both services has caught up (lag 0, outboxes
empty, as their `/metrics` say). Prints each copy's share of the inbound events too.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19292 \\
    ARREARS_TEST_PG_URL=postgresql+asyncpg://arrears:arrears@127.0.0.1:15433/arrears_test \\
    python bench/scale_out.py [--accounts 300] [--copies 1 2]

On a machine of few cores the copies compete for the same CPUs (and PostgreSQL's): the
gain is what the cores allow, not twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import report  # bench/figures.py: this script's folder is on sys.path

# The harness lives with the Kafka tier's tests; this tree's root makes `tests` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kafka.scale_out import ScaleOut, workload


async def once(bootstrap: str, pg_url: str, accounts: int, copies: int) -> dict[str, Any]:
    events = workload(accounts)
    with tempfile.TemporaryDirectory() as tmp:
        stack = ScaleOut(Path(tmp), bootstrap, pg_url, copies=copies)
        try:
            await stack.start()
            # From the first publish to the last consumer caught up: the copies run already.
            start = time.perf_counter()
            await stack.publish(events)
            await stack.settled()
            elapsed = time.perf_counter() - start
            shares = {s: [int(n) for n in await stack.applied(s)] for s in ("accounts", "audit")}
        finally:
            stack.stop()
            await stack.drop_databases()
    return {
        "copies": copies,
        "events": len(events),
        "seconds": round(elapsed, 1),
        "events_per_second": round(len(events) / elapsed),
        "accounts_applied_per_copy": shares["accounts"],
        "audit_applied_per_copy": shares["audit"],
    }


async def run(bootstrap: str, pg_url: str, accounts: int, copies: list[int]) -> dict[str, Any]:
    results = [await once(bootstrap, pg_url, accounts, n) for n in copies]
    figures: dict[str, Any] = {f"copies_{r['copies']}": r for r in results}
    if len(results) > 1:
        figures["speedup"] = round(
            results[-1]["events_per_second"] / results[0]["events_per_second"], 2
        )
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=300, help="7 inbound events each")
    p.add_argument("--copies", type=int, nargs="+", default=[1, 2])
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    p.add_argument("--pg-url", default=os.environ.get("ARREARS_TEST_PG_URL"))
    args = p.parse_args()
    if not args.bootstrap or not args.pg_url:
        p.error("needs KAFKA_BOOTSTRAP_SERVERS and ARREARS_TEST_PG_URL (or --bootstrap, --pg-url)")
    report("scale_out", asyncio.run(run(args.bootstrap, args.pg_url, args.accounts, args.copies)))


if __name__ == "__main__":
    main()
