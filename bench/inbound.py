"""Integrator events the benchmarks send, as the inbound API takes them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from shared.auth import mint_dev_token
from shared.settings import Settings

POST_SIZE = 500


def envelope(
    type_: str,
    account: str,
    data: dict[str, Any],
    version: int = 1,
    occurred_at: str = "2026-03-01T09:00:00+08:00",
) -> dict[str, Any]:
    """One inbound event with a fresh id."""
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": version,
        "account_id": account,
        "occurred_at": occurred_at,
        "source": "bench",
        "data": data,
    }


def inbound_events(n: int, accounts: int) -> list[dict[str, Any]]:
    """The pipeline workload: each account opened and billed, then payments round-robin."""
    run = uuid.uuid4().hex[:6]  # fresh account ids, so a reused database refuses nothing

    out = []
    for a in range(accounts):
        out.append(
            envelope(
                "AccountOpened",
                f"{run}-A{a}",
                {
                    "customer_id": f"c{a}",
                    "product": "cash_loan",
                    "currency": "CNY",
                    "time_zone": "Asia/Shanghai",
                },
                2,
            )
        )
        out.append(
            envelope(
                "BillIssued",
                f"{run}-A{a}",
                {
                    "bill_id": "B1",
                    "currency": "CNY",
                    "principal": 1_000_000,
                    "issued_on": "2026-03-01",
                    "due_date": "2026-03-10",
                },
            )
        )
    i = 0
    while len(out) < n:
        a = i % accounts
        out.append(
            envelope(
                "PaymentReceived",
                f"{run}-A{a}",
                {
                    "payment_id": f"P{i}",
                    "currency": "CNY",
                    "amount": 100,
                    "paid_at": "2026-03-05T10:00:00+08:00",
                },
            )
        )
        i += 1
    return out[:n]


@asynccontextmanager
async def serving(
    app: FastAPI, settings: Settings, role: str = "integrator"
) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app started, and a client holding a development token of `role`."""
    jwt = mint_dev_token(settings, role=role, subject="bench")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{settings.service}",
            headers={"Authorization": f"Bearer {jwt}"},
        ) as http,
    ):
        yield http


async def post_all(http: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    """Post `events` to the inbound API in requests of POST_SIZE; every one must be accepted."""
    for i in range(0, len(events), POST_SIZE):
        r = await http.post("/v1/inbound/events", json={"events": events[i : i + POST_SIZE]})
        assert r.status_code == 200, r.text
        assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
