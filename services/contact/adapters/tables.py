"""The contact database: the platform tables (cases live in their event streams)."""

from sqlalchemy import MetaData

from shared.eventstore.tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)
