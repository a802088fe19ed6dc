"""Latency of the contact-compliance check through the contact API (an agent asking "may I
call now?"), allowed and blocked, with the decision recorded as the API always does.

Accounts and contact run in this process on the embedded event log, each with its own
database. N accounts are opened and billed through accounts' inbound API; once contact
knows them, each is checked a few times during the day (allowed until the daily cap) and
once in quiet hours (blocked).

    python bench/contact_check.py [--accounts 200] [--checks-per-account 4]
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

from figures import report  # bench/figures.py
from inbound import envelope, post_all, serving  # bench/inbound.py (on sys.path)

from services.registry import bootstrap_module, migrations_dir
from shared.migrations import upgrade
from shared.settings import Settings


def ms(samples: list[float]) -> dict[str, float]:
    """Median and p95 (nearest rank) of samples in seconds, in milliseconds."""
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
    }


async def run(n: int, per_account: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = {
            name: Settings.load(
                name,
                data_dir=Path(tmp),
                auth_mode="development",
                embedded_log_path=Path(tmp) / "eventlog.sqlite3",
            )
            for name in ("accounts", "contact")
        }
        for name, s in settings.items():
            await asyncio.to_thread(upgrade, s, migrations_dir(name))
        run_id = uuid.uuid4().hex[:6]
        accounts = [f"{run_id}-{i}" for i in range(n)]
        opened = {"customer_id": "c", "product": "consumer_credit", "currency": "CNY",
                  "time_zone": "Asia/Shanghai"}  # fmt: skip
        bill = {"bill_id": "B1", "currency": "CNY", "principal": 100_000, "interest": 0,
                "fees": 0, "issued_on": "2026-03-01", "due_date": "2026-03-10"}  # fmt: skip
        async with AsyncExitStack() as stack:
            http = {
                name: await stack.enter_async_context(
                    serving(bootstrap_module(name).create_app(s), s, role=role)
                )
                for (name, s), role in zip(settings.items(), ("integrator", "agent"), strict=True)
            }
            await post_all(
                http["accounts"],
                [e for a in accounts for e in (envelope("AccountOpened", a, opened, 2),
                                               envelope("BillIssued", a, bill))],
            )  # fmt: skip

            async def check(account: str, at: str) -> tuple[float, dict[str, Any]]:
                body = {"channel": "call", "planned_at": at, "debt_id": "B1"}
                t = time.perf_counter()
                r = await http["contact"].post(
                    f"/v1/accounts/{account}/contact-attempts/check", json=body
                )
                elapsed = time.perf_counter() - t
                assert r.status_code == 200, r.text
                return elapsed, r.json()

            # Contact learns of an account from accounts' events: wait for the last one.
            while True:
                r = await http["contact"].post(
                    f"/v1/accounts/{accounts[-1]}/contact-attempts/check",
                    json={"channel": "call", "planned_at": "2026-03-11T09:00:00+08:00",
                          "debt_id": "B1"},
                )  # fmt: skip
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.05)

            allowed: list[float] = []
            blocked: list[float] = []
            for a in accounts:
                for hour in range(per_account):
                    elapsed, decision = await check(a, f"2026-03-12T{10 + hour:02d}:00:00+08:00")
                    (allowed if decision["decision"] == "allowed" else blocked).append(elapsed)
                elapsed, decision = await check(a, "2026-03-12T22:30:00+08:00")
                assert decision["decision"] == "blocked", decision
                blocked.append(elapsed)
        return {
            "accounts": n,
            "checks": len(allowed) + len(blocked),
            "allowed_ms": ms(allowed),
            "blocked_ms": ms(blocked),
            "all_ms": ms(allowed + blocked),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--checks-per-account", type=int, default=4)
    args = p.parse_args()
    report("contact_check", asyncio.run(run(args.accounts, args.checks_per_account)))


if __name__ == "__main__":
    main()
