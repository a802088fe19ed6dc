"""The integrator's submission log written a batch at once: the same outcomes as one at a
time, in a constant number of statements."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sqla_event

from services.accounts.bootstrap import bootstrap
from services.registry import migrations_dir
from shared.migrations import upgrade
from tests.support import settings_for

Outcome = tuple[str, str, str | None]
OUTCOMES = st.lists(
    st.tuples(
        st.sampled_from(["e1", "e2", "e3", "e4"]),
        st.sampled_from(["accepted", "rejected", "duplicate"]),
        st.sampled_from([None, "bad amount"]),
    ),
    max_size=12,
)


def _reason(value: object) -> str | None:
    return None if value is None else str(value)


def model(log: dict[str, tuple[str, str | None]], outcomes: list[Outcome]) -> None:
    """What the log means: latest outcome wins, a duplicate never replaces a record and is
    recorded as accepted when nothing was."""
    for event_id, status, reason in outcomes:
        if status == "duplicate":
            if event_id in log:
                continue
            status, reason = "accepted", None
        log[event_id] = (status, reason)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(OUTCOMES, min_size=1, max_size=3))
def test_batched_record_keeps_the_one_at_a_time_meaning(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[Outcome]]
) -> None:
    directory = tmp_path_factory.mktemp("subs")
    s = settings_for("accounts", directory)
    upgrade(s, migrations_dir("accounts"))

    async def run() -> dict[str, tuple[str, str | None]]:
        runtime = bootstrap(s)
        try:
            for outcomes in batches:
                async with runtime.uow() as uow:
                    await uow.submissions.record("int-1", outcomes)
                    await uow.commit()
            async with runtime.uow() as uow:
                rows = await uow.submissions.list("int-1", None, 0, 100)
        finally:
            await runtime.engine.dispose()
        return {str(r["event_id"]): (str(r["status"]), _reason(r["reason"])) for r in rows}

    expected: dict[str, tuple[str, str | None]] = {}
    for outcomes in batches:
        model(expected, outcomes)
    assert asyncio.run(run()) == expected


async def test_a_batch_of_500_outcomes_costs_the_same_statements_as_one_of_6(
    tmp_path: Path,
) -> None:
    s = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, s, migrations_dir("accounts"))
    runtime = bootstrap(s)
    seen: list[str] = []

    def count(_c: object, _cur: object, sql: str, *_: object) -> None:
        seen.append(sql.split()[0])

    async def statements(outcomes: list[Outcome]) -> list[str]:
        seen.clear()
        async with runtime.uow() as uow:
            await uow.submissions.record("int-1", outcomes)
            await uow.commit()
        return [x for x in seen if x not in ("BEGIN", "COMMIT")]

    sync = runtime.engine.sync_engine
    sqla_event.listen(sync, "before_cursor_execute", count)
    try:
        await statements([(f"w{i}", "accepted", None) for i in range(6)])  # known ones
        small = await statements([(f"w{i}", "rejected", "late") for i in range(6)])
        large = await statements(
            [(f"w{i}", "rejected", "late") for i in range(6)]
            + [(f"n{i}", "accepted", None) for i in range(494)]
        )
    finally:
        sqla_event.remove(sync, "before_cursor_execute", count)
        await runtime.engine.dispose()
    # Which ids are known, delete the replaced ones, insert every outcome: per batch.
    assert small == ["SELECT", "DELETE", "INSERT"]
    assert large == small
