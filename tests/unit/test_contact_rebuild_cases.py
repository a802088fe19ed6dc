"""`arrears rebuild contact` covers the open cases: after a realistic contact workload the
live queue rows equal the ones rebuilt from contact's events, row for row, and a check
names a tampered row or a projection changed on purpose."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from services.contact.adapters.tables import open_cases
from services.contact.service_layer.projections import PROJECTION
from shared.envelope import Envelope
from shared.eventstore.rebuild import Target
from shared.settings import Settings
from tests.faults import checks
from tests.support import settings_for
from tests.unit.contact_kit import streams
from tests.unit.contact_workload import AGENTS, EARLY, run_contact_workload
from tests.unit.test_rebuild import change, rows_of, run_rebuild

COLUMNS = [c.name for c in open_cases.columns]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the workload, copied by each test that changes it."""
    data_dir = tmp_path_factory.mktemp("contact-cases")
    asyncio.run(run_contact_workload(data_dir))
    return data_dir


@pytest.fixture
def contact(ran: Path, tmp_path: Path) -> Settings:
    shutil.copytree(ran, tmp_path / "install")
    return settings_for("contact", tmp_path / "install")


async def queue_rows(s: Settings) -> dict[str, dict[str, Any]]:
    rows = (await rows_of(s, (open_cases,)))["open_cases"]
    return {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows}


async def test_the_workload_reached_every_state_of_a_queue_row(contact: Settings) -> None:
    rows = await queue_rows(contact)
    # The cured account's case closed; every other case is open in its queue.
    assert len(rows) == len(AGENTS) and {r["queue"] for r in rows.values()} == {
        "agents",
        "senior",
        "specialist",
        "reminders",
    }
    assert {r["assigned_to"] for r in rows.values()} >= {"bob", "dave"}
    assert sum(r["claimed_at"] is not None for r in rows.values()) == 2
    assert sum(r["next_action_at"] is not None for r in rows.values()) == 1  # the callback
    assert rows[EARLY]["bucket"] == "1-30"
    cases, _ = await streams(contact, EARLY)
    assert [t for t, _ in cases][-1] == "CollectionCaseReclassified"


async def test_the_open_cases_equal_their_rebuild_row_for_row(contact: Settings) -> None:
    live = await queue_rows(contact)
    report = await run_rebuild(contact, PROJECTION, page=5)
    assert report.equal, report.tables
    assert report.tables["open_cases"].rebuilt == len(live)
    assert await queue_rows(contact) == live


@pytest.mark.parametrize(
    "statement",
    [
        update(open_cases).where(open_cases.c.assigned_to == "dave").values(claimed_at=None),
        update(open_cases).where(open_cases.c.queue == "senior").values(assigned_to="carol"),
        update(open_cases).where(open_cases.c.account_id == EARLY).values(bucket="current"),
        update(open_cases)
        .where(open_cases.c.next_action_at.is_not(None))
        .values(next_action_at=None),
    ],
    ids=["claim", "assignee", "bucket", "next-action"],
)
async def test_a_check_names_a_tampered_row_and_a_rebuild_repairs_it(
    contact: Settings, statement: Any
) -> None:
    live = await queue_rows(contact)
    await change(contact, statement)
    checked = await run_rebuild(contact, PROJECTION, check=True)
    assert not checked.tables["open_cases"].equal
    assert {n for n, d in checked.tables.items() if not d.equal} == {"open_cases"}
    await run_rebuild(contact, PROJECTION)
    assert await queue_rows(contact) == live


@pytest.mark.parametrize(
    "skipped",
    ["ContactAttemptRecorded", "CallbackAgreed", "CollectionCaseReclassified", "PromiseToPayKept"],
)
async def test_a_projection_that_skips_an_event_is_caught(contact: Settings, skipped: str) -> None:
    assert PROJECTION.apply is not None
    apply = PROJECTION.apply

    async def skipping(t: Target, env: Envelope) -> None:
        if env.type != skipped:
            await apply(t, env)

    broken = dataclasses.replace(PROJECTION, apply=skipping)
    report = await run_rebuild(contact, broken, check=True)
    assert not report.tables["open_cases"].equal


async def test_the_fault_tiers_rebuild_check_covers_the_open_cases(
    contact: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {"contact": contact.database_url}
    monkeypatch.setattr(checks, "REBUILT", ("contact",))
    clean = checks.Findings()
    await checks.check_rebuilds(clean, urls)
    assert clean.rebuilds == []
    await change(contact, update(open_cases).values(assigned_to="mallory"))
    found = checks.Findings()
    await checks.check_rebuilds(found, urls)
    assert any(line.startswith("contact open_cases:") for line in found.rebuilds), found
