"""The audit database: the platform tables plus the per-account trail."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from shared.eventstore.tables import Position, UtcDateTime, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)


def _entry_columns() -> list[Column[Any]]:
    return [
        Column("account_id", String(64), primary_key=True),
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("source", String(100), nullable=False),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("recorded_at", UtcDateTime(), nullable=True),
        Column("ingested_at", UtcDateTime(), nullable=False),
        # The event as chained: every personal field replaced by its commitment.
        Column("event", Text, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
    ]


audit_entries = Table("audit_entries", metadata, *_entry_columns())

# The personal values of the trail's events, kept beside the chain (which holds only
# their salted commitments), so they can be erased without breaking a hash.
audit_personal_values = Table(
    "audit_personal_values",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("path", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

# One random key per account; each personal field's salt is derived from it. Not derived
# from the topics: a rebuild keeps it (so commitments come out the same), erasure deletes it.
audit_subject_keys = Table(
    "audit_subject_keys",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# An erased account's trail up to its PersonalDataErased entry, as chained. A rebuild
# restores it instead of re-reading the topics, which may still hold the erased values
# (or may no longer hold the events at all).
audit_frozen_entries = Table("audit_frozen_entries", metadata, *_entry_columns())

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

# The last comparison with the published checkpoints that found nothing wrong (one row,
# signed with the checkpoint key), so the next one checks only what was published since.
published_compare = Table(
    "published_compare",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("lines", BigInteger, nullable=False),
    Column("lines_sha256", String(64), nullable=False),
    Column("checkpoint_id", BigInteger, nullable=False),
    Column("rows_sha256", String(64), nullable=False),
    Column("verified_at", UtcDateTime(), nullable=False),
    Column("signature", Text, nullable=False),
)
