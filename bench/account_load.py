"""How long loading one long-lived account takes: replayed from its first event, and from
its newest snapshot plus the events after it, side by side on the same database.

The account is billed once, never pays, and has every business date closed for `--days`
days, so its stream grows by a close, a late fee and the odd bucket change each day.

    python bench/account_load.py [--days 1400] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from figures import report  # bench/figures.py
from inbound import envelope, post_all, serving  # bench/inbound.py (on sys.path)

from services.accounts.bootstrap import bootstrap, create_app
from services.accounts.service_layer.unit_of_work import stream_id
from services.registry import migrations_dir
from shared.migrations import upgrade
from shared.settings import Settings

FIRST = date(2023, 1, 1)


async def load_ms(settings: Settings, account: str, rounds: int) -> tuple[float, int]:
    """Median milliseconds of one load of `account` in a fresh transaction (nothing cached)."""
    runtime = bootstrap(settings)
    times = []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            async with runtime.uow() as uow:
                loaded = await uow.accounts.get(account)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await runtime.engine.dispose()
    return statistics.median(times), loaded.version


async def run(days: int, rounds: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base: dict[str, Any] = {"data_dir": Path(tmp), "auth_mode": "development"}
        if database_url:
            base["database_url"] = database_url
        settings = Settings.load("accounts", **base, aggregate_cache_size=0)
        await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
        app = create_app(settings)
        account = f"long-{time.time_ns()}"
        opened = {"customer_id": "c", "product": "consumer_credit", "currency": "CNY",
                  "time_zone": "Asia/Shanghai"}  # fmt: skip
        bill = {"bill_id": "B1", "currency": "CNY", "principal": 100_000, "interest": 0,
                "fees": 0, "issued_on": "2022-12-01", "due_date": "2022-12-31"}  # fmt: skip
        at = "2022-12-01T09:00:00+08:00"
        events = [envelope("AccountOpened", account, opened, 2, at),
                  envelope("BillIssued", account, bill, occurred_at=at)]  # fmt: skip
        for d in range(days):
            day = (FIRST + timedelta(days=d)).isoformat()
            events.append(envelope("BusinessDayClosed", account, {"business_date": day}, 1, at))
        async with serving(app, settings) as http:
            await post_all(http, events)
        replay_settings = settings.model_copy(update={"snapshot_every": 0})
        replayed, version = await load_ms(replay_settings, account, rounds)
        snapped, same = await load_ms(settings, account, rounds)
        assert same == version
        async with app.state.runtime.uow() as uow:
            events_rows = (await uow.events.load(stream_id(account)))[1]
        return {
            "db": settings.database_url.split(":", 1)[0],
            "events": events_rows,
            "snapshot_every": settings.snapshot_every,
            "replay_ms": round(replayed, 1),
            "snapshot_ms": round(snapped, 1),
            "speedup": round(replayed / snapped, 1),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=int, default=1400)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--database-url")
    args = p.parse_args()
    report("account_load", asyncio.run(run(args.days, args.rounds, args.database_url)))


if __name__ == "__main__":
    main()
