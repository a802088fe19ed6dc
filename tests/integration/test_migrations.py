"""Every service migrates up from an empty PostgreSQL database to exactly its models."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.registry import migrations_dir
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_build_exactly_the_models_schema(service: str, pg_database: str) -> None:
    settings = Settings.load(service, database_url=pg_database)
    await asyncio.to_thread(upgrade, settings, migrations_dir(service))
    # Running it again is a no-op, as `arrears serve` does on every start.
    await asyncio.to_thread(upgrade, settings, migrations_dir(service))
    tables_module = importlib.import_module(f"services.{service}.adapters.tables")

    def diff(conn: Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(conn), tables_module.metadata)

    engine = create_async_engine(pg_database)
    try:
        async with engine.connect() as conn:
            drift = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert drift == []
