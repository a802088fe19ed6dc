"""The platform's tables, added to each service's own metadata (each service owns its DB)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored as UTC; SQLite would otherwise drop the offset silently."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for positions.
Position = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class PlatformTables:
    """Handles on the platform tables inside one service's metadata."""

    events: Table
    outbox: Table
    processed: Table
    dead_letters: Table
    parked: Table
    leases: Table
    rate_buckets: Table
    positions: Table
    gaps: Table


def add_platform_tables(metadata: MetaData) -> PlatformTables:
    """Define the event store, outbox, ledger, dead-letter, lease, rate-limit, position and
    gap tables in `metadata`."""
    events = Table(
        "events",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        Column("stream_id", String(128), nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("account_id", String(64), nullable=False, index=True),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("recorded_at", UtcDateTime(), nullable=False),
        Column("envelope", Text, nullable=False),
        UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    )
    outbox = Table(
        "outbox",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        # The relay only ever looks for unpublished rows; keep that index tiny.
        Index(
            "ix_outbox_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("kind", String(20), nullable=False),
        Column("reason", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("account_id", String(64), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("resolved_at", UtcDateTime(), nullable=True),
        Column("resolution", String(20), nullable=True),
        Column("resolved_by", String(200), nullable=True),
        UniqueConstraint("consumer", "topic", "partition", "offset", name="uq_dead_letter_source"),
    )
    parked = Table(
        "parked_records",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("account_id", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("parked_at", UtcDateTime(), nullable=False),
        UniqueConstraint("consumer", "topic", "partition", "offset", name="uq_parked_source"),
        Index("ix_parked_account", "consumer", "account_id", "id"),
    )
    leases = Table(
        "leases",
        metadata,
        Column("name", String(100), primary_key=True),
        Column("holder", String(100), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=False),
    )
    # Per-subject request budgets shared by every replica of the service (token buckets).
    rate_buckets = Table(
        "rate_buckets",
        metadata,
        Column("key", String(200), primary_key=True),
        Column("tokens", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
    )
    # Where each consumer is in each partition, written in the transaction of the effects
    # it read up to there (a tracking record): Kafka's committed offset is only a hint.
    positions = Table(
        "consumer_positions",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("topic", String(200), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    )
    # Offsets a consumer never read (the log no longer held them, or it was moved past
    # them): every one is a record whose effects may be missing.
    gaps = Table(
        "consumer_gaps",
        metadata,
        Column("id", Position, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("from_offset", BigInteger, nullable=False),
        Column("to_offset", BigInteger, nullable=False),
        Column("detected_at", UtcDateTime(), nullable=False),
        UniqueConstraint("consumer", "topic", "partition", "from_offset", name="uq_gap_start"),
    )
    return PlatformTables(
        events, outbox, processed, dead_letters, parked, leases, rate_buckets, positions, gaps
    )
