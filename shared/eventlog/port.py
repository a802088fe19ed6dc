"""The event log port: keyed, partitioned, ordered topics consumed by groups (Kafka's model)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """One message read from a topic partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int

    @property
    def tp(self) -> TopicPartition:
        """The partition this record came from."""
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Published:
    """Where a published message landed."""

    topic: str
    partition: int
    offset: int


class Unpublishable(Exception):
    """The log refuses this message itself (e.g. too large): sending it again cannot succeed."""


class LogUnavailable(Exception):
    """The log cannot serve now (unreachable, not yet up, not connected): later may succeed."""


class EventLogNotStarted(LogUnavailable, RuntimeError):
    """The event log or a subscription was used before `start()` or after `close()`."""


class CommitFailed(Exception):
    """The group moved a partition away before the offsets could be committed."""


PartitionsCallback = Callable[[set[TopicPartition]], Awaitable[None]]


class Subscription(abc.ABC):
    """Membership of one consumer group on some topics; batches arrive in partition order."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Join the group."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the group so others take over its partitions at once."""

    @abc.abstractmethod
    async def poll(self, timeout: float = 1.0) -> list[Record]:
        """Up to the batch size of records, waiting at most `timeout` seconds for any."""

    @abc.abstractmethod
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record, per partition, the offset of the next record to read; raise CommitFailed."""

    @abc.abstractmethod
    async def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Read each of these held partitions next from the given offset (a stored position);
        callable from `on_assigned`, before the partitions' first records are polled."""

    @abc.abstractmethod
    async def seek_to_beginning(self) -> None:
        """Read the assigned partitions again from their first record (a replay)."""

    @abc.abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now."""


class EventLog(abc.ABC):
    """A durable log of keyed messages: publish to topics, consume in groups, replay."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and disconnect."""

    @abc.abstractmethod
    async def ensure_topics(self, topics: Sequence[str], partitions: int) -> None:
        """Create the topics that do not exist yet."""

    @abc.abstractmethod
    async def publish_batch(
        self, topic: str, messages: Sequence[tuple[bytes, bytes]]
    ) -> list[Published]:
        """Publish (key, value) messages in order; return once every one is acknowledged."""

    async def publish(self, topic: str, key: bytes, value: bytes) -> Published:
        """Publish one keyed message and wait for its acknowledgement."""
        (published,) = await self.publish_batch(topic, [(key, value)])
        return published

    @abc.abstractmethod
    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        *,
        max_batch: int = 500,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
    ) -> Subscription:
        """A not-yet-started membership of `group` on `topics`."""

    @abc.abstractmethod
    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """The offset the next message of each partition will get (for progress and lag)."""
