"""Kill every service (accounts more often), stop the broker, crash PostgreSQL, run two
copies of accounts at once — while an integrator publishes — and then nothing is lost,
nothing duplicated, every chain verifies and nothing is left behind.

The seed is printed; rerun one with ARREARS_FAULT_SEED=N.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.faults.harness import Stack, plan_faults, run
from tests.faults.workload import Workload

pytestmark = pytest.mark.faults


async def test_no_event_is_lost_or_duplicated_under_faults(stack: Stack) -> None:
    seed = int(os.environ.get("ARREARS_FAULT_SEED") or random.randrange(1_000_000))
    print(f"fault seed {seed} (rerun: ARREARS_FAULT_SEED={seed})")
    workload = Workload.generate(seed, n_accounts=24, n_days=6)
    faults = plan_faults(seed, workload)
    for f in faults:
        print("planned:", f.describe())
    report = await run(stack, workload, faults, pace_s=2.0, sample=24)
    for i in report.injected:
        print(f"injected at {i.at_s}s for {i.took_s}s: {i.fault.describe()}")
    print(
        f"published {report.published}, audit entries {report.findings.audit_entries}, "
        f"settled {report.settle_after_last_fault_s}s after the last fault"
    )
    problems = report.findings.problems()
    if problems:
        print(stack.logs())
    assert len(report.injected) == len(faults), f"seed {seed}"
    assert problems == [], f"seed {seed}: " + "\n".join(problems)
