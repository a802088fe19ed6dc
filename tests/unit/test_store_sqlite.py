"""The store contract on SQLite, the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.store_contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def database_url(self, tmp_path: Path) -> str:
        return f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3"
