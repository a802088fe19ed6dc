"""How long a close of every account takes: one `BusinessDayClosed` for account `*`, fanned
out by the accounts service into one close per account, until every account has closed.

    python bench/day_close.py [--accounts 1000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from figures import report  # bench/figures.py
from inbound import envelope, post_all, serving  # bench/inbound.py (on sys.path)
from sqlalchemy import func, select

from services.accounts.bootstrap import create_app
from services.registry import migrations_dir
from shared.eventlog.embedded import partition_for
from shared.migrations import upgrade
from shared.settings import Settings


async def run(n: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp), "auth_mode": "development"}
        if database_url:
            overrides["database_url"] = database_url
        settings = Settings.load("accounts", **overrides)
        await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
        app = create_app(settings)
        runtime = app.state.runtime
        run_id = uuid.uuid4().hex[:6]
        accounts = [f"{run_id}-{i}" for i in range(n)]
        opened = {"customer_id": "c", "product": "consumer_credit", "currency": "CNY",
                  "time_zone": "Asia/Shanghai"}  # fmt: skip
        bill = {"bill_id": "B1", "currency": "CNY", "principal": 100_000, "interest": 0,
                "fees": 0, "issued_on": "2026-03-01", "due_date": "2026-03-10"}  # fmt: skip
        events = [e for a in accounts for e in (envelope("AccountOpened", a, opened, 2),
                                                 envelope("BillIssued", a, bill))]  # fmt: skip
        async with serving(app, settings) as http:
            await post_all(http, events)
            index = runtime.tables.events

            async def closed(among: list[str] | None = None) -> int:
                query = select(func.count()).where(index.c.type == "AccountDayClosed")
                if among is None:
                    query = query.where(index.c.account_id.startswith(run_id))
                else:
                    query = query.where(index.c.account_id.in_(among))
                async with runtime.uow() as uow:
                    return int((await uow.session.execute(query)).scalar_one())

            # The closes fan out in account-id order and each partition applies in order,
            # so the book is closed once each partition's last account is: polling those
            # few keeps the harness from scanning the whole table while it measures.
            last: dict[int, str] = {}
            for a in sorted(accounts):
                last[partition_for(a.encode(), settings.topic_partitions)] = a
            star = envelope("BusinessDayClosed", "*", {"business_date": "2026-03-12"})
            t0 = time.perf_counter()
            r = await http.post("/v1/inbound/events", json={"events": [star]})
            assert r.status_code == 200, r.text
            await until(lambda: closed(list(last.values())), len(last))
            await until(closed, n)  # at once, while the order above holds
            seconds = time.perf_counter() - t0
        return {
            "db": settings.database_url.split(":", 1)[0],
            "accounts": n,
            "seconds": round(seconds, 2),
            "accounts_closed_per_second": round(n / seconds),
        }


async def until(count: Callable[[], Awaitable[int]], target: int) -> None:
    """Poll until `count()` reaches `target`: the closes land through the consumer."""
    while True:
        if await count() >= target:
            return
        await asyncio.sleep(0.05)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--database-url")
    args = p.parse_args()
    report("day_close", asyncio.run(run(args.accounts, args.database_url)))


if __name__ == "__main__":
    main()
