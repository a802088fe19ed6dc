"""The event log port on Apache Kafka, through aiokafka.

One `KafkaEventLog` owns an idempotent producer (acks=all), an admin client for topic
management and a group-less consumer for end offsets; each `subscribe` call makes an
independent group member (`KafkaSubscription`) with explicit, manual offset commits.

Delivery is at least once: a publish that fails is retried once on a fresh producer,
which may write messages of the batch a second time, and a consumer sees records again
after a rebalance or restart up to its last commit. Consumers must be idempotent (they
record what they consumed in the same transaction as its effects).

Create topics with `ensure_topics` before producing or subscribing: metadata requests
from aiokafka let a broker with `auto.create.topics.enable=true` create a missing topic
with the broker's default partition count.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    IllegalStateError,
    InvalidTopicError,
    KafkaConfigurationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NoError,
    RebalanceInProgressError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownMemberIdError,
    UnsupportedVersionError,
    for_code,
)

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
    Unpublishable,
)

log = logging.getLogger(__name__)

# Errors about the request itself: a fresh producer would fail the same way, so these
# are raised at once instead of triggering the re-create-and-retry path.
_PERMANENT_PUBLISH_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
    KafkaConfigurationError,
)

# Of those, the ones about one message, not the topic or the client: the relay parks
# that message's key and goes on with the others.
_MESSAGE_REFUSED_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
)

# What the group coordinator answers when this member's generation is gone; aiokafka
# wraps most of them in CommitFailedError, but not on every code path.
_COMMIT_REJECTED_ERRORS: tuple[type[Exception], ...] = (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)


# How long a failed publish waits for the replaced producer to stop before retrying.
_RETIRE_GRACE_S = 1.0


_starting: contextvars.ContextVar[bool] = contextvars.ContextVar("kafka_starting", default=False)


class _QuietBootstrap(logging.Filter):
    """Drops aiokafka's own line for a refused bootstrap while `start()` runs: the runtime
    logs one line for the failed attempt, with the same reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The bootstrap's own template only: tasks the clients spawn while starting inherit
        # the flag, and their later "cannot reach node" lines must still show.
        return not (_starting.get() and record.msg == _BOOTSTRAP_REFUSED)


_BOOTSTRAP_REFUSED = 'Unable connect to "%s:%s": %s'
_QUIET_BOOTSTRAP = _QuietBootstrap()


def _transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the cluster unreachable, not ready or slow
    (a broker still starting), as opposed to a request the cluster refuses outright."""
    if isinstance(exc, KafkaTimeoutError | OSError | TimeoutError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def _describe(exc: BaseException) -> str:
    # One line, bounded: it ends up in a log line. aiokafka's errors name themselves.
    text, name = str(exc), type(exc).__name__
    return (text if text.startswith(name) else f"{name}: {text}")[:300].splitlines()[0]


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark a late failure as seen, so asyncio does not log 'exception never retrieved'."""
    if not future.cancelled():
        future.exception()


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    """Stop a producer, logging instead of raising: it is being thrown away."""
    try:
        await producer.stop()
    except Exception as exc:
        log.warning("kafka producer did not stop cleanly: %r", exc)


def _to_port(tps: Any) -> set[TopicPartition]:
    return {TopicPartition(tp.topic, tp.partition) for tp in tps}


class KafkaEventLog(EventLog):
    """An `EventLog` on a Kafka cluster: idempotent publishing, group consumption, replay."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "arrears",
        security: dict[str, Any] | None = None,
        replication_factor: int = 1,
        linger_ms: int = 5,
        max_batch_bytes: int = 131_072,
        compression_type: str | None = "gzip",
        delivery_timeout_s: float = 30.0,
        topic_ready_timeout_s: float = 30.0,
        heartbeat_interval_ms: int = 1000,
    ) -> None:
        # Nothing connects here: clients need a running event loop, which start() has.
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        # security_protocol, sasl_*, ssl_context: the same for every client we make.
        self._security: dict[str, Any] = dict(security or {})
        self._replication_factor = replication_factor
        self._linger_ms = linger_ms
        # aiokafka's 16 KiB default holds ~80 small events per partition request;
        # larger batches measured ~1.5x the publish throughput here.
        self._max_batch_bytes = max_batch_bytes
        # gzip needs only the standard library; lz4/snappy/zstd need native extras.
        self._compression_type = compression_type
        self._delivery_timeout_s = delivery_timeout_s
        self._topic_ready_timeout_s = topic_ready_timeout_s
        # Members learn of a rebalance from a heartbeat answer; at aiokafka's 3 s
        # default a joining member waits ~3 s for the others (stop-the-world).
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._started = False
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets_consumer: AIOKafkaConsumer | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer, the admin client and the end-offsets consumer."""
        if self._started:
            return
        # Idempotent, and not at import: a filter is a change to global logging state.
        logging.getLogger("aiokafka").addFilter(_QUIET_BOOTSTRAP)
        quiet = _starting.set(True)
        try:
            self._producer = await self._new_producer()
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap_servers,
                client_id=f"{self._client_id}-admin",
                **self._security,
            )
            await self._admin.start()
            # No group and no subscription: it only answers ListOffsets for end_offsets.
            self._offsets_consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap_servers,
                client_id=f"{self._client_id}-offsets",
                group_id=None,
                enable_auto_commit=False,
                **self._security,
            )
            await self._offsets_consumer.start()
        except BaseException as exc:
            await self._close_clients()
            if _transient(exc):
                raise LogUnavailable(f"cannot reach Kafka: {_describe(exc)}") from exc
            raise
        finally:
            _starting.reset(quiet)
        self._started = True

    async def close(self) -> None:
        """Flush pending messages and disconnect every client."""
        self._started = False
        await self._close_clients()

    async def _close_clients(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        consumer, self._offsets_consumer = self._offsets_consumer, None
        if producer is not None:
            self._retire(producer)
        if self._retiring:
            _, stuck = await asyncio.wait(set(self._retiring), timeout=self._delivery_timeout_s)
            for task in stuck:
                # Shutting down with a broker that does not answer: give up on it.
                log.warning("kafka producer did not stop within %ss", self._delivery_timeout_s)
                task.cancel()
        if admin is not None:
            await admin.close()
        if consumer is not None:
            await consumer.stop()

    def _require_started(self) -> None:
        if not self._started:
            raise EventLogNotStarted("KafkaEventLog is not started: call `await start()` first")

    # -- producing -----------------------------------------------------------------

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=f"{self._client_id}-producer",
            acks="all",
            # Idempotence keeps per-partition order and drops broker-side duplicates of
            # internal retries; it requires acks="all".
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            max_batch_size=self._max_batch_bytes,
            compression_type=self._compression_type,
            **self._security,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    def _retire(self, producer: AIOKafkaProducer) -> asyncio.Task[None]:
        """Stop `producer` in a task of its own, tracked until it finishes."""
        task = asyncio.create_task(_stop_quietly(producer))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return task

    async def _current_producer(self) -> AIOKafkaProducer:
        self._require_started()
        async with self._producer_lock:
            if self._producer is None:
                self._producer = await self._new_producer()
            return self._producer

    async def _discard_producer(self, producer: AIOKafkaProducer) -> None:
        # Only the first of several concurrent publishers that saw `producer` fail
        # replaces it; the others then simply retry on the replacement.
        async with self._producer_lock:
            if self._producer is not producer:
                return
            self._producer = None
        # stop() first delivers what is queued, and with idempotence aiokafka retries
        # that forever, so a producer wedged on a dead broker stops only once the
        # broker is back (or its sender dies). Waiting a moment lets a merely failed
        # producer finish cleanly; a wedged one finishes in the background.
        await asyncio.wait({self._retire(producer)}, timeout=_RETIRE_GRACE_S)

    async def publish_batch(
        self, topic: str, messages: Sequence[tuple[bytes, bytes]]
    ) -> list[Published]:
        """Publish (key, value) messages in order; return once every one is acknowledged."""
        if not messages:
            self._require_started()
            return []
        producer = await self._current_producer()
        try:
            return await self._send_all(producer, topic, messages)
        except _MESSAGE_REFUSED_ERRORS as exc:
            raise Unpublishable(f"{type(exc).__name__}: {exc}") from exc
        except _PERMANENT_PUBLISH_ERRORS:
            raise
        except KafkaError as exc:
            # An idempotent producer can stay wedged after a broker outage
            # (OutOfOrderSequenceNumber, a dead sender task, endless retries); only a
            # new producer id gets it moving again. Messages of this batch that were
            # already written are written again: at-least-once, consumers dedupe.
            log.warning(
                "publishing %d messages to %s failed (%r); retrying on a new producer",
                len(messages),
                topic,
                exc,
            )
            await self._discard_producer(producer)
        producer = await self._current_producer()
        try:
            return await self._send_all(producer, topic, messages)
        except _MESSAGE_REFUSED_ERRORS as exc:
            raise Unpublishable(f"{type(exc).__name__}: {exc}") from exc
        except _PERMANENT_PUBLISH_ERRORS:
            raise
        except KafkaError:
            # Do not hand the next caller a producer that just failed.
            await self._discard_producer(producer)
            raise

    async def _send_all(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        messages: Sequence[tuple[bytes, bytes]],
    ) -> list[Published]:
        futures: list[asyncio.Future[Any]] = []
        send_error: KafkaError | None = None
        try:
            # send() only enqueues (awaiting buffer space and topic metadata); queueing
            # every message before awaiting any lets them share request batches.
            for key, value in messages:
                futures.append(await producer.send(topic, value=value, key=key))
        except KafkaError as exc:
            send_error = exc
        if futures:
            # With idempotence aiokafka never expires a batch, so bound the wait here.
            done, pending = await asyncio.wait(futures, timeout=self._delivery_timeout_s)
            for future in pending:
                future.add_done_callback(_retrieve_exception)
            failures = [
                failure
                for future in done
                if not future.cancelled() and (failure := future.exception()) is not None
            ]
        else:
            pending, failures = set(), []
        if send_error is not None:
            raise send_error
        if failures:
            raise failures[0]
        if pending:
            raise KafkaTimeoutError(
                f"{len(pending)} of {len(messages)} messages to {topic!r} not acknowledged "
                f"within {self._delivery_timeout_s}s"
            )
        results = []
        for future in futures:
            meta = future.result()
            results.append(
                Published(topic=meta.topic, partition=meta.partition, offset=meta.offset)
            )
        return results

    # -- topics and offsets --------------------------------------------------------

    def _require_admin(self) -> AIOKafkaAdminClient:
        self._require_started()
        assert self._admin is not None
        return self._admin

    async def ensure_topics(self, topics: Sequence[str], partitions: int) -> None:
        """Create the topics that do not exist yet and wait until the cluster serves them."""
        try:
            await self._ensure_topics(topics, partitions)
        except Exception as exc:
            if _transient(exc) and not isinstance(exc, LogUnavailable):
                raise LogUnavailable(f"cannot create topics: {_describe(exc)}") from exc
            raise

    async def _ensure_topics(self, topics: Sequence[str], partitions: int) -> None:
        admin = self._require_admin()
        wanted = list(dict.fromkeys(topics))
        if not wanted:
            return
        response = await admin.create_topics(
            [
                NewTopic(
                    name=name,
                    num_partitions=partitions,
                    replication_factor=self._replication_factor,
                )
                for name in wanted
            ]
        )
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            error_type = for_code(code)
            if error_type is NoError or error_type is TopicAlreadyExistsError:
                continue
            message = entry[2] if len(entry) > 2 else ""
            raise error_type(f"cannot create topic {name!r}: {message}")
        await self._wait_for_topics(admin, wanted, partitions)

    async def _wait_for_topics(
        self, admin: AIOKafkaAdminClient, topics: list[str], partitions: int
    ) -> None:
        # CreateTopics returns before every partition has a leader; a producer or
        # consumer arriving in that window sees LEADER_NOT_AVAILABLE.
        deadline = time.monotonic() + self._topic_ready_timeout_s
        warned: set[str] = set()
        while True:
            ready = set()
            for meta in await admin.describe_topics(topics):
                name, parts = meta["topic"], meta["partitions"]
                if meta["error_code"] != 0 or not parts:
                    continue
                if any(p["error_code"] != 0 or p["leader"] < 0 for p in parts):
                    continue
                if len(parts) != partitions and name not in warned:
                    warned.add(name)
                    log.warning(
                        "topic %s already exists with %d partitions, not %d",
                        name,
                        len(parts),
                        partitions,
                    )
                ready.add(name)
            if ready.issuperset(topics):
                break
            if time.monotonic() >= deadline:
                missing = sorted(set(topics) - ready)
                raise KafkaTimeoutError(
                    f"topics {missing} not ready after {self._topic_ready_timeout_s}s"
                )
            await asyncio.sleep(0.1)
        # The metadata names a leader a moment before that broker serves the partition
        # (produce then gets NOT_LEADER and retries); ListOffsets retries until it does.
        assert self._offsets_consumer is not None
        served = [
            KafkaTopicPartition(meta["topic"], part["partition"])
            for meta in await admin.describe_topics(topics)
            for part in meta["partitions"]
        ]
        await self._offsets_consumer.end_offsets(served)

    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """The offset the next message of each partition will get (for progress and lag)."""
        admin = self._require_admin()
        assert self._offsets_consumer is not None
        wanted = set(topics)
        if not wanted:
            return {}
        # Metadata for *all* topics: asking for named ones would auto-create missing
        # topics on brokers that allow it. A missing topic simply has no partitions.
        tps = [
            KafkaTopicPartition(meta["topic"], part["partition"])
            for meta in await admin.describe_topics(None)
            if meta["topic"] in wanted and meta["error_code"] == 0
            for part in meta["partitions"]
        ]
        if not tps:
            return {}
        offsets = await self._offsets_consumer.end_offsets(tps)
        return {
            TopicPartition(tp.topic, tp.partition): offset for tp, offset in sorted(offsets.items())
        }

    # -- consuming -----------------------------------------------------------------

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        *,
        max_batch: int = 500,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
    ) -> KafkaSubscription:
        """A not-yet-started membership of `group` on `topics`."""
        return KafkaSubscription(
            bootstrap_servers=self._bootstrap_servers,
            client_id=f"{self._client_id}-{group}",
            security=self._security,
            heartbeat_interval_ms=self._heartbeat_interval_ms,
            group=group,
            topics=topics,
            max_batch=max_batch,
            on_assigned=on_assigned,
            on_revoked=on_revoked,
        )


class _RebalanceListener(ConsumerRebalanceListener):
    """Forwards aiokafka's rebalance notifications to the subscription's callbacks."""

    def __init__(self, subscription: KafkaSubscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._subscription._partitions_revoked(_to_port(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._subscription._partitions_assigned(_to_port(assigned))


class KafkaSubscription(Subscription):
    """One member of a Kafka consumer group, committing offsets only when told to."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        client_id: str,
        security: Mapping[str, Any],
        heartbeat_interval_ms: int,
        group: str,
        topics: Sequence[str],
        max_batch: int,
        on_assigned: PartitionsCallback | None,
        on_revoked: PartitionsCallback | None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._security = dict(security)
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._group = group
        self._topics = list(dict.fromkeys(topics))
        self._max_batch = max_batch
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._consumer: AIOKafkaConsumer | None = None
        # aiokafka runs the listener in its coordinator task and only logs what it
        # raises; we keep it and raise it from the next poll() instead.
        self._callback_error: BaseException | None = None
        # True from a revocation until the next assignment: aiokafka keeps reporting
        # the old partitions in that window although other members may own them.
        self._rebalancing = False
        self._assigned = asyncio.Event()
        self._closing = False

    async def start(self) -> None:
        """Join the group; returns once this member has its first assignment."""
        if self._consumer is not None:
            raise RuntimeError(f"subscription of group {self._group!r} already started")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_batch,
            heartbeat_interval_ms=self._heartbeat_interval_ms,
            **self._security,
        )
        # Subscribing before start() makes start() wait for the first assignment.
        consumer.subscribe(topics=self._topics, listener=_RebalanceListener(self))
        self._consumer = consumer
        try:
            await consumer.start()
        except BaseException:
            self._consumer = None
            await consumer.stop()
            raise

    async def close(self) -> None:
        """Tell `on_revoked` about the partitions held, then leave the group."""
        consumer = self._consumer
        if consumer is None or self._closing:
            return
        self._closing = True
        error: BaseException | None = None
        try:
            # aiokafka's stop() does not notify the listener; a handler that keeps
            # per-partition state needs to hear that it gives the partitions up, and
            # may still commit them (the member is in the group until stop()).
            held = self.assignment()
            if held and self._on_revoked is not None:
                try:
                    await self._on_revoked(held)
                except Exception as exc:
                    error = exc
        finally:
            self._consumer = None
            self._closing = False
            await consumer.stop()
        if error is not None:
            raise error

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise EventLogNotStarted(
                f"subscription of group {self._group!r} is not started (or closed)"
            )
        return self._consumer

    async def _partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._rebalancing = True
        self._assigned.clear()
        # The first join "revokes" nothing; that is not worth a callback.
        if revoked and self._on_revoked is not None:
            await self._run_callback(self._on_revoked, revoked, "on_revoked")

    async def _partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._rebalancing = False
        self._assigned.set()
        if self._on_assigned is not None:
            await self._run_callback(self._on_assigned, assigned, "on_assigned")

    async def _run_callback(
        self, callback: PartitionsCallback, tps: set[TopicPartition], name: str
    ) -> None:
        try:
            await callback(tps)
        except Exception as exc:
            log.exception("%s callback of group %s failed", name, self._group)
            if self._callback_error is None:
                self._callback_error = exc

    async def poll(self, timeout: float = 1.0) -> list[Record]:
        """Up to the batch size of records, waiting at most `timeout` seconds for any."""
        consumer = self._require()
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error
        deadline = time.monotonic() + max(0.0, timeout)
        if self._rebalancing:
            # getmany's timeout does not cover a rebalance: it waits for the new
            # assignment however long that takes. Wait here instead, bounded, rather
            # than cancel getmany, which would leave aiokafka's poll-interval tracking
            # (its fetch_context counter) permanently "in a fetch".
            try:
                await asyncio.wait_for(self._assigned.wait(), deadline - time.monotonic())
            except TimeoutError:
                return []
        remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
        batches = await consumer.getmany(timeout_ms=remaining_ms, max_records=self._max_batch)
        # getmany keeps each partition's records in offset order; partitions are
        # concatenated in a stable order.
        return [
            Record(
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                key=msg.key,
                # A tombstone (null value) has no bytes; the port's value is bytes.
                value=msg.value if msg.value is not None else b"",
                timestamp_ms=msg.timestamp,
            )
            for tp in sorted(batches)
            for msg in batches[tp]
        ]

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Record, per partition, the offset of the next record to read; raise CommitFailed."""
        if not offsets:
            return
        consumer = self._require()
        kafka_offsets = {
            KafkaTopicPartition(tp.topic, tp.partition): offset for tp, offset in offsets.items()
        }
        try:
            await consumer.commit(kafka_offsets)
        except _COMMIT_REJECTED_ERRORS as exc:
            raise CommitFailed(
                f"group {self._group!r} rebalanced before the commit of {dict(offsets)}: {exc}"
            ) from exc
        except IllegalStateError as exc:
            # aiokafka's "partition is not assigned" / "no partitions assigned": the
            # partition was revoked, or a rebalance is under way.
            raise CommitFailed(
                f"group {self._group!r} no longer holds all of {sorted(offsets)}: {exc}"
            ) from exc

    async def seek(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Read each of these held partitions next from the given offset (a stored position);
        callable from `on_assigned`, before the partitions' first records are polled."""
        consumer = self._require()
        held = consumer.assignment()
        for tp, offset in offsets.items():
            ktp = KafkaTopicPartition(tp.topic, tp.partition)
            if ktp in held:
                # An offset the log no longer holds falls back to auto_offset_reset
                # (earliest); the consumer then sees the hole and records a gap.
                consumer.seek(ktp, offset)

    async def seek_to_beginning(self) -> None:
        """Read the assigned partitions again from their first record (a replay)."""
        consumer = self._require()
        assigned = consumer.assignment()
        if assigned:
            await consumer.seek_to_beginning(*assigned)

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now."""
        if self._consumer is None or self._rebalancing:
            return set()
        return _to_port(self._consumer.assignment())
