"""Latency of the relief-plan lifecycle through the HTTP APIs, and how long until accounts
has applied an accepted plan (the bills replaced by the plan's installments).

Accounts and plans run in this process on the embedded event log (or Kafka), each with
its own database. For each of N overdue accounts: quote, request with a quoted option
(offered at once), accept its disclosure; then wait for accounts to show the schedule.

    python bench/plans_lifecycle.py [--accounts 100] [--database-url-accounts URL ...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from figures import report  # bench/figures.py
from inbound import envelope  # bench/inbound.py: this script's folder is on sys.path

from services.registry import bootstrap_module, migrations_dir
from shared.auth import mint_dev_token
from shared.migrations import upgrade
from shared.settings import Settings


def overdue(account: str) -> list[dict[str, Any]]:
    """An account with a 1000.00 bill due 10 March, closed on the 12th."""
    opened = {"customer_id": "c", "product": "consumer_credit", "currency": "CNY",
              "time_zone": "Asia/Shanghai"}  # fmt: skip
    bill = {"bill_id": "B1", "currency": "CNY", "principal": 100_000, "interest": 0, "fees": 0,
            "issued_on": "2026-03-01", "due_date": "2026-03-10"}  # fmt: skip
    closed = envelope("BusinessDayClosed", account, {"business_date": "2026-03-12"})
    closed["occurred_at"] = "2026-03-12T23:59:00+08:00"
    return [
        envelope("AccountOpened", account, opened, 2),
        envelope("BillIssued", account, bill),
        closed,
    ]


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered) * 1000, 1),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
    }


async def run(n: int, urls: dict[str, str | None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = {}
        for name in ("accounts", "plans"):
            overrides: dict[str, Any] = {
                "data_dir": Path(tmp),
                "auth_mode": "development",
                "embedded_log_path": Path(tmp) / "eventlog.sqlite3",
            }
            if urls.get(name):
                overrides["database_url"] = urls[name]
            settings[name] = Settings.load(name, **overrides)
            await asyncio.to_thread(upgrade, settings[name], migrations_dir(name))
        async with AsyncExitStack() as stack:
            http: dict[str, httpx.AsyncClient] = {}
            for name in ("accounts", "plans"):
                app = bootstrap_module(name).create_app(settings[name])
                await stack.enter_async_context(app.router.lifespan_context(app))
                http[name] = await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
                    )
                )

            def token(service: str, role: str, account: str | None = None) -> dict[str, str]:
                accounts = [account] if account else None
                # One subject per borrower: the rate limit is per subject.
                subject = account or "bench"
                jwt = mint_dev_token(
                    settings[service], role=role, subject=subject, accounts=accounts
                )
                return {"Authorization": f"Bearer {jwt}"}

            run_id = uuid.uuid4().hex[:6]
            accounts = [f"{run_id}-{i}" for i in range(n)]
            events = [e for a in accounts for e in overdue(a)]
            for i in range(0, len(events), 300):
                r = await http["accounts"].post(
                    "/v1/inbound/events",
                    json={"events": events[i : i + 300]},
                    headers=token("accounts", "integrator"),
                )
                assert r.status_code == 200, r.text
            # Plans prices from the close once it has consumed it.
            while True:
                r = await http["plans"].post(
                    f"/v1/accounts/{accounts[-1]}/plans/quote",
                    json={},
                    headers=token("plans", "agent"),
                )
                if r.status_code == 200 and r.json()["as_of"] == "2026-03-12":
                    break
                await asyncio.sleep(0.05)

            quote_s, request_s, accept_s, applied_s = [], [], [], []
            agent = token("accounts", "agent")
            for a in accounts:
                me = token("plans", "borrower", a)
                t = time.perf_counter()
                q = await http["plans"].post(f"/v1/accounts/{a}/plans/quote", json={}, headers=me)
                quote_s.append(time.perf_counter() - t)
                assert q.status_code == 200, q.text
                t = time.perf_counter()
                body = {"plan_type": "reinstallment", "channel": "app",
                        "option": {"option_id": "reinstallment-6"}}  # fmt: skip
                p = await http["plans"].post(f"/v1/accounts/{a}/plans", json=body, headers=me)
                request_s.append(time.perf_counter() - t)
                assert p.status_code == 201, p.text
                plan = p.json()
                t = time.perf_counter()
                accepted = await http["plans"].post(
                    f"/v1/accounts/{a}/plans/{plan['plan_id']}/accept",
                    json={"channel": "app",
                          "disclosure_sha256": plan["offer"]["disclosure_sha256"]},
                    headers=me,
                )  # fmt: skip
                accept_s.append(time.perf_counter() - t)
                assert accepted.status_code == 200, accepted.text
                # One plan at a time: the latency of relay → log → accounts, not a backlog.
                t = time.perf_counter()
                while True:
                    r = await http["accounts"].get(f"/v1/accounts/{a}", headers=agent)
                    if r.json()["relief"]["active_plans"]:
                        break
                    await asyncio.sleep(0.01)
                applied_s.append(time.perf_counter() - t)
        return {
            "accounts": n,
            "db": {k: settings[k].database_url.split(":", 1)[0] for k in settings},
            "quote_ms": ms(quote_s),
            "request_and_offer_ms": ms(request_s),
            "accept_and_activate_ms": ms(accept_s),
            "accepted_to_applied_in_accounts_ms": ms(applied_s),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--database-url-accounts")
    p.add_argument("--database-url-plans")
    args = p.parse_args()
    urls = {"accounts": args.database_url_accounts, "plans": args.database_url_plans}
    report("plans_lifecycle", asyncio.run(run(args.accounts, urls)))


if __name__ == "__main__":
    main()
