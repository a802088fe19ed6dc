"""The plans database: the platform tables, the consumed facts and the read models
(`services.plans.service_layer.projections` says what each is projected from)."""

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, Text, false

from shared.eventstore.inbox import add_inbox_table
from shared.eventstore.tables import UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)
# The facts consumed from other services' topics that the read models below are fed by.
inbox = add_inbox_table(metadata)

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
    # A payment reached accounts after this close: prices from it would be stale.
    Column("moved_since_close", Boolean, nullable=False, server_default=false()),
)

# One row per plan: where each stands, so plans of an account, open plans at a day close
# and the eligibility history (last re-installment, last broken plan) need no replay.
plan_index = Table(
    "plan_index",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("plan_type", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_on", Date, nullable=False),
    Column("activated_on", Date, nullable=True),
    Column("ended_on", Date, nullable=True),
    # The standing an offer was priced from; acceptance refuses a stale offer.
    Column("offer_basis", String(64), nullable=True),
)

# Hardship documents, stored content-addressed (the bytes live in the evidence store).
evidence = Table(
    "evidence",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("received_by", String(200), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

# The bills accounts issued for a plan's installments (from BalanceReinstalled): payments
# allocated to them are what meets a re-installment's installments.
plan_bills = Table(
    "plan_bills",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("bill_id", String(100), primary_key=True),
)
