"""One error model everywhere (issue 11): every refusal is application/problem+json, the
OpenAPI of every service says so, bad input is a 400/415/422 naming the field (never a
500, never echoing the input), and answers carry the security headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.registry import bootstrap_module, migrations_dir
from shared.bounds import MAX_MINOR
from shared.migrations import upgrade
from shared.openapi import api_routes
from shared.settings import SERVICES
from tests.support import auth, bill, opened, settings_for

ERRORS = {"401", "403", "422"}


@pytest.fixture
async def accounts(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    app = bootstrap_module("accounts").create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://accounts"
        ) as client,
    ):
        headers = {
            "integrator": auth(settings, "integrator", sub="int-1"),
            "agent": auth(settings, "agent"),
            "ops": auth(settings, "ops"),
        }
        yield client, headers


@pytest.mark.parametrize("service", SERVICES)
def test_every_secured_operation_documents_its_problem_answers(
    service: str, tmp_path: Path
) -> None:
    app = bootstrap_module(service).create_app(settings_for(service, tmp_path))
    schema = app.openapi()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    secured_routes = [
        r for r in api_routes(app) if r.include_in_schema and r.path.startswith("/v1/")
    ]
    assert secured_routes
    for route in secured_routes:
        for method in route.methods:
            op = schema["paths"][route.path_format][method.lower()]
            codes = set(op["responses"])
            assert {"401", "403"} <= codes, (route.path, method)
            for code in codes - {"200", "201", "202", "204"}:
                content = op["responses"][code]["content"]
                assert "application/problem+json" in content, (route.path, code)
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= codes, (route.path, method)


async def test_a_body_that_is_not_json_is_unsupported(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, headers = accounts
    r = await client.post(
        "/v1/inbound/events",
        content=b"events=1",
        headers={**headers["integrator"], "content-type": "text/plain"},
    )
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"


async def test_invalid_input_names_the_field_and_never_echoes_it(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, headers = accounts
    secret = "13812345678-not-an-integer"
    r = await client.get(
        "/v1/accounts/A1/delinquency", params={"offset": secret}, headers=headers["agent"]
    )
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422 and isinstance(body["detail"], str)
    assert body["errors"][0]["loc"] == ["query", "offset"]
    assert secret not in r.text


@pytest.mark.parametrize("value", [2**63, 2**64, -1])
async def test_query_integers_beyond_a_64_bit_column_are_refused(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]], value: int
) -> None:
    client, headers = accounts
    r = await client.get(
        "/v1/admin/dead-letters", params={"after_id": value}, headers=headers["ops"]
    )
    assert r.status_code == 422, r.text


async def test_answers_carry_nosniff_and_authenticated_answers_are_not_cached(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, headers = accounts
    public = await client.get("/healthz")
    assert public.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in public.headers.get("cache-control", "")
    private = await client.get("/v1/accounts/NOPE", headers=headers["agent"])
    assert private.headers["x-content-type-options"] == "nosniff"
    assert private.headers["cache-control"] == "no-store"


def _submit(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}


def _refused(r: httpx.Response, index: int, field: str) -> None:
    """The batch was answered per event, and event `index` was refused naming `field`."""
    assert r.status_code == 200, r.text
    result = r.json()["results"][index]
    assert result["status"] == "rejected", result
    assert result["reason"].startswith(field), result


@pytest.mark.parametrize(
    ("field", "value"),
    [("principal", MAX_MINOR + 1), ("principal", 2**64), ("principal", 10**30)],
)
async def test_amounts_beyond_the_documented_maximum_are_refused_at_the_door(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]], field: str, value: int
) -> None:
    client, headers = accounts
    issued = bill("A1", "B1")
    issued["data"][field] = value
    r = await client.post(
        "/v1/inbound/events", json=_submit(opened("A1"), issued), headers=headers["integrator"]
    )
    _refused(r, 1, f"data.{field}")
    got = await client.get("/v1/accounts/A1/bills", headers=headers["agent"])
    assert got.json()["bills"] == []


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:00", "2199-06-01T00:00:00+00:00"],
)
async def test_timestamps_outside_the_window_or_in_the_future_are_refused(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]], occurred_at: str
) -> None:
    client, headers = accounts
    event = opened("A1")
    event["occurred_at"] = occurred_at
    r = await client.post("/v1/inbound/events", json=_submit(event), headers=headers["integrator"])
    _refused(r, 0, "occurred_at")


@pytest.mark.parametrize(
    "metadata",
    [{"colour": "blue"}, {"actor": {"subject": "x", "role": "agent", "extra": 1}}],
    ids=["unknown-key", "unknown-actor-key"],
)
async def test_metadata_keys_outside_the_envelope_schema_are_refused(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]], metadata: dict[str, Any]
) -> None:
    client, headers = accounts
    event = opened("A1")
    event["metadata"] = metadata
    r = await client.post("/v1/inbound/events", json=_submit(event), headers=headers["integrator"])
    _refused(r, 0, "metadata")


async def test_deeply_nested_metadata_is_refused_without_a_crash(
    accounts: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, headers = accounts
    deep: Any = "x"
    for _ in range(600):
        deep = {"trace": deep}
    event = bill("A1", "B1")
    event["metadata"] = deep
    raw = json.dumps(_submit(opened("A1"), event))
    r = await client.post(
        "/v1/inbound/events",
        content=raw.encode(),
        headers={**headers["integrator"], "content-type": "application/json"},
    )
    _refused(r, 1, "metadata")
    got = await client.get("/v1/accounts/A1/bills", headers=headers["agent"])
    assert got.json()["bills"] == []
