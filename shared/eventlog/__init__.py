"""Event logs: the port every service publishes to and consumes from, and its adapters."""

from shared.eventlog.port import (
    CommitFailed,
    EventLog,
    EventLogNotStarted,
    LogUnavailable,
    PartitionsCallback,
    Published,
    Record,
    Subscription,
    TopicPartition,
)

__all__ = [
    "CommitFailed",
    "EventLog",
    "EventLogNotStarted",
    "LogUnavailable",
    "PartitionsCallback",
    "Published",
    "Record",
    "Subscription",
    "TopicPartition",
]
