"""The contact ports' contract on SQLite (the embedded default) and on the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.contact_contract import ContactPortsContract, Units, fake_units, sql_units


class TestSqliteContactPorts(ContactPortsContract):
    @pytest.fixture
    async def units(self, tmp_path: Path) -> AsyncIterator[Units]:
        async for units in sql_units(f"sqlite+aiosqlite:///{tmp_path / 'contact.sqlite3'}"):
            yield units


class TestFakeContactPorts(ContactPortsContract):
    @pytest.fixture
    def units(self) -> Units:
        return fake_units()
