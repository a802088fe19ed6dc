"""POST /v1/inbound/events answers per event, applies each once, and refuses oversized input."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.accounts.bootstrap import create_app
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork, stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.envelope import decode_envelope
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.contract.eventlog_contract import drain
from tests.support import auth, bill, envelope, opened, payment, settings_for

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
Runtime = ServiceRuntime[AccountsUnitOfWork]


class IntegratorWritesAgentReads(httpx.Auth):
    """The integrator submits events; an agent reads the account back."""

    def __init__(self, settings: Settings) -> None:
        self._write = auth(settings, "integrator", sub="integrator-test")
        self._read = auth(settings, "agent")

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers.update(self._read if request.method == "GET" else self._write)
        yield request


@asynccontextmanager
async def accounts_api(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The accounts app, migrated and running (relay and consumers too), with a fixed clock."""
    settings = settings_for("accounts", tmp_path, **overrides)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    app = create_app(settings, clock=FixedClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://accounts",
            auth=IntegratorWritesAgentReads(settings),
        ) as client,
    ):
        yield client, app.state.runtime


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with accounts_api(tmp_path) as (client, _):
        yield client


async def post(client: httpx.AsyncClient, *events: Any) -> dict[str, Any]:
    r = await client.post("/v1/inbound/events", json={"events": list(events)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def only_result(client: httpx.AsyncClient, event: Any) -> dict[str, Any]:
    (result,) = (await post(client, event))["results"]
    return result


async def summary(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/accounts/{account_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def an_account_with_a_bill(client: httpx.AsyncClient) -> None:
    body = await post(client, opened("A1"), bill("A1", "B1", principal=100_00))
    assert body["accepted"] == 2, body


# -- a result per event --------------------------------------------------------------------


async def test_a_mixed_batch_answers_each_event_in_order_and_applies_the_valid_ones(
    api: httpx.AsyncClient,
) -> None:
    no_bill_id = bill("A1", "B0")
    del no_bill_id["data"]["bill_id"]
    events = [
        opened("A1"),
        no_bill_id,
        bill("A1", "B1", principal=100_00),
        42,
        payment("A1", "P1", "40"),  # type: ignore[arg-type]
        payment("A1", "P2", 40_00),
    ]

    body = await post(api, *events)

    assert [r["index"] for r in body["results"]] == list(range(6))
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 0, 3)
    ids = [r.get("event_id") for r in body["results"]]
    assert ids == [e["id"] if isinstance(e, dict) else None for e in events]
    assert body["results"][1]["reason"].startswith("data.bill_id:")
    assert body["results"][3]["reason"] == "an event must be a JSON object"
    assert body["results"][4]["reason"].startswith("data.amount:")
    assert all("reason" not in r for r in body["results"] if r["status"] == "accepted")

    account = await summary(api, "A1")
    assert [b["bill_id"] for b in account["bills"]] == ["B1"]
    assert account["outstanding"] == 60_00


async def test_an_account_nobody_opened_is_not_found(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/accounts/nobody")).status_code == 404


# -- the request as a whole ----------------------------------------------------------------


async def test_a_body_that_is_not_json_is_a_bad_request(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/inbound/events", content=b'{"events": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {}, {"events": "opened"}, [opened("A1")]],
    ids=["empty-batch", "no-events", "events-not-a-list", "bare-list"],
)
async def test_a_body_without_a_list_of_events_is_unprocessable(
    api: httpx.AsyncClient, body: Any
) -> None:
    r = await api.post("/v1/inbound/events", json=body)
    assert r.status_code == 422
    assert (await api.get("/v1/accounts/A1")).status_code == 404


async def test_a_batch_over_the_limit_is_refused_whole(tmp_path: Path) -> None:
    async with accounts_api(tmp_path, ingest_max_batch=3) as (client, _):
        events = [opened("A1"), *(bill("A1", f"B{i}") for i in range(3))]
        r = await client.post("/v1/inbound/events", json={"events": events})
        assert r.status_code == 413
        assert "at most 3" in r.json()["detail"]
        assert (await client.get("/v1/accounts/A1")).status_code == 404

        assert (await post(client, *events[:3]))["accepted"] == 3


def oversized_body() -> bytes:
    big = opened("A1")
    big["metadata"] = {"note": "x" * 4096}
    return json.dumps({"events": [big]}).encode()


async def test_a_body_over_the_byte_limit_is_refused(tmp_path: Path) -> None:
    async with accounts_api(tmp_path, ingest_max_body_bytes=2048) as (client, _):
        r = await client.post(
            "/v1/inbound/events",
            content=oversized_body(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/accounts/A1")).status_code == 404
        assert (await post(client, opened("A1")))["accepted"] == 1


async def test_a_chunked_body_over_the_byte_limit_is_refused(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = oversized_body()
        for i in range(0, len(body), 1024):
            yield body[i : i + 1024]

    async with accounts_api(tmp_path, ingest_max_body_bytes=2048) as (client, _):
        r = await client.post(
            "/v1/inbound/events", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in r.request.headers
        assert r.status_code == 413


# -- rejected events, with the field and reason ---------------------------------------------


async def test_an_unknown_type_is_rejected_naming_type(api: httpx.AsyncClient) -> None:
    result = await only_result(api, envelope("AccountFrozen", "A1", {}))
    assert result["status"] == "rejected"
    assert result["reason"].startswith("type:")
    assert "AccountFrozen" in result["reason"]


async def test_a_missing_field_is_rejected_naming_data_bill_id(api: httpx.AsyncClient) -> None:
    await an_account_with_a_bill(api)
    event = bill("A1", "B2")
    del event["data"]["bill_id"]
    result = await only_result(api, event)
    assert result["status"] == "rejected"
    assert result["reason"].startswith("data.bill_id:")
    assert result["event_id"] == event["id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("principal", "100"), ("principal", 1.5), ("issued_on", "yesterday"), ("fees", None)],
)
async def test_a_mistyped_field_is_rejected_naming_it(
    api: httpx.AsyncClient, field: str, value: Any
) -> None:
    await an_account_with_a_bill(api)
    result = await only_result(api, bill("A1", "B2", **{field: value}))
    assert result["status"] == "rejected"
    assert result["reason"].startswith(f"data.{field}:")
    assert [b["bill_id"] for b in (await summary(api, "A1"))["bills"]] == ["B1"]


async def test_a_negative_amount_is_rejected_naming_data_amount(api: httpx.AsyncClient) -> None:
    await an_account_with_a_bill(api)
    result = await only_result(api, payment("A1", "P1", -100))
    assert (result["status"], result["reason"].split(":")[0]) == ("rejected", "data.amount")
    assert (await summary(api, "A1"))["outstanding"] == 100_00


async def test_an_event_for_an_unknown_account_is_rejected(api: httpx.AsyncClient) -> None:
    result = await only_result(api, bill("ghost", "B1"))
    assert result["status"] == "rejected"
    assert result["reason"] == "unknown account ghost"


async def test_a_duplicate_bill_id_is_rejected_and_the_first_bill_stands(
    api: httpx.AsyncClient,
) -> None:
    await an_account_with_a_bill(api)
    result = await only_result(api, bill("A1", "B1", principal=999_00))
    assert result["status"] == "rejected"
    assert "bill B1 already exists" in result["reason"]
    account = await summary(api, "A1")
    assert [(b["bill_id"], b["amount"]) for b in account["bills"]] == [("B1", 100_00)]


async def test_a_payment_in_another_currency_is_rejected_with_no_partial_effect(
    api: httpx.AsyncClient,
) -> None:
    await an_account_with_a_bill(api)
    before = await summary(api, "A1")

    result = await only_result(api, payment("A1", "P1", 50_00, currency="USD"))

    assert result["status"] == "rejected"
    assert "currency USD" in result["reason"]
    assert await summary(api, "A1") == before
    # The payment id was not recorded either: the corrected payment is accepted.
    assert (await only_result(api, payment("A1", "P1", 50_00)))["status"] == "accepted"
    assert (await summary(api, "A1"))["outstanding"] == 50_00


async def test_a_rejected_event_may_be_sent_again_once_it_would_be_accepted(
    api: httpx.AsyncClient,
) -> None:
    early = bill("A1", "B1")
    assert (await only_result(api, early))["status"] == "rejected"
    body = await post(api, opened("A1"), early)
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted"]


# -- each event applied once ---------------------------------------------------------------


async def test_an_event_sent_in_two_requests_is_applied_once(tmp_path: Path) -> None:
    async with accounts_api(tmp_path) as (client, runtime):
        await an_account_with_a_bill(client)
        pay = payment("A1", "P1", 30_00)

        assert (await only_result(client, pay))["status"] == "accepted"
        again = await only_result(client, pay)

        assert again == {"index": 0, "event_id": pay["id"], "status": "duplicate"}
        assert (await summary(client, "A1"))["outstanding"] == 70_00
        outbox = runtime.tables.outbox
        async with runtime.uow() as uow:
            published = await uow.session.execute(
                select(func.count()).where(
                    outbox.c.event_id == pay["id"],
                    outbox.c.topic == runtime.settings.topics.inbound,
                )
            )
            assert published.scalar_one() == 1


async def test_an_event_sent_twice_in_one_batch_is_applied_once(api: httpx.AsyncClient) -> None:
    await an_account_with_a_bill(api)
    pay = payment("A1", "P1", 30_00)

    body = await post(api, pay, pay)

    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert (body["accepted"], body["duplicate"]) == (1, 1)
    assert (await summary(api, "A1"))["outstanding"] == 70_00


async def test_the_same_payment_id_under_a_new_event_id_is_rejected(
    api: httpx.AsyncClient,
) -> None:
    await an_account_with_a_bill(api)
    await post(api, payment("A1", "P1", 30_00))
    result = await only_result(api, payment("A1", "P1", 30_00))
    assert result["status"] == "rejected"
    assert "already received" in result["reason"]
    assert (await summary(api, "A1"))["outstanding"] == 70_00


# -- server-owned fields -------------------------------------------------------------------


async def test_a_client_supplied_recorded_at_is_replaced_by_the_servers(tmp_path: Path) -> None:
    async with accounts_api(tmp_path) as (client, runtime):
        forged = {**opened("A1"), "recorded_at": "2001-01-01T00:00:00+00:00"}
        assert (await only_result(client, forged))["status"] == "accepted"

        async with runtime.uow() as uow:
            (stored,), _ = await uow.events.load(stream_id("A1"))
        assert stored.id == uuid.UUID(forged["id"])
        assert stored.recorded_at == NOW

        sub = runtime.log.subscribe("test-reader", [runtime.settings.topics.inbound])
        await sub.start()
        try:
            (record,) = await drain(sub, 1, timeout=10)
        finally:
            await sub.close()
        on_topic = decode_envelope(record.value)
        assert on_topic.id == stored.id
        assert on_topic.recorded_at == NOW
