"""Contact points, wrong numbers and lost contact (失联): the pure rules and the skip-trace port."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.contact.adapters.skip_trace import (
    FoundPoint,
    HttpSkipTraceProvider,
    SkipTraceError,
)
from services.contact.domain.contact_points import Attempt, ContactBook, ContactPoint, normalise
from services.contact.domain.policy import LostContactRule
from shared.errors import Rejected

SH = ZoneInfo("Asia/Shanghai")
RULE = LostContactRule(failed_attempts=3, window_days=7)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=SH)


def book(*points: tuple[str, str], status: str = "unverified") -> ContactBook:
    b = ContactBook()
    for point_id, kind in points:
        value = "+8613812345678" if kind == "phone" else "z@example.com"
        b.points[point_id] = ContactPoint(point_id, kind, value, "agent", status)  # type: ignore[arg-type]
    return b


def failed(b: ContactBook, when: datetime, channel: str = "call", **kw: Any) -> None:
    b.attempts.append(
        Attempt(f"a{len(b.attempts)}", channel, when, kw.pop("outcome", "no_answer"), **kw)  # type: ignore[arg-type]
    )


def days_ago(n: int, hour: int = 10) -> datetime:
    return (NOW - timedelta(days=n)).replace(hour=hour)


# -- contact points ---------------------------------------------------------------------------


def test_values_are_normalised_so_one_address_is_known_once() -> None:
    assert normalise("phone", " +86 138-1234-5678 ") == "+8613812345678"
    assert normalise("email", "Zhang.Wei@Example.COM") == "Zhang.Wei@example.com"
    b = ContactBook()
    added = b.add("phone", "+86 138 1234 5678", "agent")
    assert added is not None
    b.points[added.point_id] = ContactPoint(added.point_id, "phone", added.value, "agent")
    assert b.add("phone", "+8613812345678", "skip_trace") is None


@pytest.mark.parametrize(
    ("kind", "value"), [("phone", "12345"), ("phone", "call me"), ("email", "no-at-sign")]
)
def test_nonsense_is_refused_without_quoting_it(kind: Any, value: str) -> None:
    with pytest.raises(Rejected) as info:
        normalise(kind, value)
    assert info.value.reason.startswith("value:") and value not in info.value.reason


def test_a_wrong_number_invalidates_the_point_it_names() -> None:
    b = book(("p1", "phone"), ("p2", "phone"))
    hit = b.after_wrong_number(Attempt("a1", "call", NOW, "wrong_number", contact_point_id="p2"))
    assert hit is not None and hit.point_id == "p2" and hit.attempt_id == "a1"
    # Two phones and none named: guessing could throw away the one that works.
    assert b.after_wrong_number(Attempt("a2", "call", NOW, "wrong_number")) is None
    one = book(("p1", "phone"), ("e1", "email"))
    only = one.after_wrong_number(Attempt("a3", "sms", NOW, "wrong_number"))
    assert only is not None and only.point_id == "p1"
    assert one.after_wrong_number(Attempt("a4", "call", NOW, "no_answer")) is None


def test_an_invalidated_point_cannot_pass_an_otp() -> None:
    b = book(("p1", "phone"), status="invalid")
    with pytest.raises(Rejected, match="invalidated"):
        b.otp_result("p1", True)
    with pytest.raises(LookupError, match="no contact point p9"):
        b.otp_result("p9", True)


def test_a_point_must_fit_the_channel() -> None:
    with pytest.raises(Rejected, match="e1 is a email; call cannot use it"):
        book(("e1", "email")).check_point_for("e1", "call")


# -- lost contact ---------------------------------------------------------------------------


def test_the_nth_failure_on_the_last_channel_loses_contact_not_the_n_minus_1th() -> None:
    b = book(("p1", "phone"), ("e1", "email"))
    for n in (3, 2, 1):
        failed(b, days_ago(n))
    failed(b, days_ago(2), "email")
    failed(b, days_ago(1), "email")
    assert b.lost_contact(RULE, NOW, SH) is None  # e-mail: 2 of 3
    failed(b, days_ago(0), "email")
    lost = b.lost_contact(RULE, NOW, SH)
    assert lost is not None
    assert (lost.failed_attempts, lost.window_days, lost.point_ids) == (6, 7, ["e1", "p1"])


@pytest.mark.parametrize(("oldest", "lost"), [(6, True), (7, False)])
def test_the_window_is_m_local_days_today_included(oldest: int, lost: bool) -> None:
    b = book(("p1", "phone"))
    failed(b, days_ago(oldest, hour=0))
    failed(b, days_ago(1))
    failed(b, days_ago(0))
    assert (b.lost_contact(RULE, NOW, SH) is not None) is lost


def test_a_conversation_starts_the_count_again() -> None:
    b = book(("p1", "phone"))
    failed(b, days_ago(3))
    failed(b, days_ago(2))
    failed(b, days_ago(2, hour=11), outcome="reached")
    failed(b, days_ago(1))
    failed(b, days_ago(0))
    assert b.lost_contact(RULE, NOW, SH) is None
    failed(b, NOW - timedelta(minutes=5))
    assert b.lost_contact(RULE, NOW, SH) is not None


def test_failures_on_one_named_phone_do_not_fail_the_other() -> None:
    b = book(("p1", "phone"), ("p2", "phone"))
    for n in (2, 1, 0):
        failed(b, days_ago(n), contact_point_id="p1")
    assert b.lost_contact(RULE, NOW, SH) is None
    for n in (2, 1, 0):
        failed(b, days_ago(n, hour=11), "sms", contact_point_id="p2")
    assert b.lost_contact(RULE, NOW, SH) is not None


def test_every_point_invalid_is_lost_contact_and_no_points_is_nothing_to_conclude() -> None:
    b = book(("p1", "phone"), status="invalid")
    failed(b, days_ago(0), outcome="wrong_number")
    assert b.lost_contact(RULE, NOW, SH) is not None
    nothing = ContactBook()
    for n in range(5):
        failed(nothing, days_ago(n))
    assert nothing.lost_contact(RULE, NOW, SH) is None


def test_lost_once_until_the_borrower_is_reached_again() -> None:
    b = book(("p1", "phone"))
    for n in (2, 1, 0):
        failed(b, days_ago(n))
    b.lost = True
    failed(b, NOW)
    assert b.lost_contact(RULE, NOW, SH) is None


# -- the HTTP skip-trace adapter ------------------------------------------------------------------


async def test_the_http_provider_posts_the_request_and_reads_the_points() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        points = [
            {"kind": "phone", "value": "+8613900001111"},
            {"kind": "email", "value": "a@b.cn"},
        ]
        return httpx.Response(200, json={"contact_points": points})

    provider = HttpSkipTraceProvider(
        "https://trace.example/v1/requests", transport=httpx.MockTransport(answer)
    )
    found = await provider.trace("st-1", "A1")
    assert found == [FoundPoint("phone", "+8613900001111"), FoundPoint("email", "a@b.cn")]
    assert seen == [{"request_id": "st-1", "account_id": "A1"}]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503, text="down: +8613900001111"), r"HTTPStatusError \(HTTP 503\)"),
        (httpx.Response(200, json={"points": []}), "no contact_points list"),
        (
            httpx.Response(200, json={"contact_points": [{"kind": "fax", "value": "1"}]}),
            r"contact_points\[0\] needs kind",
        ),
    ],
)
async def test_a_failing_provider_is_an_error_that_quotes_no_personal_data(
    response: httpx.Response, message: str
) -> None:
    provider = HttpSkipTraceProvider(
        "https://trace.example/", transport=httpx.MockTransport(lambda _: response)
    )
    with pytest.raises(SkipTraceError, match=message) as info:
        await provider.trace("st-2", "A1")
    assert "13900001111" not in str(info.value)
