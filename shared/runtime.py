"""What every service runs besides its HTTP routes: DB, event log, outbox relay, consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.catalogue import Catalogue
from shared.clock import Clock, SystemClock
from shared.consumer import EventConsumer, Handler
from shared.errors import describe_outage, is_outage
from shared.eventlog.factory import make_event_log
from shared.eventlog.port import EventLog, LogUnavailable, TopicPartition
from shared.eventstore.relay import OutboxRelay
from shared.eventstore.tables import PlatformTables
from shared.logs import service_context
from shared.metrics import ServiceMetrics
from shared.settings import Settings
from shared.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

U = TypeVar("U", bound=SqlUnitOfWork)

LOG_TIMEOUT = 5.0
"""Seconds readiness and a scrape wait for the event log's end offsets before calling it
unreachable (a client without a broker would otherwise wait for its own long timeout)."""

STARTUP_WAIT_S = 10.0
"""How long `launch` waits for the first attempt to start: an error that retrying cannot fix
found by then is raised (bad configuration stops the process at once); past it, or once an
attempt failed for want of the log, the service serves while the attempts go on."""

_RETRIABLE: tuple[type[Exception], ...] = (LogUnavailable, OSError, TimeoutError)
"""Startup errors that say the log (or the network to it) is not there yet, not that the
configuration is wrong: a broker that comes up after the services is the usual case."""


def retry_delay(
    attempt: int, initial: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, ...): `initial` doubled each time
    up to `cap`, less up to half of it at random, so copies started together spread out."""
    ceiling = min(cap, initial * 2 ** min(attempt - 1, 64))
    return ceiling * (rng.uniform if rng is not None else random.uniform)(0.5, 1.0)


def _root_cause(exc: BaseException) -> str:
    # LogUnavailable wraps the client's error; ops want the client's name for it.
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


def _one_line(exc: BaseException) -> str:
    # LogUnavailable's message already names the client's error.
    text = str(exc) if isinstance(exc, LogUnavailable) else f"{type(exc).__name__}: {exc}"
    return text[:400].splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Subscription:
    """A consumer a service runs: its name within the service, its topics and its handler."""

    name: str
    topics: list[str]
    handler: Handler
    door: bool = False
    """The integrators' door: records arrive here first, so a future-dated fact is refused
    here against this service's clock (other consumers of the topic follow its decision)."""


@dataclass
class ServiceRuntime(Generic[U]):
    """Owns a service's engine, event log, relay and consumers, and their lifecycle."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tables: PlatformTables
    catalogue: Catalogue
    uow_class: type[U]
    clock: Clock = field(default_factory=SystemClock)
    event_log: EventLog | None = None
    metrics: ServiceMetrics | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    consumers: dict[str, EventConsumer] = field(default_factory=dict)
    workers: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = field(
        default_factory=list
    )
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _relay: OutboxRelay | None = None
    _starter: asyncio.Task[None] | None = None
    _attempted: asyncio.Event = field(default_factory=asyncio.Event)
    _connected: bool = False
    _started: bool = False
    _start_failures: int = 0
    _start_problem: str | None = None
    _start_failed: bool = False

    def __post_init__(self) -> None:
        if self.event_log is None:
            self.event_log = make_event_log(self.settings)
        if self.metrics is None:
            self.metrics = ServiceMetrics(self.settings.service)
        self._relay = OutboxRelay(
            self.sessions,
            self.tables,
            self.event_log,
            # Leases are between processes: they run on the wall clock, never on the
            # injected clock (a test clock stuck in March would never see one expire).
            SystemClock(),
            name=f"{self.settings.service}-outbox",
            batch_size=self.settings.relay_batch,
            metrics=self.metrics,
        )
        for sub in self.subscriptions:
            name = f"{self.settings.topic_prefix}.{self.settings.service}.{sub.name}"
            self.consumers[sub.name] = EventConsumer(
                name=name,
                event_log=self.event_log,
                topics=sub.topics,
                dlq_topic=self.settings.topics.dlq,
                uow_factory=self.uow,
                tables=self.tables,
                catalogue=self.catalogue,
                handler=sub.handler,
                max_attempts=self.settings.consumer_max_attempts,
                retry_backoff=self.settings.consumer_retry_backoff,
                max_batch=self.settings.consumer_max_batch,
                on_applied=self.notify_relay,
                clock=self.clock,
                door_topics=sub.topics if sub.door else [],
                metrics=self.metrics,
            )

    def uow(self) -> U:
        """A fresh unit of work."""
        uow = self.uow_class(self.sessions, self.tables, self.catalogue, self.clock)
        uow.metrics = self.metrics
        return uow

    def notify_relay(self) -> None:
        """Wake the relay after a commit that queued messages."""
        if self._relay is not None:
            self._relay.notify()

    @property
    def log(self) -> EventLog:
        """The event log (always set after construction)."""
        assert self.event_log is not None
        return self.event_log

    async def start(self, *, consume: bool = True) -> None:
        """Connect, create topics, start the relay and (unless told not to) the consumers."""
        # Tasks copy the context they start in: each one's log lines name the service.
        with service_context(self.settings.service):
            self._stop.clear()
            await self._start(consume)

    async def launch(self, *, consume: bool = True, wait: float = STARTUP_WAIT_S) -> None:
        """Start in the background, retrying with capped, jittered backoff while the event
        log cannot be reached; return once started, once an attempt failed and the retries
        are under way, or after `wait` seconds. Raise an error retrying cannot fix."""
        self._stop.clear()
        self._attempted.clear()
        with service_context(self.settings.service):
            starter = asyncio.create_task(self._keep_starting(consume), name="startup")
        self._starter = starter
        attempted = asyncio.create_task(self._attempted.wait())
        try:
            await asyncio.wait({starter, attempted}, timeout=wait, return_when="FIRST_COMPLETED")
        finally:
            attempted.cancel()
        if starter.done() and not starter.cancelled() and (error := starter.exception()):
            await self.stop()
            raise error

    async def _keep_starting(self, consume: bool) -> None:
        settings = self.settings
        while not self._stop.is_set():
            try:
                await self._start(consume)
            except _RETRIABLE as exc:
                self._start_failures += 1
                self._start_problem = _root_cause(exc)
                self.meter.connect_failures.inc()
                delay = retry_delay(
                    self._start_failures,
                    settings.startup_retry_initial_s,
                    settings.startup_retry_max_s,
                )
                # One line an attempt and no traceback: the reason is what ops can act on.
                log.warning(
                    "event log not available (attempt %d): %s; retrying in %.1fs",
                    self._start_failures,
                    _one_line(exc),
                    delay,
                )
                self._attempted.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                continue
            except Exception as exc:
                self._start_failed = True
                self._start_problem = _root_cause(exc)
                log.error("cannot start, and retrying will not help: %s", _one_line(exc))
                raise
            if self._start_failures:
                log.info("event log connected after %d failed attempt(s)", self._start_failures)
            self._attempted.set()
            return

    @property
    def startup(self) -> str:
        """'ok' once started, else 'starting' with the last failed attempt's error, or
        'failed' with an error retrying cannot fix."""
        if self._started:
            return "ok"
        if self._start_failed:
            return f"failed: {self._start_problem}"
        if self._connected:
            return "starting: log connected, consumers joining"
        if self._start_failures:
            return f"starting: {self._start_problem} (attempt {self._start_failures})"
        return "starting"

    @property
    def start_failed(self) -> bool:
        """Whether starting met an error retrying cannot fix (the process should go)."""
        return self._start_failed

    async def _start(self, consume: bool) -> None:
        await self.log.start()
        await self.log.ensure_topics(self.settings.topics.all(), self.settings.topic_partitions)
        self._connected = True
        assert self._relay is not None
        self._tasks.append(asyncio.create_task(self._relay.run(self._stop), name="relay"))
        for worker in self.workers:
            self._tasks.append(asyncio.create_task(worker(self._stop), name=repr(worker)))
        if consume:
            ready = []
            for name, consumer in self.consumers.items():
                joined = asyncio.Event()
                ready.append(joined)
                self._tasks.append(
                    asyncio.create_task(self._supervise(consumer, joined), name=name)
                )
            await asyncio.gather(*(r.wait() for r in ready))
        self._started = True

    async def _supervise(self, consumer: EventConsumer, joined: asyncio.Event) -> None:
        # A crashed consumer loop (broker gone, DB gone) restarts with backoff;
        # uncommitted records are redelivered and the ledger absorbs them.
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await consumer.run(self._stop, joined)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_outage(exc):
                    log.warning(
                        "consumer %s: %s; restarting in %.1fs",
                        consumer.name,
                        describe_outage(exc),
                        backoff,
                    )
                else:
                    log.exception(
                        "consumer %s crashed; restarting in %.1fs", consumer.name, backoff
                    )
                joined.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 30)

    async def stop(self) -> None:
        """Stop consuming (or trying to start), flush the outbox once more, and disconnect."""
        self._stop.set()
        starter, self._starter = self._starter, None
        if starter is not None:
            # It may be inside a connect attempt that would run to the client's timeout.
            starter.cancel()
            await asyncio.wait({starter})
            if not starter.cancelled():
                starter.exception()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=15)
        self._tasks.clear()
        if self._relay is not None and self._connected:
            with contextlib.suppress(Exception):
                while await self._relay.run_once():
                    pass
                await self._relay.release()
        self._connected = self._started = False
        await self.log.close()
        await self.engine.dispose()

    @property
    def outbox_parked(self) -> int:
        """How many keys' outbox messages wait behind one the event log refused."""
        return self._relay.parked if self._relay is not None else 0

    def healthy(self) -> bool:
        """Whether every background task is still alive."""
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    @property
    def meter(self) -> ServiceMetrics:
        """The service's metrics (always set after construction)."""
        assert self.metrics is not None
        return self.metrics

    async def lag(self) -> dict[str, dict[TopicPartition, int]]:
        """Per consumer (group), per partition: the log's end offset minus the position the
        consumer stored with its effects; also sets the lag gauges.

        Every copy of a service reads the same database, so each reports the whole
        group's lag, whichever copy holds a partition.
        """
        lags: dict[str, dict[TopicPartition, int]] = {}
        for consumer in self.consumers.values():
            ends = await asyncio.wait_for(self.log.end_offsets(consumer.topics), LOG_TIMEOUT)
            async with self.uow() as uow:
                positions = await uow.positions.load(consumer.name)
            lags[consumer.name] = self.meter.set_lag(consumer.name, ends, positions)
        return lags

    async def refresh_metrics(self) -> None:
        """Bring the gauges read at scrape time up to date (lag, outbox backlog)."""
        outbox = self.tables.outbox
        async with self.sessions() as session:
            backlog = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        self.meter.outbox_backlog.set(backlog or 0)
        self.meter.outbox_parked.set(self.outbox_parked)
        if self._started:
            await self.lag()

    async def ready(self) -> tuple[dict[str, str], int | None]:
        """A check per dependency ('ok' or the problem), and the largest partition lag
        (None when the log or the database could not say)."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = type(exc).__name__
        worst: int | None = None
        if not self._started:
            checks["event_log"] = self.startup
            checks["workers"] = "not started"
            return checks, worst
        try:
            lags = await self.lag()
            worst = max((n for lag in lags.values() for n in lag.values()), default=0)
            checks["event_log"] = "ok"
        except Exception as exc:
            checks["event_log"] = type(exc).__name__
        checks["workers"] = "ok" if self.healthy() else "stopped"
        limit = self.settings.ready_max_lag
        if limit is not None and worst is not None:
            checks["lag"] = "ok" if worst <= limit else f"{worst} > READY_MAX_LAG={limit}"
        return checks, worst


def make_runtime(
    settings: Settings,
    *,
    tables: PlatformTables,
    catalogue: Catalogue,
    uow_class: type[U],
    subscriptions: Callable[[Settings], list[Subscription]],
    clock: Clock | None = None,
    event_log: EventLog | None = None,
) -> ServiceRuntime[U]:
    """Wire a runtime from settings; the caller's bootstrap supplies the service's parts."""
    from shared.db import make_engine, make_sessions

    engine = make_engine(settings.database_url)
    return ServiceRuntime(
        settings=settings,
        engine=engine,
        sessions=make_sessions(engine),
        tables=tables,
        catalogue=catalogue,
        uow_class=uow_class,
        clock=clock or SystemClock(),
        event_log=event_log,
        subscriptions=subscriptions(settings),
    )
