"""Plans' and contact's rebuilds on PostgreSQL: the same workloads as the SQLite tests, their
read models (contact's open cases too) equal to their rebuild, also after migration 0008
seeded the inbox from rows written before it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.contact.adapters.tables import open_cases
from services.contact.service_layer.projections import PROJECTION as CONTACT
from services.plans.service_layer.projections import PROJECTION as PLANS
from shared.envelope import Envelope
from shared.eventstore.rebuild import Target
from tests.support import settings_for
from tests.unit.contact_workload import run_contact_workload
from tests.unit.test_rebuild import rows_of, run_rebuild
from tests.unit.test_rebuild_consumed import SERVICES, from_before_the_inbox, workload

pytestmark = pytest.mark.integration


async def test_plans_and_contact_rebuild_on_postgresql(
    new_pg_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    s = {
        name: settings_for(name, tmp_path, database_url=await new_pg_database())
        for name in SERVICES
    }
    await workload(s)
    for service, projection in (("plans", PLANS), ("contact", CONTACT)):
        report = await run_rebuild(s[service], projection, check=True)
        assert report.equal and all(d.rebuilt for d in report.tables.values()), report.tables
        await asyncio.to_thread(from_before_the_inbox, s[service])
        report = await run_rebuild(s[service], projection, check=True)
        assert report.equal, report.tables


async def test_contact_open_cases_rebuild_on_postgresql(
    new_pg_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    urls = {name: await new_pg_database() for name in ("accounts", "contact")}
    s = (await run_contact_workload(tmp_path, database_urls=urls))["contact"]
    live = await rows_of(s, (open_cases,))
    report = await run_rebuild(s, CONTACT, check=True)
    assert report.equal, report.tables
    assert report.tables["open_cases"].rebuilt == len(live["open_cases"]) > 0
    # A projection that forgets the assignee's calls is told apart on PostgreSQL too.
    assert CONTACT.apply is not None
    apply = CONTACT.apply

    async def skipping(t: Target, env: Envelope) -> None:
        if env.type != "ContactAttemptRecorded":
            await apply(t, env)

    broken = dataclasses.replace(CONTACT, apply=skipping)
    assert not (await run_rebuild(s, broken, check=True)).tables["open_cases"].equal
