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
from pathlib import Path
from typing import Any

from figures import report  # bench/figures.py
from inbound import accounts_api, envelope, post_all  # bench/inbound.py (on sys.path)
from sqlalchemy import func, select

from services.accounts.bootstrap import create_app
from services.registry import migrations_dir
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
        async with accounts_api(app, settings) as http:
            await post_all(http, events)
            index = runtime.tables.events

            async def count(type_: str) -> int:
                async with runtime.uow() as uow:
                    q = select(func.count()).where(
                        index.c.type == type_, index.c.account_id.startswith(run_id)
                    )
                    return int((await uow.session.execute(q)).scalar_one())

            async def until(type_: str) -> None:
                # Polled: the events land through the consumer, not this request.
                while True:
                    if await count(type_) >= n:
                        return
                    await asyncio.sleep(0.1)

            await until("BillIssued")
            star = envelope("BusinessDayClosed", "*", {"business_date": "2026-03-12"})
            t0 = time.perf_counter()
            r = await http.post("/v1/inbound/events", json={"events": [star]})
            assert r.status_code == 200, r.text
            await until("AccountDayClosed")
            seconds = time.perf_counter() - t0
        return {
            "db": settings.database_url.split(":", 1)[0],
            "accounts": n,
            "seconds": round(seconds, 2),
            "accounts_closed_per_second": round(n / seconds),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--database-url")
    args = p.parse_args()
    report("day_close", asyncio.run(run(args.accounts, args.database_url)))


if __name__ == "__main__":
    main()
