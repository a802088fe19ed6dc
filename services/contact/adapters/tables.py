"""The contact database: the platform tables, and where each borrower lives."""

from sqlalchemy import Column, MetaData, String, Table

from shared.eventstore.tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

# Each borrower's time zone and rule pack, learnt from AccountOpened on the inbound topic.
borrowers = Table(
    "borrowers",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("jurisdiction", String(8), nullable=False),
)
