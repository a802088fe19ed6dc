"""Prometheus metrics: one registry per service, so in-process services never share counters.

Labels are bounded: consumer names, topics and event types come from the catalogue and the
service's subscriptions, routes are templates (never the path a caller sent), and no label
ever carries an account id or other personal data.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from shared.eventlog.port import TopicPartition

__all__ = ["CONTENT_TYPE_LATEST", "HttpMetrics", "ServiceMetrics"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class ServiceMetrics:
    """Every metric one service exposes at `/metrics`, in its own CollectorRegistry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        c, h = self._counter, self._histogram
        self.http_requests = c(
            "arrears_http_requests",
            "HTTP requests answered, by route template, method and status.",
            "route method status",
        )
        self.http_latency = h(
            "arrears_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            "route method",
        )
        events = "consumer topic type"
        self.consumed = c("arrears_events_consumed", "Records read by a consumer.", events)
        self.applied = c("arrears_events_applied", "Events a consumer applied (committed).", events)
        self.duplicates = c(
            "arrears_events_duplicate",
            "Redelivered events the ledger absorbed (already applied).",
            events,
        )
        self.dead_lettered = c(
            "arrears_events_dead_lettered",
            "Records a consumer dead-lettered, by kind (invalid, rejected, failed).",
            "consumer topic kind",
        )
        self.handler_latency = h(
            "arrears_handler_batch_duration_seconds",
            "Time to apply and commit one run of a batch (one transaction, many events).",
            "consumer",
        )
        self.lag = Gauge(
            "arrears_consumer_lag",
            "Records not yet applied: the log's end offset minus the consumer's stored position.",
            ["group", "topic", "partition"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "arrears_outbox_backlog",
            "Outbox messages committed but not yet published to the event log.",
            registry=self.registry,
        )
        self.outbox_parked = Gauge(
            "arrears_outbox_parked_keys",
            "Keys whose outbox messages wait behind one the event log refused.",
            registry=self.registry,
        )
        self.relay_latency = h(
            "arrears_relay_publish_duration_seconds",
            "Time for the event log to acknowledge one relayed batch, by topic.",
            "topic",
        )
        self.relayed = c("arrears_relay_published", "Outbox messages published, by topic.", "topic")
        self.day_close_latency = h(
            "arrears_day_close_duration_seconds",
            "Time to handle one business-day close (kind: account, or fan_out of a * close).",
            "kind",
            buckets=_SLOW,
        )
        self.accounts_closed = c(
            "arrears_day_close_accounts",
            "Account business days closed (AccountDayClosed events committed).",
        )
        self.connect_failures = c(
            "arrears_event_log_connect_failures",
            "Attempts at startup to connect to the event log (and create its topics) that "
            "failed and will be retried.",
        )
        self.audit_appends = c("arrears_audit_chain_appends", "Entries appended to audit chains.")
        self.audit_verify_failures = c(
            "arrears_audit_chain_verification_failures",
            "Chain verifications that found a broken link.",
        )

    def _counter(self, name: str, doc: str, labels: str = "") -> Counter:
        return Counter(name, doc, labels.split(), registry=self.registry)

    def _histogram(
        self, name: str, doc: str, labels: str, buckets: tuple[float, ...] = _FAST
    ) -> Histogram:
        return Histogram(name, doc, labels.split(), buckets=buckets, registry=self.registry)

    # -- consumers: counted once per batch, not once per event ------------------------

    def count(self, counter: Counter, consumer: str, tally: Mapping[tuple[str, str], int]) -> None:
        """Add a batch's tally of (topic, type) to `counter`."""
        for (topic, kind), n in tally.items():
            counter.labels(consumer, topic, kind).inc(n)

    def set_lag(
        self,
        group: str,
        ends: Mapping[TopicPartition, int],
        positions: Mapping[TopicPartition, int],
    ) -> dict[TopicPartition, int]:
        """Set and return the group's lag per partition (end offset minus stored position)."""
        lag = {tp: max(0, end - positions.get(tp, 0)) for tp, end in ends.items()}
        for tp, n in lag.items():
            self.lag.labels(group, tp.topic, str(tp.partition)).set(n)
        return lag

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)


def tally(pairs: Iterable[tuple[str, str]]) -> Tally[tuple[str, str]]:
    """How many of each (topic, type) pair."""
    return Tally(pairs)


class HttpMetrics:
    """ASGI middleware counting requests by route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            # An unmatched path is one label value, not one per path a scanner tries.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            self.metrics.http_latency.labels(template, method).observe(
                time.perf_counter() - started
            )


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
