"""Every id and text the contact routes take is bounded, and every value is taken in its
own JSON type only: a loose or empty input is a 422 naming the field and changes nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import FixedClock
from tests.support import eventually, ingest, opened
from tests.unit.contact_kit import contact_stack, streams

NOON = "2026-03-10T12:00:00+08:00"
A = "/v1/accounts/I1"
CHECK = {"channel": "call", "planned_at": NOON, "debt_id": "B1"}
MADE = {"attempt_id": "A-1", "channel": "call", "at": NOON, "outcome": "no_answer", "debt_id": "B1"}
PROMISE = {**MADE, "outcome": "promise_to_pay", "promise_amount": 100, "promise_date": "2026-03-12"}
POINT = {"kind": "phone", "value": "+86 138 0013 8000"}

# (method, path, body, the field the error names)
BAD: list[tuple[str, str, Any, str]] = [
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "attempt_id": ""}, "attempt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "attempt_id": "   "}, "attempt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "attempt_id": "a\u0000b"}, "attempt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "attempt_id": "x" * 65}, "attempt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "attempt_id": 7}, "attempt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "debt_id": " B1"}, "debt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "debt_id": ""}, "debt_id"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "agency": ""}, "agency"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "agency": "a\nb"}, "agency"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "planned_at": 0}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "planned_at": "1773115200"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "planned_at": "2026-03-10"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check",
     {**CHECK, "planned_at": "2026-03-10T12:00:00"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check",
     {**CHECK, "planned_at": "9999-12-31T23:00:00-05:00"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check",
     {**CHECK, "planned_at": "1969-12-31T23:59:59Z"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check",
     {**CHECK, "planned_at": "2200-01-01T00:00:00Z"}, "planned_at"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "carries_opt_out": 1}, "carries_opt_out"),
    ("POST", f"{A}/contact-attempts/check",
     {**CHECK, "carries_opt_out": "true"}, "carries_opt_out"),
    ("POST", f"{A}/contact-attempts/check", {**CHECK, "discloses_debt": 0}, "discloses_debt"),
    ("POST", f"{A}/contact-attempts", {**MADE, "attempt_id": ""}, "attempt_id"),
    ("POST", f"{A}/contact-attempts", {**MADE, "at": 0}, "at"),
    ("POST", f"{A}/contact-attempts", {**MADE, "duration_seconds": "30"}, "duration_seconds"),
    ("POST", f"{A}/contact-attempts", {**MADE, "duration_seconds": 30.0}, "duration_seconds"),
    ("POST", f"{A}/contact-attempts", {**MADE, "contact_point_id": ""}, "contact_point_id"),
    ("POST", f"{A}/contact-attempts", {**PROMISE, "promise_amount": "100"}, "promise_amount"),
    ("POST", f"{A}/contact-attempts", {**PROMISE, "promise_date": 0}, "promise_date"),
    ("POST", f"{A}/contact-attempts",
     {**PROMISE, "promise_date": "2026-03-12T00:00:00+08:00"}, "promise_date"),
    ("POST", f"{A}/self-service/callback", {"slot_start": 0}, "slot_start"),
    ("POST", f"{A}/self-service/callback", {"slot_start": "2026-03-10T22:30:00"}, "slot_start"),
    ("POST", f"{A}/self-service/callback", {"slot_start": NOON, "debt_id": ""}, "debt_id"),
    ("POST", f"{A}/self-service/opt-out", {"channel": ["sms"]}, "channel"),
    ("POST", f"{A}/self-service/cease", {"reason": "   "}, "reason"),
    ("POST", f"{A}/self-service/cease", {"reason": "stop\u0007"}, "reason"),
    ("POST", f"{A}/self-service/cease", {"reason": 5}, "reason"),
    ("POST", f"{A}/self-service/dispute", {"debt_id": ""}, "debt_id"),
    ("POST", f"{A}/self-service/dispute", {"debt_id": "\t"}, "debt_id"),
    ("POST", f"{A}/self-service/dispute", {"debt_id": "B1", "reason": "\u0000"}, "reason"),
    ("PUT", f"{A}/self-service/preferences", {"preferred_channels": "sms"}, "preferred_channels"),
    ("POST", f"{A}/contact-points", {**POINT, "value": 8613800138000}, "value"),
    ("POST", f"{A}/contact-points", {**POINT, "value": "+86 138\u0000"}, "value"),
    ("POST", f"{A}/contact-points", {**POINT, "verified": 0}, "verified"),
    ("POST", f"{A}/contact-points/P1/otp-result", {"passed": 1}, "passed"),
    ("POST", f"{A}/contact-points/P1/otp-result", {"passed": "true"}, "passed"),
    ("POST", f"{A}/contact-points/%20/otp-result", {"passed": True}, "point_id"),
    ("GET", "/v1/accounts/%20/case", None, "account_id"),
    ("GET", "/v1/accounts/I1%00/reminders", None, "account_id"),
    ("POST", "/v1/queues/%20/next", None, "queue"),
]  # fmt: skip


async def test_loose_empty_or_unbounded_inputs_are_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    async with contact_stack(tmp_path, clock) as (http, settings):
        await ingest(http, opened("I1"))
        api = http["contact"]
        ok = await eventually(
            lambda: api.post(f"{A}/contact-attempts/check", json=CHECK),
            lambda r: r.status_code == 200,
        )
        assert ok.json()["decision"] == "allowed"
        before = await streams(settings["contact"], "I1")

        for method, path, body, field in BAD:
            r = await api.request(method, path, json=body)
            assert r.status_code == 422, (method, path, body, r.status_code, r.text)
            assert field in r.text, (path, body, r.text)

        assert await streams(settings["contact"], "I1") == before, "a refused input changed state"
        # The strict forms themselves are taken.
        r = await api.post(f"{A}/contact-attempts/check", json={**CHECK, "carries_opt_out": True})
        assert r.status_code == 200, r.text
        r = await api.post(f"{A}/self-service/callback", json={"slot_start": NOON})
        assert r.status_code == 201, r.text
        r = await api.post(f"{A}/self-service/cease", json={"reason": "by letter\r\nsigned"})
        assert r.status_code == 201, r.text
