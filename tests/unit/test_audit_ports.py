"""The audit ports' contracts on SQLite (the embedded default) and on the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.audit_contract import AuditPortsContract, Seed, Units, fake_units, sql_units


class TestSqliteAuditPorts(AuditPortsContract):
    @pytest.fixture
    async def units(self, tmp_path: Path) -> AsyncIterator[tuple[Units, Seed]]:
        async for units in sql_units(f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite3'}"):
            yield units


class TestFakeAuditPorts(AuditPortsContract):
    @pytest.fixture
    def units(self) -> tuple[Units, Seed]:
        return fake_units()
