"""Prometheus metrics at /metrics: counters by topic and type, lag per partition, no PII."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.accounts.bootstrap import bootstrap, create_app
from services.registry import migrations_dir
from shared.api import scrape
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings, SettingsError
from tests.support import auth, bill, day_closed, eventually, opened, settings_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        v
        for (n, ls), v in found.items()
        if n == name and all((k, x) in ls for k, x in labels.items())
    )


def lag_samples(found: Samples) -> dict[tuple[tuple[str, str], ...], float]:
    return {ls: v for (n, ls), v in found.items() if n == "arrears_consumer_lag"}


@pytest.fixture
def one_origin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The environment `make run` gives the one-origin server, under tmp_path."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTH_MODE", "development")
    monkeypatch.setenv("CONSUMER_RETRY_BACKOFF", "0.01")
    for service in SERVICES:
        upgrade(Settings.load(service), migrations_dir(service))
    yield Settings.load("accounts")


async def test_the_one_origin_server_serves_each_services_metrics(one_origin_env: Settings) -> None:
    from services.gateway import create_gateway

    gateway = create_gateway()
    accounts = ["met-1", "met-2", "met-3"]
    events = [opened(a) for a in accounts] + [bill(a, f"{a}-b1") for a in accounts]
    close = day_closed("2026-03-02")
    async with (
        gateway.router.lifespan_context(gateway),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://arrears"
        ) as http,
    ):
        r = await http.post(
            "/accounts/v1/inbound/events",
            json={"events": [*events, close]},
            headers=auth(one_origin_env, "integrator"),
        )
        assert r.status_code == 200, r.text

        async def audit() -> Samples:
            r = await http.get("/audit/metrics")  # no token
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain")
            return samples(r.text)

        # Audit chains every ingested event it reads off the inbound topic, then has no lag.
        found = await eventually(
            audit,
            lambda s: (
                total(s, "arrears_audit_chain_appends_total") >= len(events)
                and bool(lag_samples(s))
                and all(v == 0 for v in lag_samples(s).values())
            ),
        )
        assert total(found, "arrears_events_applied_total", type="BillIssued") == len(accounts)
        assert total(found, "arrears_audit_chain_verification_failures_total") == 0

        async def accounts_metrics() -> str:
            return (await http.get("/accounts/metrics")).text

        # The * close fans out to one close per account, each on its own transaction.
        body = await eventually(
            accounts_metrics,
            lambda b: total(samples(b), "arrears_day_close_accounts_total") == len(accounts),
        )
    found = samples(body)
    closes = "arrears_day_close_duration_seconds_count"
    assert total(found, closes, kind="fan_out") == 1
    assert total(found, closes, kind="account") == len(accounts)
    # The route is its template, and the status as answered.
    assert (
        total(
            found,
            "arrears_http_requests_total",
            route="/v1/inbound/events",
            method="POST",
            status="200",
        )
        == 1
    )
    assert total(found, "arrears_http_request_duration_seconds_count", route="/v1/inbound/events")
    # The accounts topic got what the ingested events caused, through the relay.
    assert total(found, "arrears_relay_published_total") > 0
    assert ("arrears_outbox_backlog", ()) in found
    # No account id, in a label or anywhere else.
    assert not any(a in body for a in accounts)


async def test_lag_counts_what_the_consumer_has_not_applied_yet(tmp_path: Path) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    rt = bootstrap(settings)
    await rt.start(consume=False)
    try:
        records = [opened(f"lag-{i}") for i in range(5)]
        values = [(e["account_id"].encode(), json.dumps(e).encode()) for e in records]
        await rt.log.publish_batch(settings.topics.inbound, [*values, (b"lag-0", b"not json")])
        inbound = f"{settings.topic_prefix}.accounts.inbound"

        before = samples((await scrape(rt)).decode())
        lag = {ls: v for ls, v in lag_samples(before).items() if ("group", inbound) in ls}
        assert sum(lag.values()) == 6

        consumer = rt.consumers["inbound"]
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:
            after = await eventually(
                lambda: scrape(rt),
                lambda b: total(samples(b.decode()), "arrears_consumer_lag", group=inbound) == 0,
            )
            # A redelivery of all five is absorbed by the ledger and counted as such.
            await rt.log.publish_batch(settings.topics.inbound, values)
            again = await eventually(
                lambda: scrape(rt),
                lambda b: total(samples(b.decode()), "arrears_consumer_lag", group=inbound) == 0,
            )
        finally:
            stop.set()
            await task
    finally:
        await rt.stop()
    found, last = samples(after.decode()), samples(again.decode())
    labels = {"consumer": inbound, "topic": settings.topics.inbound}
    assert total(found, "arrears_events_applied_total", type="AccountOpened", **labels) == 5
    assert total(found, "arrears_events_dead_lettered_total", kind="invalid", **labels) == 1
    assert total(found, "arrears_events_consumed_total", **labels) == 6
    assert total(last, "arrears_events_duplicate_total", type="AccountOpened", **labels) == 5
    assert total(last, "arrears_handler_batch_duration_seconds_count", consumer=inbound) >= 1


async def test_metrics_can_move_to_their_own_port_or_be_turned_off(tmp_path: Path) -> None:
    moved = settings_for("accounts", tmp_path, metrics_port=19477)
    await asyncio.to_thread(upgrade, moved, migrations_dir("accounts"))
    app = create_app(moved)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as http,
    ):
        assert (await http.get("/metrics")).status_code == 404
        reader, writer = await asyncio.open_connection("127.0.0.1", 19477)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await reader.read()
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert "arrears_consumer_lag" in {f.name for f in text_string_to_metric_families(body.decode())}

    off = create_app(settings_for("accounts", tmp_path, metrics_enabled=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=off), base_url="http://a"
    ) as http:
        assert (await http.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [{"metrics_port": 0}, {"metrics_port": 70000}, {"ready_max_lag": -1}, {"log_format": "xml"}],
)
def test_bad_metrics_readiness_and_log_settings_stop_the_process(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    with pytest.raises(SettingsError, match=next(iter(bad))):
        settings_for("accounts", tmp_path, **bad)


def test_each_service_has_its_own_registry(tmp_path: Path) -> None:
    one = bootstrap(settings_for("accounts", tmp_path))
    two = bootstrap(settings_for("accounts", tmp_path))
    one.meter.audit_appends.inc()
    assert one.meter.registry is not two.meter.registry
    assert b"arrears_audit_chain_appends_total 1.0" in one.meter.render()
    assert b"arrears_audit_chain_appends_total 0.0" in two.meter.render()
