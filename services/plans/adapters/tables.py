"""The plans database: the platform tables plus the accounts plans may be agreed for."""

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text

from shared.eventstore.tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

known_accounts = Table(
    "known_accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
    # Nullable: accounts remembered before products mattered to plans have none.
    Column("product", String(32), nullable=True),
)

# Each account's standing at its last day close, as the accounts service published it.
account_standings = Table(
    "account_standings",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("bucket", String(32), nullable=False),
    Column("days_past_due", Integer, nullable=False),
    Column("balances", Text, nullable=False),
    Column("overdue", Text, nullable=False),
    Column("deferral_months_used", Integer, nullable=False),
)
