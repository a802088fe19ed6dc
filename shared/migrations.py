"""Alembic, driven by each service's settings; every service keeps its own migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, TypeDecorator, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import ensure_sqlite_dir
from shared.settings import Settings


def alembic_config(settings: Settings, migrations_dir: Path) -> Config:
    """An Alembic config pointing at a service's migrations and database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings, migrations_dir: Path, revision: str = "head") -> None:
    """Migrate the service's database up to `revision` (blocking; call before serving)."""
    command.upgrade(alembic_config(settings, migrations_dir), revision)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import application types: render a TypeDecorator as the
    # plain SQLAlchemy type it stores (UtcDateTime -> sa.DateTime(timezone=True)).
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_env(metadata: MetaData) -> None:
    """The body of every service's `env.py`: online, async, with batch mode for SQLite."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by alembic_config()"

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_item=_render_item,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        ensure_sqlite_dir(url)
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
    else:
        asyncio.run(run())
