"""The plans database: the platform tables plus the accounts plans may be agreed for."""

from sqlalchemy import Column, MetaData, String, Table

from shared.eventstore.tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

known_accounts = Table(
    "known_accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
)
