"""JSON log lines carry the service, the event and the request's correlation id; never PII."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.logs import JsonFormatter, configure_logging, correlation_of
from shared.pii import RedactingFilter
from tests.support import bill, day_closed, eventually, opened, running_stack, settings_for

KEY = b"log-key-for-tests"
PHONE = "13812345678"


class Lines(logging.Handler):
    """Keeps each formatted line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RedactingFilter())
        self.setFormatter(JsonFormatter(KEY))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    consumer = logging.getLogger("shared.consumer")
    level = consumer.level
    consumer.setLevel(logging.DEBUG)
    consumer.addHandler(handler)
    try:
        yield handler
    finally:
        consumer.removeHandler(handler)
        consumer.setLevel(level)


async def test_derived_events_log_lines_carry_the_ingest_requests_correlation_id(
    tmp_path: Path, lines: Lines
) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    correlation = str(uuid.uuid4())
    account = "log-acct-1"
    events = [opened(account), bill(account, "log-b1"), day_closed("2026-03-02", account)]
    async with running_stack(settings) as http:
        r = await http["accounts"].post(
            "/v1/inbound/events",
            json={"events": events},
            headers={"X-Correlation-ID": correlation},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-correlation-id"] == correlation
        ingested = {e["id"] for e in events}

        def derived(found: list[dict[str, str]]) -> list[dict[str, str]]:
            return [
                line
                for line in found
                if line.get("service") == "audit" and line.get("event_id") not in ingested
            ]

        await eventually(lambda: _async(lines.parsed()), lambda found: bool(derived(found)))
    found = lines.parsed()
    # Audit applying what accounts derived from the ingested events: the request's id.
    for line in derived(found):
        assert line["correlation_id"] == correlation, line
        assert line["account"] and line["account"] != account
    # Audit reads the ingested events too: they carry it as well.
    assert {line["correlation_id"] for line in found if line.get("event_id") in ingested} == {
        correlation
    }
    assert not any(account in raw for raw in lines.lines)


async def _async(value: list[dict[str, str]]) -> list[dict[str, str]]:
    return value


def test_a_json_line_is_redacted_and_names_no_account_without_a_key() -> None:
    from shared.logs import log_context

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "call %s", (PHONE,), None)
    RedactingFilter().filter(record)
    with log_context(correlation_id="c-1", event_id="e-1", account_id="A-1"):
        line = json.loads(JsonFormatter(None).format(record))
        keyed = json.loads(JsonFormatter(KEY).format(record))
    assert PHONE not in json.dumps(line) and line["message"].startswith("call ")
    assert line["correlation_id"] == "c-1" and line["event_id"] == "e-1"
    assert "account" not in line
    assert keyed["account"] != "A-1" and len(keyed["account"]) == 16


def test_a_correlation_header_that_is_not_a_uuid_maps_to_the_same_uuid_every_time() -> None:
    given = "integrator-batch-42"
    assert correlation_of(given) == correlation_of(given) != correlation_of("another")
    same = uuid.uuid4()
    assert correlation_of(str(same)) == same


def test_text_stays_the_default_and_json_replaces_each_handlers_format(tmp_path: Path) -> None:
    assert settings_for("accounts", tmp_path).log_format == "text"
    config = {"formatters": {"default": {}, "access": {}}, "handlers": {}}
    assert configure_logging("text", None, config) == config
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        out = configure_logging("json", KEY, config)
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.removeHandler(handler)
    assert out is not None
    assert {f["()"] for f in out["formatters"].values()} == {JsonFormatter}
