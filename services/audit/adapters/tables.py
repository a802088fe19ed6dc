"""The audit database: the platform tables plus the per-account trail."""

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Text,
)

from shared.eventstore.tables import Position, UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=True),
    Column("ingested_at", UtcDateTime(), nullable=False),
    Column("event", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
)

# Every read, export and verification of the trail, by whom and why (append-only).
access_log = Table(
    "access_log",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("role", String(50), nullable=False),
    Column("action", String(50), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("account_id", String(64), nullable=True),
    Column("filters", Text, nullable=False),
)

# Signed Merkle roots over every account's head, kept and served.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("heads", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("public_key", Text, nullable=False),
)
