"""Plans' and contact's rebuilds on PostgreSQL: the same workload as the SQLite tests, its
read models equal to their rebuild, also after migration 0008 seeded the inbox from rows
written before it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.contact.service_layer.projections import PROJECTION as CONTACT
from services.plans.service_layer.projections import PROJECTION as PLANS
from tests.support import settings_for
from tests.unit.test_rebuild import run_rebuild
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
