"""The accounts service closes business days itself at a local cut-off when configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.accounts.bootstrap import create_app
from services.accounts.service_layer.scheduler import DayCloseScheduler
from services.accounts.service_layer.unit_of_work import stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.migrations import upgrade
from shared.settings import Settings, SettingsError
from tests.support import auth, bill, eventually, opened, settings_for


def scheduler(zone: str = "Asia/Shanghai", cut_off: str = "23:30") -> DayCloseScheduler:
    def never() -> Any:
        raise AssertionError("not used")

    return DayCloseScheduler(
        cut_off=cut_off,
        time_zone=zone,
        clock=FixedClock(datetime.now(UTC)),
        uow_factory=never,
        inbound_topic="t",
        notify=lambda: None,
    )


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-03-12T23:29:59+08:00", "2026-03-11"),
        ("2026-03-12T23:30:00+08:00", "2026-03-12"),
        ("2026-03-13T00:10:00+08:00", "2026-03-12"),
        # 15:30 UTC is 23:30 in Shanghai: the zone decides, not the server's clock.
        ("2026-03-12T15:30:00+00:00", "2026-03-12"),
    ],
)
def test_the_latest_due_date_follows_the_local_cut_off(now: str, due: str) -> None:
    assert scheduler().last_due(datetime.fromisoformat(now)) == date.fromisoformat(due)


def test_the_next_cut_off_across_a_us_daylight_saving_change() -> None:
    s = scheduler("America/New_York", "23:00")
    # 2026-03-08 is the spring-forward day: the wall-clock cut-off stays 23:00 local.
    nxt = s.next_cut_off(datetime.fromisoformat("2026-03-08T12:00:00-05:00"))
    assert nxt.isoformat() == "2026-03-08T23:00:00-04:00"
    assert s.next_cut_off(nxt).isoformat() == "2026-03-09T23:00:00-04:00"


def test_every_copy_publishes_the_same_close() -> None:
    one, two = scheduler(), scheduler()
    day = date(2026, 3, 12)
    assert one.event_for(day).id == two.event_for(day).id
    assert one.event_for(day).id != one.event_for(date(2026, 3, 13)).id
    assert one.event_for(day).account_id == "*"


def test_a_bad_cut_off_or_zone_stops_the_service() -> None:
    with pytest.raises(SettingsError, match="day_close_at"):
        settings_for("accounts", Path("/tmp/unused"), day_close_at="25:00")
    with pytest.raises(SettingsError, match="DAY_CLOSE_TIME_ZONE"):
        settings_for(
            "accounts",
            Path("/tmp/unused"),
            day_close_at="23:30",
            day_close_time_zone="Mars/Olympus",
        )


async def test_the_service_closes_the_due_day_when_it_starts(tmp_path: Path) -> None:
    plain = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, plain, migrations_dir("accounts"))
    async with running_accounts(plain) as client:
        r = await client.post(
            "/v1/inbound/events",
            json={"events": [opened("Z1"), bill("Z1", "B1", due="2026-03-20")]},
            headers=auth(plain, "integrator"),
        )
        assert r.json()["accepted"] == 2

    scheduled = settings_for("accounts", tmp_path, day_close_at="23:30")
    at = FixedClock(datetime.fromisoformat("2026-03-12T23:45:00+08:00"))
    async with running_accounts(scheduled, clock=at) as client:
        summary = await eventually(
            lambda: client.get("/v1/accounts/Z1", headers=auth(plain, "agent")),
            lambda r: r.json()["last_closed_business_date"] == "2026-03-12",
        )
    assert summary.json()["days_past_due"] == 0


@asynccontextmanager
async def running_accounts(
    settings: Settings, clock: FixedClock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, **({"clock": clock} if clock else {}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://accounts"
        ) as client,
    ):
        yield client


async def test_two_copies_with_clocks_minutes_apart_close_each_date_once(tmp_path: Path) -> None:
    plain = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, plain, migrations_dir("accounts"))
    async with running_accounts(plain) as client:
        r = await client.post(
            "/v1/inbound/events",
            json={"events": [opened(a) for a in ("Y1", "Y2", "Y3")]},
            headers=auth(plain, "integrator"),
        )
        assert r.json()["accepted"] == 3
    scheduled = settings_for("accounts", tmp_path, day_close_at="23:30")
    # One copy's clock is two minutes slow, the other's two minutes fast: one still
    # sees the 11th as the latest due date, the other already the 12th.
    slow = FixedClock(datetime.fromisoformat("2026-03-12T23:28:00+08:00"))
    fast = FixedClock(datetime.fromisoformat("2026-03-12T23:32:00+08:00"))
    async with (
        running_accounts(scheduled, clock=slow) as one,
        running_accounts(scheduled, clock=fast) as two,
    ):
        for client in (one, two):
            await eventually(
                lambda c=client: c.get("/v1/accounts/Y3", headers=auth(plain, "agent")),
                lambda r: r.json()["last_closed_business_date"] == "2026-03-12",
            )
        # Both publish the 12th again, as a restart of either would.
        for app_client, clock in ((one, slow), (two, fast)):
            runtime = app_client._transport.app.state.runtime  # type: ignore[attr-defined]
            again = DayCloseScheduler(
                cut_off="23:30",
                time_zone="Asia/Shanghai",
                clock=clock,
                uow_factory=runtime.uow,
                inbound_topic=runtime.settings.topics.inbound,
                notify=runtime.notify_relay,
            )
            await again.publish(date(2026, 3, 12))
        inbound = runtime.consumers["inbound"]
        await eventually(lambda: inbound.dead_letters(), lambda d: d == [], timeout=5)
        await asyncio.sleep(1.0)  # let the republished closes arrive and be deduplicated
        async with runtime.uow() as uow:
            for account in ("Y1", "Y2", "Y3"):
                events, _ = await uow.events.load(stream_id(account))
                closes = [e.data["business_date"] for e in events if e.type == "AccountDayClosed"]
                assert sorted(closes) == sorted(set(closes)), account
                assert closes[-1] == "2026-03-12"
