"""Builders for the contact-service tests: a stack whose contact service has a fixed clock,
its own policy and a fake skip-trace provider, plus HTTP helpers for cases and attempts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.contact import bootstrap as contact_bootstrap
from services.contact.adapters.notifier import Notifier
from services.contact.adapters.skip_trace import FakeSkipTraceProvider
from services.contact.domain.policy import ContactPolicy
from services.registry import bootstrap_module, migrations_dir
from shared.clock import FixedClock
from shared.migrations import upgrade
from shared.settings import Settings
from tests.support import DEFAULT_ROLES, auth, eventually, settings_for

Clients = dict[str, httpx.AsyncClient]


@asynccontextmanager
async def contact_stack(
    tmp_path: Path,
    clock: FixedClock,
    *,
    policy: ContactPolicy | None = None,
    skip_trace: FakeSkipTraceProvider | None = None,
    notifier: Notifier | None = None,
    services: tuple[str, ...] = ("accounts", "contact"),
    apps: dict[str, FastAPI] | None = None,
    database_urls: dict[str, str] | None = None,
) -> AsyncIterator[tuple[Clients, dict[str, Settings]]]:
    """Accounts (and any others) as they ship; contact on `clock`, `policy`, `skip_trace`
    and `notifier`. `apps`, when given, is filled with each service's app;
    `database_urls` puts a service's database elsewhere than SQLite under `tmp_path`."""
    urls = database_urls or {}
    settings = {
        s: settings_for(s, tmp_path, **({"database_url": urls[s]} if s in urls else {}))
        for s in services
    }
    async with AsyncExitStack() as stack:
        clients: Clients = {}
        for name in services:
            await asyncio.to_thread(upgrade, settings[name], migrations_dir(name))
            if name == "contact":
                app = contact_bootstrap.create_app(
                    settings[name],
                    clock=clock,
                    policy=policy,
                    skip_trace=skip_trace or FakeSkipTraceProvider(),
                    notifier=notifier,
                )
            else:
                app = bootstrap_module(name).create_app(settings[name])
            if apps is not None:
                apps[name] = app
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url=f"http://{name}",
                headers=auth(settings[name], DEFAULT_ROLES[name]),
            )
            clients[name] = await stack.enter_async_context(client)
        yield clients, settings


async def case_of(http: Clients, account: str, **headers: str) -> httpx.Response:
    return await http["contact"].get(f"/v1/accounts/{account}/case", headers=headers or None)


async def wait_case(http: Clients, account: str, check: Any = None) -> dict[str, Any]:
    """The account's open case once it exists (and `check` holds)."""
    r = await eventually(
        lambda: case_of(http, account),
        lambda r: r.status_code == 200 and (check is None or check(r.json())),
    )
    body: dict[str, Any] = r.json()
    return body


async def wait_known(http: Clients, account: str, check: Any = None) -> dict[str, Any]:
    """The account's open case (once `check` holds) and the borrower known to contact.

    The borrower comes from the inbound topic, the case from the accounts one, in either
    order: a check answers 404 until the borrower is known (it records one letter check).
    """
    case = await wait_case(http, account, check)
    probe = {"channel": "letter", "planned_at": "2026-01-01T12:00:00+08:00", "debt_id": "B1"}
    await eventually(
        lambda: http["contact"].post(f"/v1/accounts/{account}/contact-attempts/check", json=probe),
        lambda r: r.status_code != 404,
    )
    return case


async def allowed_check(
    http: Clients, account: str, at: datetime, channel: str = "call", debt: str = "B1"
) -> str:
    """Check a contact; it must be allowed; its attempt id."""
    body = {"channel": channel, "planned_at": at.isoformat(), "debt_id": debt}
    if channel in ("sms", "email"):
        body["carries_opt_out"] = True  # type: ignore[assignment]
    # Contact learns the borrower from the inbound topic, the case from the accounts one:
    # under load the case can come first, so wait out "no account" (404) a moment.
    r = await eventually(
        lambda: http["contact"].post(f"/v1/accounts/{account}/contact-attempts/check", json=body),
        lambda r: r.status_code != 404,
    )
    assert r.status_code == 200 and r.json()["decision"] == "allowed", r.text
    attempt_id: str = r.json()["attempt_id"]
    return attempt_id


async def record(
    http: Clients,
    account: str,
    at: datetime,
    outcome: str,
    *,
    channel: str = "call",
    debt: str = "B1",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    """Check, then record, a contact with `outcome`; the record's response."""
    attempt_id = await allowed_check(http, account, at, channel, debt)
    body = {
        "attempt_id": attempt_id,
        "channel": channel,
        "at": at.isoformat(),
        "outcome": outcome,
        "debt_id": debt,
        **extra,
    }
    return await http["contact"].post(
        f"/v1/accounts/{account}/contact-attempts", json=body, headers=headers
    )


async def trail(http: Clients, account: str, *types: str) -> list[dict[str, Any]]:
    """The contact and case events of an account, by type, as the audit service holds them."""
    r = await http["audit"].get(
        f"/v1/accounts/{account}/history", params={"purpose": "test", "type": list(types)}
    )
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def streams(
    settings: Settings, account: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(type, data) of the account's case stream and contact stream, in order, read
    straight from contact's database."""
    runtime = contact_bootstrap.bootstrap(settings)
    try:
        async with runtime.uow() as uow:
            cases, _ = await uow.events.load(f"cases-{account}")
            contact, _ = await uow.events.load(f"contact-{account}")
    finally:
        await runtime.engine.dispose()
    return [(e.type, e.data) for e in cases], [(e.type, e.data) for e in contact]
