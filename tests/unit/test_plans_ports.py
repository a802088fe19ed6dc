"""The plans ports' contracts on SQLite (the embedded default) and on the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.plans_contract import PlansPortsContract, Units, fake_units, sql_units


class TestSqlitePlansPorts(PlansPortsContract):
    @pytest.fixture
    async def units(self, tmp_path: Path) -> AsyncIterator[Units]:
        async for units in sql_units(f"sqlite+aiosqlite:///{tmp_path / 'plans.sqlite3'}"):
            yield units


class TestFakePlansPorts(PlansPortsContract):
    @pytest.fixture
    def units(self) -> Units:
        return fake_units()
