"""A day close is bounded: no business date after today (plus a tolerance), and a long
catch-up closes in transactions of at most DAY_CLOSE_MAX_CATCH_UP_DAYS dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.accounts.service_layer.unit_of_work import stream_id
from shared.events.accounts import AccountDayClosed
from tests.support import (
    auth,
    bill,
    day_closed,
    eventually,
    ingest,
    opened,
    running_stack,
    settings_for,
)
from tests.unit.accounts_kit import Ledger, of

SHANGHAI = ZoneInfo("Asia/Shanghai")


def close_posted_now(business_date: date, account_id: str) -> dict[str, Any]:
    """A close whose occurred_at is now (passes the clock-skew check) naming `business_date`."""
    env = day_closed(business_date.isoformat(), account_id)
    env["occurred_at"] = datetime.now(UTC).isoformat()
    return env


def test_the_domain_closes_at_most_max_days_and_the_rest_equals_a_close_in_one_go() -> None:
    due = date(2026, 3, 10)
    capped, whole = Ledger(), Ledger()
    for lg in (capped, whole):
        lg.bill("B1", 100_000, due)
        lg.close(date(2026, 3, 1))
    first = capped.account.close_day(date(2026, 4, 30), max_days=7)
    assert [c.business_date for c in of(first, AccountDayClosed)][-1] == date(2026, 3, 8)
    capped.events.extend(first)
    for event in first:
        capped.account.apply_data(event)
    while capped.account.last_closed < date(2026, 4, 30):
        for event in capped.account.close_day(date(2026, 4, 30), max_days=7):
            capped.account.apply_data(event)
    whole.close(date(2026, 4, 30))
    assert capped.account.balances() == whole.account.balances()
    assert (capped.account.days_past_due, capped.account.bucket) == (
        whole.account.days_past_due,
        whole.account.bucket,
    )


async def test_a_close_after_today_is_refused_naming_business_date_and_nothing_else_is_lost(
    tmp_path: Path,
) -> None:
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    today = datetime.now(SHANGHAI).date()
    # A close of every account is checked against the zone furthest ahead (UTC+14), whose
    # today is Shanghai's tomorrow for part of each UTC day.
    today_ahead = datetime.now(timezone(timedelta(hours=14))).date()
    async with running_stack(settings) as http:
        await ingest(http, opened("F1"), bill("F1", "B1", due="2026-03-10"))
        r = await http["accounts"].post(
            "/v1/inbound/events",
            json={
                "events": [
                    close_posted_now(today - timedelta(days=2), "F1"),
                    close_posted_now(today + timedelta(days=366), "F1"),
                    close_posted_now(today_ahead + timedelta(days=2), "*"),
                    close_posted_now(today + timedelta(days=1), "F1"),  # the tolerance
                ]
            },
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["status"] for x in results] == ["accepted", "rejected", "rejected", "accepted"]
        for refused in (results[1], results[2]):
            assert "business_date" in refused["reason"] and "after today" in refused["reason"]
        summary = (await http["accounts"].get("/v1/accounts/F1", headers=agent)).json()
        assert summary["last_closed_business_date"] == (today + timedelta(days=1)).isoformat()
        assert summary["bucket"] != "charged_off"


async def test_a_long_catch_up_closes_in_several_transactions_each_date_once(
    tmp_path: Path,
) -> None:
    cap = 5
    settings = {"accounts": settings_for("accounts", tmp_path, day_close_max_catch_up_days=cap)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("C1"), bill("C1", "B1", due="2026-03-10", principal=1000_00))
        await ingest(http, day_closed("2026-03-01", "C1"), day_closed("2026-03-23", "C1"))
        done = await eventually(
            lambda: http["accounts"].get("/v1/accounts/C1", headers=agent),
            lambda r: r.json()["last_closed_business_date"] == "2026-03-23",
        )
        assert done.json()["days_past_due"] == 13
        # 50 fen a day for the 11th to the 23rd, each charged once.
        assert done.json()["balances"]["late_fee"] == 13 * 50
        runtime = http["accounts"]._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.uow() as uow:
            history, _ = await uow.events.load(stream_id("C1"))
            outbox = runtime.tables.outbox
            queued = await uow.session.execute(
                select(outbox.c.value).where(outbox.c.topic == runtime.settings.topics.inbound)
            )
            continued = [
                e
                for e in (json.loads(v) for (v,) in queued)
                if e["type"] == "BusinessDayClosed" and e["source"] == "accounts"
            ]
        # 03-02..06, 07..11, 12..16, 17..21, 22..23: four continuations of the close.
        assert len(continued) == 4
        assert {e["data"]["business_date"] for e in continued} == {"2026-03-23"}
        closed = [e.data["business_date"] for e in history if e.type == "AccountDayClosed"]
        expected = [(date(2026, 3, 1) + timedelta(days=n)).isoformat() for n in range(23)]
        assert closed == expected
