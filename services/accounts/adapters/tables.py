"""The accounts database: the platform tables plus an index of open accounts."""

from sqlalchemy import Column, DateTime, MetaData, String, Table

from shared.eventstore.tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

account_index = Table(
    "account_index",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)
