"""Events per second through the accounts service's consume → handle → append → publish path.

Publishes N inbound events (accounts opened, bills issued, payments received) to the
inbound topic first, then starts the accounts service and times how long until every
event is applied and every resulting event is published by the relay.

    python bench/pipeline.py [--events 5000] [--accounts 500] [--log embedded|kafka]

With --log kafka, KAFKA_BOOTSTRAP_SERVERS must point at a broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from figures import report  # bench/figures.py
from inbound import inbound_events  # bench/inbound.py: this script's folder is on sys.path
from sqlalchemy import func, select

from services.accounts.bootstrap import bootstrap
from services.registry import migrations_dir
from shared.migrations import upgrade
from shared.settings import Settings


async def run(n: int, accounts: int, log_kind: str, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {
            "data_dir": Path(tmp),
            "event_log": log_kind,
            "topic_prefix": f"bench{uuid.uuid4().hex[:6]}",
            "consumer_max_batch": 500,
        }
        if database_url:
            overrides["database_url"] = database_url
        settings = Settings.load("accounts", **overrides)
        await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
        runtime = bootstrap(settings)
        events = inbound_events(n, accounts)
        await runtime.log.start()
        await runtime.log.ensure_topics(settings.topics.all(), settings.topic_partitions)
        for i in range(0, len(events), 1000):
            chunk = events[i : i + 1000]
            await runtime.log.publish_batch(
                settings.topics.inbound,
                [(e["account_id"].encode(), json.dumps(e).encode()) for e in chunk],
            )
        t = runtime.tables
        expected_out = sum(e["type"] == "PaymentReceived" for e in events)

        async def counts() -> tuple[int, int]:
            async with runtime.uow() as uow:
                done = await uow.session.execute(select(func.count()).select_from(t.processed))
                sent = await uow.session.execute(
                    select(func.count())
                    .select_from(t.outbox)
                    .where(t.outbox.c.published_at.is_not(None))
                )
                return int(done.scalar() or 0), int(sent.scalar() or 0)

        # A reused database (--database-url) already holds earlier runs: count the change.
        base_done, base_sent = await counts()
        start = time.perf_counter()
        await runtime.start()
        # Polls the database: the work happens in the runtime's background tasks.
        while await counts() != (base_done + n, base_sent + expected_out):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        await runtime.stop()
        return {
            "log": log_kind,
            "db": settings.database_url.split(":", 1)[0],
            "events": n,
            "accounts": accounts,
            "seconds": round(elapsed, 2),
            "events_per_second": round(n / elapsed),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--accounts", type=int, default=500)
    p.add_argument("--log", choices=["embedded", "kafka"], default="embedded")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = p.parse_args()
    report("pipeline", asyncio.run(run(args.events, args.accounts, args.log, args.database_url)))


if __name__ == "__main__":
    main()
