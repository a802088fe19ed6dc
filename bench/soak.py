"""Soak under faults: the fault tier's harness (tests/faults/harness.py), longer and larger.

Starts its own Kafka broker and durable PostgreSQL (deploy/local), the four services as OS
processes, then runs two phases on that stack, each a seeded workload published straight
onto `<prefix>.inbound` at a steady pace, with borrowers and agents at work through the
plans and contact APIs: first calm (no faults), then with rounds of faults (kill -9 of
every service, accounts more often, once while its outbox relays, a second accounts, a
second copy of a service stalled until its group rebalances, a broker stop/start, a
PostgreSQL crash). Prints the faults as they happened (with what each saw), then one
table: events published, faults injected, lost, duplicated, plans activated and calls
recorded through the APIs (and their retries), time to settle after the last fault, and
throughput (audit entries per second, first publish to settled) with and without.

    python bench/soak.py [--minutes 20] [--accounts 300] [--days 40] [--seed N]

Not part of `make bench` (too long). Needs java, mvn and PostgreSQL's server binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from figures import peak_rss_mib, report  # bench/figures.py: this script's folder is on sys.path
from table import table  # bench/table.py

# The harness lives with the fault tier's tests; this tree's root makes `tests` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.harness import RunReport, Stack, plan_faults, run
from tests.faults.infra import Postgres
from tests.faults.workload import Workload

# Half the minutes calm, half with faults: the same workload size at the same pace, so their
# end-to-end rates compare.
CALM_SHARE = 1 / 2
MINUTES_PER_ROUND = 5  # one round of every fault kind per this many minutes of faults


def pace_for(workload: Workload, seconds: float) -> float:
    """Seconds between steps so that publishing the workload takes about `seconds`."""
    return max(0.0, seconds / len(workload.steps()))


async def soak(
    minutes: float, accounts: int, days: int, seed: int, durable: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), postgres=Postgres(durable=durable))
        try:
            await stack.start()
            calm_load = Workload.generate(seed, accounts, days)
            calm = await run(
                stack,
                calm_load,
                [],
                pace_s=pace_for(calm_load, minutes * 60 * CALM_SHARE),
                sample=accounts,
            )
            faulty_load = Workload.generate(seed + 1, accounts, days)
            rounds = max(1, round(minutes * (1 - CALM_SHARE) / MINUTES_PER_ROUND))
            faulty = await run(
                stack,
                faulty_load,
                plan_faults(seed, faulty_load, rounds=rounds),
                pace_s=pace_for(faulty_load, minutes * 60 * (1 - CALM_SHARE)),
                sample=accounts,
                earlier_poison=calm.poison,
            )
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.teardown()
    print_faults(faulty)
    for problem in calm.findings.problems() + faulty.findings.problems():
        print("FOUND", problem)
    pg = "durable" if durable else "non-durable"
    return figures(
        calm,
        faulty,
        f"{accounts} accounts x {days} days per phase, {minutes} min, seed {seed}, PostgreSQL {pg}",
    )


def print_faults(faulty: RunReport) -> None:
    print(f"seed {faulty.seed}: faults as injected (seconds since the first publish)")
    for i in faulty.injected:
        note = f" ({i.note})" if i.note else ""
        missed = "" if i.landed else "  [did not strike as meant]"
        print(f"  {i.at_s:8.1f}s  {i.took_s:5.1f}s  {i.fault.describe()}{note}{missed}")


def figures(calm: RunReport, faulty: RunReport, setup: str) -> dict[str, Any]:
    def phase(r: RunReport) -> dict[str, Any]:
        return {
            "events_published": r.published,
            "audit_entries": r.findings.audit_entries,
            "lost": len(r.findings.lost),
            "duplicated": len(r.findings.duplicated),
            "other_findings": len(r.findings.problems())
            - len(r.findings.lost)
            - len(r.findings.duplicated),
            "plans_activated": len(r.relief.plans),
            "calls_recorded": sum(map(len, r.relief.attempts.values())),
            "http_retries": r.relief.retries,
            "settle_s": r.settle_s,
            "audit_entries_per_s": r.entries_per_s,
        }

    return {
        "setup": setup,
        "calm": phase(calm),
        "faults": {
            **phase(faulty),
            "faults_injected": len(faulty.injected),
            "faults_missed": sum(1 for i in faulty.injected if not i.landed),
            "settle_after_last_fault_s": faulty.settle_after_last_fault_s,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--accounts", type=int, default=300)
    p.add_argument("--days", type=int, default=40)
    p.add_argument("--seed", type=int, default=random.randrange(1_000_000))
    p.add_argument(
        "--non-durable-postgres",
        action="store_true",
        help="fsync and synchronous_commit off, as for the other tiers (issue 13's lost entries)",
    )
    args = p.parse_args()
    print(f"soak seed {args.seed}", flush=True)
    result = asyncio.run(
        soak(args.minutes, args.accounts, args.days, args.seed, not args.non_durable_postgres)
    )
    print(table([{"bench": "soak", "figures": result, "peak_rss_mib": peak_rss_mib()}]))
    report("soak", result)
    lost = result["calm"]["lost"] + result["faults"]["lost"]
    duplicated = result["calm"]["duplicated"] + result["faults"]["duplicated"]
    others = result["calm"]["other_findings"] + result["faults"]["other_findings"]
    if lost or duplicated or others or result["faults"]["faults_missed"]:
        sys.exit(f"seed {args.seed}: {lost} lost, {duplicated} duplicated (see FOUND lines)")


if __name__ == "__main__":
    main()
