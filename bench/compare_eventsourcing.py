"""The accounts pipeline beside its peer, the eventsourcing library, on the same open/bill/pay
workload and SQLite, each leg in its own subprocess: `python bench/compare_eventsourcing.py
[--events 3000] [--accounts 300]` (needs `pip install -e '.[bench]'`, which `make bench` does).

Legs: the peer's `ProcessApplication` consuming a leader's notifications (timed from the
leader's events already written to the follower's last tracked notification), the peer's
batched append (1000 aggregates per `save`), and bench/pipeline.py's embedded log + SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from functools import singledispatchmethod
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System
from figures import bench_line, peak_rss_mib  # bench/figures.py: this folder is on sys.path
from inbound import inbound_events  # bench/inbound.py

SAVE_BATCH = 1000  # aggregates per save in the peer's batched append, as in issue 12's table


def account_uuid(account_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"arrears-bench/{account_id}")


class Feed(Aggregate):
    """The leader's record of what the integrator said about one account."""

    @staticmethod
    def create_id(account_id: str, **_: Any) -> UUID:
        return account_uuid(account_id)

    @event("AccountOpened")
    def __init__(
        self, account_id: str, customer_id: str, product: str, currency: str, time_zone: str
    ) -> None:
        self.account_id = account_id

    @event("BillIssued")
    def bill_issued(
        self, bill_id: str, currency: str, principal: int, issued_on: str, due_date: str
    ) -> None:
        pass

    @event("PaymentReceived")
    def payment_received(self, payment_id: str, currency: str, amount: int, paid_at: str) -> None:
        pass


class Account(Aggregate):
    """The follower's account: its bills' outstanding amounts, oldest first."""

    @staticmethod
    def create_id(account_id: str, **_: Any) -> UUID:
        return account_uuid(account_id)

    @event("Opened")
    def __init__(self, account_id: str, currency: str) -> None:
        self.account_id = account_id
        self.currency = currency
        self.outstanding: dict[str, int] = {}

    @event("BillRecorded")
    def record_bill(self, bill_id: str, principal: int, due_date: str) -> None:
        self.outstanding[bill_id] = principal

    @event("PaymentAllocated")
    def allocate(self, payment_id: str, bill_id: str | None, amount: int) -> None:
        if bill_id is not None:
            self.outstanding[bill_id] -= amount


class Integrator(Application[UUID]):
    """The leader: integrator events recorded as they arrive."""


class Accounts(ProcessApplication[UUID]):
    """The follower: loads the account, decides, saves with the leader's tracking record."""

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Events this process does not act on."""

    @policy.register(Feed.AccountOpened)
    def _(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        processing_event.collect_events(Account(domain_event.account_id, domain_event.currency))

    @policy.register(Feed.BillIssued)
    def _(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        account: Account = self.repository.get(domain_event.originator_id)
        account.record_bill(domain_event.bill_id, domain_event.principal, domain_event.due_date)
        processing_event.collect_events(account)

    @policy.register(Feed.PaymentReceived)
    def _(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        account: Account = self.repository.get(domain_event.originator_id)
        # The oldest bill still owed takes the payment; with none owed it stays unallocated.
        owed = next((b for b, left in account.outstanding.items() if left > 0), None)
        amount = domain_event.amount
        if owed is not None:
            amount = min(amount, account.outstanding[owed])
        account.allocate(domain_event.payment_id, owed, amount)
        processing_event.collect_events(account)


def peer_env(tmp: str) -> dict[str, str]:
    """Each application in its own SQLite file (each has one `stored_events` table)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "INTEGRATOR_SQLITE_DBNAME": str(Path(tmp) / "integrator.sqlite"),
        "ACCOUNTS_SQLITE_DBNAME": str(Path(tmp) / "accounts.sqlite"),
    }


def write_leader(env: dict[str, str], events: list[dict[str, Any]]) -> float:
    """Saves the workload as one Feed aggregate per account, SAVE_BATCH aggregates a save;
    returns the seconds the saves took."""
    feeds: dict[str, Feed] = {}
    for e in events:
        data = e["data"]
        if e["type"] == "AccountOpened":
            feeds[e["account_id"]] = Feed(account_id=e["account_id"], **data)
        elif e["type"] == "BillIssued":
            feeds[e["account_id"]].bill_issued(**data)
        else:
            feeds[e["account_id"]].payment_received(**data)
    leader = Integrator(env=env)
    aggregates = list(feeds.values())
    start = time.perf_counter()
    for i in range(0, len(aggregates), SAVE_BATCH):
        leader.save(*aggregates[i : i + SAVE_BATCH])
    elapsed = time.perf_counter() - start
    assert leader.recorder.max_notification_id() == len(events)
    leader.close()
    return elapsed


def peer_append(n: int, accounts: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return write_leader(peer_env(tmp), inbound_events(n, accounts))


def peer_process(n: int, accounts: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = peer_env(tmp)
        write_leader(env, inbound_events(n, accounts))
        # The runner prompts followers when a leader saves; the leader saved before the runner
        # started, so the follower is asked to catch up, as the runner itself would ask it.
        runner: SingleThreadedRunner[UUID] = SingleThreadedRunner(
            System(pipes=[[Integrator, Accounts]]), env=env
        )
        runner.start()
        follower = runner.get(Accounts)
        start = time.perf_counter()
        follower.pull_and_process(Integrator.name)
        elapsed = time.perf_counter() - start
        assert follower.recorder.max_tracking_id(Integrator.name) == n
        assert follower.recorder.max_notification_id() == n  # one decision per inbound event
        runner.stop()
        return elapsed


def arrears_pipeline(n: int, accounts: int) -> float:
    # Imported here, not at the top, so the peer's legs do not carry arrears in their RSS.
    from pipeline import run

    result = asyncio.run(run(n, accounts, "embedded", None))
    return float(result["seconds"])


LEGS = {
    "eventsourcing ProcessApplication": peer_process,
    "eventsourcing batched append": peer_append,
    "arrears accounts pipeline": arrears_pipeline,
}
ARREARS = "arrears accounts pipeline"


def leg(name: str, n: int, accounts: int) -> dict[str, Any]:
    seconds = LEGS[name](n, accounts)
    return {
        "path": name,
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_second": round(n / seconds),
        "peak_rss_mib": peak_rss_mib(),
    }


def in_subprocess(name: str, n: int, accounts: int) -> dict[str, Any]:
    """Runs one leg in a fresh interpreter, so its peak RSS is its own."""
    argv = [
        sys.executable,
        __file__,
        "--leg",
        name,
        "--events",
        str(n),
        "--accounts",
        str(accounts),
    ]
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--accounts", type=int, default=300)
    p.add_argument("--leg", choices=sorted(LEGS), help="run one leg here and print its JSON")
    args = p.parse_args()
    if args.leg:
        print(json.dumps(leg(args.leg, args.events, args.accounts)))
        return
    results = [in_subprocess(name, args.events, args.accounts) for name in LEGS]
    ours = next(r["events_per_second"] for r in results if r["path"] == ARREARS)
    header = ("path", "events", "seconds", "events/s", "arrears/this", "peak RSS MiB")
    rows = [header]
    for r in results:
        r["arrears_over_this"] = round(ours / r["events_per_second"], 2)
        cells = (r["events"], r["seconds"], r["events_per_second"], r["arrears_over_this"])
        rows.append((r["path"], *map(str, cells), str(r["peak_rss_mib"])))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for r in results:
        figures = {k: r[k] for k in ("events", "seconds", "events_per_second", "arrears_over_this")}
        bench_line(f"compare: {r['path']}", figures, r["peak_rss_mib"])


if __name__ == "__main__":
    main()
