"""Test support: run the four services in-process, each with its own database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import event as sqla_event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import bootstrap_module, migrations_dir
from shared.auth import mint_dev_token
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings

T = TypeVar("T")


def envelope(
    type_: str,
    account_id: str,
    data: dict[str, Any],
    *,
    version: int = 1,
    occurred_at: str = "2026-03-01T09:00:00+08:00",
    source: str = "integrator-test",
) -> dict[str, Any]:
    """An inbound envelope as an integrator would send it."""
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": version,
        "account_id": account_id,
        "occurred_at": occurred_at,
        "source": source,
        "data": data,
    }


def opened(account_id: str, **over: Any) -> dict[str, Any]:
    """An AccountOpened v2 envelope."""
    data = {
        "customer_id": f"cust-{account_id}",
        "product": "consumer_credit",
        "currency": "CNY",
        "time_zone": "Asia/Shanghai",
        **over,
    }
    return envelope("AccountOpened", account_id, data, version=2)


def bill(
    account_id: str, bill_id: str, due: str = "2026-03-10", principal: int = 100_00, **over: Any
) -> dict[str, Any]:
    """A BillIssued envelope."""
    data = {
        "bill_id": bill_id,
        "currency": "CNY",
        "principal": principal,
        "interest": 0,
        "fees": 0,
        "issued_on": "2026-03-01",
        "due_date": due,
        **over,
    }
    return envelope("BillIssued", account_id, data)


def payment(account_id: str, payment_id: str, amount: int, **over: Any) -> dict[str, Any]:
    """A PaymentReceived envelope."""
    data = {
        "payment_id": payment_id,
        "currency": "CNY",
        "amount": amount,
        "paid_at": "2026-03-05T10:00:00+08:00",
        **over,
    }
    return envelope("PaymentReceived", account_id, data)


def day_closed(business_date: str, account_id: str = "*") -> dict[str, Any]:
    """A BusinessDayClosed envelope (account `*` closes every account)."""
    return envelope(
        "BusinessDayClosed",
        account_id,
        {"business_date": business_date},
        occurred_at=f"{business_date}T23:59:00+08:00",
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 20.0
) -> T:
    """Probe until check passes; the last value is returned or an AssertionError raised."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.1)
        value = await probe()
    return value


async def create_database(url: str, name: str) -> str:
    """Create an empty database `name` on the PostgreSQL server of SQLAlchemy URL `url`;
    the new database's URL."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    conn = await asyncpg.connect(
        base.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base.set(database=name).render_as_string(hide_password=False)


def settings_for(service: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of one service for a test install under data_dir."""
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "embedded_log_path": data_dir / "eventlog.sqlite3",
        "consumer_retry_backoff": 0.01,
        "consumer_max_attempts": 2,
        "auth_mode": "development",
        "auth_dev_secret_file": data_dir / "dev-secret",
    }
    base.update(overrides)
    return Settings.load(service, **base)


DEFAULT_ROLES = {
    "accounts": "integrator",
    "plans": "agent",
    "contact": "agent",
    "audit": "compliance",
}


def auth(
    settings: Settings, role: str, sub: str = "tester", accounts: list[str] | None = None
) -> dict[str, str]:
    """An Authorization header with a development token for `role`."""
    token = mint_dev_token(settings, role=role, subject=sub, accounts=accounts)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running_stack(
    settings: dict[str, Settings],
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Migrate and start each service's app; yield an HTTP client per service.

    Each client sends a token of the role that service's main caller has
    (DEFAULT_ROLES); pass other headers per request to act as someone else.
    """
    async with AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name in SERVICES:
            if name not in settings:
                continue
            await asyncio.to_thread(upgrade, settings[name], migrations_dir(name))
            app = bootstrap_module(name).create_app(settings[name])
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url=f"http://{name}",
                headers=auth(settings[name], DEFAULT_ROLES[name]),
            )
            clients[name] = await stack.enter_async_context(client)
        yield clients


def now() -> datetime:
    """The wall clock, for tests that only need 'some time'."""
    return datetime.now(UTC)


async def ingest(http: dict[str, httpx.AsyncClient], *events: dict[str, Any]) -> None:
    """Send integrator events to accounts; each must be accepted."""
    r = await http["accounts"].post("/v1/inbound/events", json={"events": list(events)})
    assert r.status_code == 200, r.text
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.text


async def request_option(
    http: dict[str, httpx.AsyncClient],
    settings: Settings,
    account_id: str,
    plan_type: str,
    option: dict[str, Any],
    borrower: str = "borrower-1",
) -> dict[str, Any]:
    """The borrower picks a quoted option in self-service (once plans quotes it for the
    account); the system offers it. The plan's view."""
    headers = auth(settings, "borrower", borrower, [account_id])
    priced = {k: v for k, v in option.items() if k not in ("option_id", "evidence")}
    await eventually(
        lambda: http["plans"].post(
            f"/v1/accounts/{account_id}/plans/quote", json=priced, headers=headers
        ),
        lambda r: option["option_id"] in [o["option_id"] for o in r.json().get("options", [])],
    )
    r = await http["plans"].post(
        f"/v1/accounts/{account_id}/plans",
        json={"plan_type": plan_type, "channel": "app", "option": option},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def accept_offer(
    http: dict[str, httpx.AsyncClient],
    settings: Settings,
    plan: dict[str, Any],
    borrower: str = "borrower-1",
) -> httpx.Response:
    """The borrower accepts the plan's current offer, quoting its disclosure hash."""
    account_id, plan_id = plan["account_id"], plan["plan_id"]
    return await http["plans"].post(
        f"/v1/accounts/{account_id}/plans/{plan_id}/accept",
        json={"channel": "app", "disclosure_sha256": plan["offer"]["disclosure_sha256"]},
        headers=auth(settings, "borrower", borrower, [account_id]),
    )


def plans_stack(tmp_path: Path, **plans: Any) -> dict[str, Settings]:
    """Accounts and plans of one test install; `plans` overrides plans' settings."""
    return {
        "accounts": settings_for("accounts", tmp_path),
        "plans": settings_for("plans", tmp_path, **plans),
    }


async def overdue_account(http: dict[str, httpx.AsyncClient], account_id: str) -> None:
    """1000.00 yuan due 2026-03-10, closed through the 12th: 2 days late, 1.00 late fee;
    with plans running, once plans prices from that close."""
    await ingest(http, opened(account_id), bill(account_id, "B1", principal=1000_00))
    await ingest(http, day_closed("2026-03-09", account_id), day_closed("2026-03-12", account_id))
    if "plans" in http:
        await eventually(
            lambda: http["plans"].post(f"/v1/accounts/{account_id}/plans/quote", json={}),
            lambda r: r.status_code == 200 and r.json()["as_of"] == "2026-03-12",
        )


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[str]]:
    """The first word of each SQL statement run on `engine` inside the block, BEGIN and
    COMMIT left out (the list is complete once the block ends)."""
    seen: list[str] = []

    def count(_c: object, _cur: object, sql: str, *_: object) -> None:
        seen.append(sql.split()[0])

    sync = engine.sync_engine
    sqla_event.listen(sync, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sqla_event.remove(sync, "before_cursor_execute", count)
        seen[:] = [s for s in seen if s not in ("BEGIN", "COMMIT")]
