"""Events per second through the plans consumers, and the latency of a quote.

Plans runs in this process on the embedded event log and SQLite. Its accounts are opened
and closed once (untimed); a third of them get an active deferral through the API; then
`--rounds` rounds of a payment and a day close per account are published to the accounts
topic and timed until plans has applied them all (each tracks the account's standing and,
for an account with a plan, counts the payment toward it and checks its installments).
The quotes are timed one account at a time, after the first close.

    python bench/plans_pipeline.py [--accounts 300] [--rounds 5]
    python bench/plans_pipeline.py --trees /work/main .   # the same run on two trees

With --trees, each tree's code runs this script in its own process (PYTHONPATH=tree),
one after the other, and the figures are printed side by side with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from figures import PREFIX, report  # bench/figures.py: this script's folder is on sys.path
from inbound import envelope  # bench/inbound.py
from sqlalchemy import func, select

from services.registry import bootstrap_module, migrations_dir
from shared.auth import mint_dev_token
from shared.migrations import upgrade
from shared.settings import Settings

FIRST = date(2026, 3, 12)
BALANCES = {"principal": 300_000, "interest": 6_000, "fees": 1_500, "late_fee": 4_200}
OVERDUE = {"principal": 100_000, "interest": 2_000, "fees": 500, "late_fee": 4_200}


def closed(account: str, day: date) -> dict[str, Any]:
    """The account's close of `day`, 40 days past due, with the standing plans prices from."""
    data = {"business_date": day.isoformat(), "days_past_due": 40, "bucket": "31-60",
            "balances": BALANCES, "overdue": OVERDUE, "deferral_months_used": 0}  # fmt: skip
    return envelope("AccountDayClosed", account, data, occurred_at=f"{day}T23:59:00+08:00")


def paid(account: str, day: date) -> dict[str, Any]:
    """A payment of 10.00 allocated to the account's overdue bill on `day`."""
    data = {"payment_id": f"P-{uuid.uuid4().hex[:8]}", "currency": "CNY", "amount": 1_000,
            "allocations": [{"bill_id": "B1", "amount": 1_000}], "unallocated": 0,
            "business_date": day.isoformat()}  # fmt: skip
    return envelope("PaymentAllocated", account, data, 2, occurred_at=f"{day}T12:00:00+08:00")


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[max(int(len(ordered) * 0.95) - 1, 0)] * 1000, 2),
    }


async def run(n: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            "plans",
            data_dir=Path(tmp),
            auth_mode="development",
            embedded_log_path=Path(tmp) / "eventlog.sqlite3",
            consumer_max_batch=500,
        )
        await asyncio.to_thread(upgrade, settings, migrations_dir("plans"))
        app = bootstrap_module("plans").create_app(settings)
        runtime = app.state.runtime
        topics = settings.topics

        def token(role: str, account: str | None = None) -> dict[str, str]:
            jwt = mint_dev_token(
                settings,
                role=role,
                subject=account or "bench",
                accounts=[account] if account else None,
            )
            return {"Authorization": f"Bearer {jwt}"}

        async def applied(table: Any = runtime.tables.processed) -> int:
            async with runtime.uow() as uow:
                count = select(func.count()).select_from(table)
                return int((await uow.session.execute(count)).scalar() or 0)

        async def publish(topic: str, events: list[dict[str, Any]]) -> None:
            for i in range(0, len(events), 1000):
                await runtime.log.publish_batch(
                    topic,
                    [
                        (e["account_id"].encode(), json.dumps(e).encode())
                        for e in events[i : i + 1000]
                    ],
                )

        async def until(count: int) -> None:
            while await applied() < count:  # noqa: ASYNC110 - the consumers run in the background
                await asyncio.sleep(0.02)

        async with app.router.lifespan_context(app):
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://plans"
            )
            run_id = uuid.uuid4().hex[:6]
            accounts = [f"{run_id}-{i}" for i in range(n)]
            opened = {"customer_id": "c", "product": "consumer_credit", "currency": "CNY",
                      "time_zone": "Asia/Shanghai"}  # fmt: skip
            await publish(
                topics.inbound, [envelope("AccountOpened", a, opened, 2) for a in accounts]
            )
            await publish(topics.accounts, [closed(a, FIRST) for a in accounts])
            await until(2 * n)

            quotes = []
            for i, a in enumerate(accounts):
                me = token("borrower", a)
                t = time.perf_counter()
                q = await http.post(f"/v1/accounts/{a}/plans/quote", json={}, headers=me)
                quotes.append(time.perf_counter() - t)
                assert q.status_code == 200, q.text
                if i % 3:
                    continue
                option = next(o for o in q.json()["options"] if o["plan_type"] == "deferral")
                body = {
                    "plan_type": "deferral",
                    "channel": "app",
                    "option": {"option_id": option["option_id"]},
                }
                p = await http.post(f"/v1/accounts/{a}/plans", json=body, headers=me)
                assert p.status_code == 201, p.text
                plan = p.json()
                r = await http.post(
                    f"/v1/accounts/{a}/plans/{plan['plan_id']}/accept",
                    json={
                        "channel": "app",
                        "disclosure_sha256": plan["offer"]["disclosure_sha256"],
                    },
                    headers=me,
                )
                assert r.status_code == 200, r.text

            events = []
            for k in range(1, rounds + 1):
                day = FIRST + timedelta(days=k)
                events += [e for a in accounts for e in (paid(a, day), closed(a, day))]
            base, queued = await applied(), await applied(runtime.tables.outbox)
            start = time.perf_counter()
            await publish(topics.accounts, events)
            await until(base + len(events))
            elapsed = time.perf_counter() - start
            # The same on every tree: what the plans tracked made of the payments and closes.
            plan_events = await applied(runtime.tables.outbox) - queued
            await http.aclose()
        return {
            "accounts": n,
            "events": len(events),
            "active_plans": len(accounts[::3]),
            "plan_events": plan_events,
            "seconds": round(elapsed, 2),
            "events_per_second": round(len(events) / elapsed),
            "quote_ms": ms(quotes),
        }


def side_by_side(trees: list[str], argv: list[str]) -> None:
    """Run this script once per tree, each on that tree's code, and print the figures."""
    found: dict[str, dict[str, Any]] = {}
    for tree in trees:
        env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
        out = subprocess.run(
            [sys.executable, __file__, *argv], env=env, check=True, capture_output=True, text=True
        ).stdout
        line = next(x for x in out.splitlines() if x.startswith(PREFIX))
        found[tree] = json.loads(line[len(PREFIX) :])["figures"]
        print(tree, json.dumps(found[tree]))
    first, last = (found[t] for t in (trees[0], trees[-1]))
    print(
        f"events/s {first['events_per_second']} → {last['events_per_second']} "
        f"(x {last['events_per_second'] / first['events_per_second']:.1f}); quote p95 ms "
        f"{first['quote_ms']['p95']} → {last['quote_ms']['p95']}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--trees", nargs="+", help="source trees to run the same bench on, in turn")
    args = p.parse_args()
    if args.trees:
        side_by_side(args.trees, ["--accounts", str(args.accounts), "--rounds", str(args.rounds)])
        return
    report("plans_pipeline", asyncio.run(run(args.accounts, args.rounds)))


if __name__ == "__main__":
    main()
