"""The accounts database: the platform tables plus an index of open accounts."""

from sqlalchemy import Column, MetaData, String, Table

from shared.eventstore.tables import UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

account_index = Table(
    "account_index",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("opened_at", UtcDateTime(), nullable=False),
)
