"""The contact database: the platform tables, where each borrower lives, and read models.

The consumed facts (`consumed_facts`) are the record of what contact learnt from other
services' topics; `services.contact.service_layer.projections` says which read models
are projected from them, and which tables are work queues rather than projections.
"""

from sqlalchemy import BigInteger, Column, Date, Index, Integer, MetaData, String, Table

from shared.eventstore.inbox import add_inbox_table
from shared.eventstore.tables import UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)
# The facts consumed from other services' topics that borrowers, standings and payments
# are fed by.
inbox = add_inbox_table(metadata)

# Each borrower's time zone and rule pack, learnt from AccountOpened on the inbound topic.
borrowers = Table(
    "borrowers",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("jurisdiction", String(8), nullable=False),
    # The account's currency, for promises to pay; null on rows learnt before it was kept.
    Column("currency", String(3), nullable=True),
)

# The account's latest delinquency bucket as accounts reported it (bucket changes and day
# closes), so routing knows it even before a case opens.
standings = Table(
    "standings",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("bucket", String(40), nullable=False),
    Column("days_past_due", Integer, nullable=False),
    Column("business_date", Date, nullable=True),
)

# Payments accounts allocated, by business date: what promises to pay are measured against.
payments = Table(
    "payments",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("payment_id", String(64), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("amount", BigInteger, nullable=False),
)

# One row per open collection case: the queues agents pull their next task from.
open_cases = Table(
    "open_cases",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("case_id", String(64), nullable=False, unique=True),
    Column("queue", String(40), nullable=False),
    Column("segment", String(20), nullable=False),
    Column("bucket", String(40), nullable=False),
    Column("assigned_to", String(100), nullable=True),
    # When the assignee claimed or last worked the case; an old one makes the claim stale.
    Column("claimed_at", UtcDateTime(), nullable=True),
    # Nothing to do before this instant (a promise not yet due, an agreed callback slot).
    Column("next_action_at", UtcDateTime(), nullable=True),
    Column("opened_on", Date, nullable=False),
    Index("ix_open_cases_queue_opened", "queue", "opened_on"),
    Index("ix_open_cases_assigned_to", "assigned_to"),
)

# Automated reminders (pre-due and early days), one per bill, due date and kind: a work
# queue the reminder worker polls by next_try_at. The messages themselves, and every
# compliance decision about them, are events on the account's contact stream.
reminders = Table(
    "reminders",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("bill_id", String(64), primary_key=True),
    Column("due_date", Date, primary_key=True),
    # due_soon (accounts' PaymentDueSoon) or overdue (an early-days BillBecameOverdue).
    Column("kind", String(20), primary_key=True),
    Column("amount_due", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # pending (to send), sent, or skipped (paid, or gave up after max_tries).
    Column("status", String(10), nullable=False),
    Column("tries", Integer, nullable=False),
    Column("next_try_at", UtcDateTime(), nullable=False),
    Column("last_reason", String(500), nullable=True),
    Index("ix_reminders_status_next_try", "status", "next_try_at"),
)
