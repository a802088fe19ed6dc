"""The accounts database: the platform tables, snapshots, an index of open accounts and
the book's closes of every account."""

from sqlalchemy import Column, Date, Index, MetaData, String, Table, Text

from shared.eventstore.snapshots import add_snapshot_table
from shared.eventstore.tables import UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)
# Accounts are long-lived streams (a close a day for years): loads start from a snapshot.
snapshot_tables = add_snapshot_table(metadata, platform.events)

account_index = Table(
    "account_index",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    # Who opened it: the integrator's token subject (or the source on the inbound topic).
    Column("opened_by", String(200), nullable=True),
    Index("ix_account_index_opened_by", "opened_by", "account_id"),
)

# What became of each event an integrator submitted over HTTP, so it can look it up later.
submissions = Table(
    "submissions",
    metadata,
    Column("submitter", String(200), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("submitted_at", UtcDateTime(), nullable=False),
    Index("ix_submissions_submitter_time", "submitter", "submitted_at"),
)

# Each business date a close of every account (`*`) closed, per scope: "" for every
# account, else the integrator whose own accounts it covered (INTEGRATOR_ACCOUNT_SCOPING).
# Written with the fan-out, in its transaction; an account opened or applied later reads
# it to catch up the closes it missed. `event` is the `*` close itself (its JSON), so a
# catch-up close carries the very id and fields the fan-out gave that account's close.
book_closes = Table(
    "book_closes",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("closed_at", UtcDateTime(), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event", Text, nullable=False),
)
