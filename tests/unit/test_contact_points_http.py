"""Contact points over HTTP, and the lost-contact flow end to end with the fake skip tracer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.contact.adapters.skip_trace import FakeSkipTraceProvider, FoundPoint, SkipTraceError
from services.contact.domain.policy import ContactPolicy
from shared.clock import FixedClock
from tests.support import auth, bill, day_closed, envelope, eventually, ingest, opened
from tests.unit.contact_kit import contact_stack, record, streams, wait_case

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 12, 10, 0, tzinfo=SH)
PHONE, PHONE2, EMAIL = "+86 138 1234 5678", "+86 137 0000 2222", "zhang.wei@example.com"
FOUND = "+86 139 0000 1111"


async def test_points_are_added_verified_and_lost_contact_goes_to_skip_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tracer = FakeSkipTraceProvider(
        found={"L1": [FoundPoint("phone", FOUND), FoundPoint("phone", "+8613812345678")]}
    )
    policy = ContactPolicy.from_mapping({"lost_contact": {"failed_attempts": 2, "window_days": 3}})
    async with contact_stack(tmp_path, FixedClock(NOW), policy=policy, skip_trace=tracer) as (
        http,
        settings,
    ):
        s = settings["contact"]
        await ingest(
            http, opened("L1"), bill("L1", "B1", due="2026-03-10"), day_closed("2026-03-11", "L1")
        )
        await wait_case(http, "L1", lambda c: c["queue"] == "reminders")
        points = "/v1/accounts/L1/contact-points"
        api = http["contact"]

        # The case comes from the accounts topic, the borrower from the inbound one.
        r = await eventually(
            lambda: api.post(
                points,
                json={"kind": "phone", "value": PHONE, "verified": True},
                headers=auth(s, "integrator"),
            ),
            lambda r: r.status_code != 404,
        )
        assert (r.status_code, r.json()["status"]) == (201, "verified"), r.text
        p1 = r.json()["point_id"]
        r = await api.post(points, json={"kind": "email", "value": EMAIL, "verified": True})
        assert r.status_code == 422 and "only an integrator" in r.json()["detail"]
        r = await api.post(points, json={"kind": "email", "value": EMAIL})
        assert (r.status_code, r.json()["status"]) == (201, "unverified")
        e1 = r.json()["point_id"]
        r = await api.post(points, json={"kind": "phone", "value": "+8613812345678"})
        assert r.status_code == 409 and "already a contact point" in r.json()["detail"]
        r = await api.post(points, json={"kind": "email", "value": "not an address"})
        assert r.status_code == 422 and r.json()["detail"].startswith("value:")
        r = await api.post(
            "/v1/accounts/NOPE/contact-points", json={"kind": "email", "value": EMAIL}
        )
        assert r.status_code == 404
        p2 = (await api.post(points, json={"kind": "phone", "value": PHONE2})).json()["point_id"]

        otp = f"{points}/{e1}/otp-result"
        assert (await api.post(otp, json={"passed": False})).json()["recorded"] == (
            "ContactPointVerificationFailed"
        )
        assert (await api.post(otp, json={"passed": True})).json()["recorded"] == (
            "ContactPointVerified"
        )
        assert (
            await api.post(f"{points}/cp-nope/otp-result", json={"passed": True})
        ).status_code == 404

        # A wrong number invalidates the number it names; the other phone stays.
        at = NOW
        r = await record(http, "L1", at, "wrong_number", contact_point_id=p2)
        assert r.status_code == 201, r.text
        r = await record(http, "L1", at, "no_answer", contact_point_id=e1)
        assert r.status_code == 422 and "is a email; call cannot use it" in r.json()["detail"]
        for minutes in (30, 60):
            r = await record(http, "L1", at + timedelta(minutes=minutes), "no_answer")
            assert r.status_code == 201, r.text
        r = await record(http, "L1", at + timedelta(minutes=40), "no_answer", channel="email")
        assert r.status_code == 201
        case = await wait_case(http, "L1")
        assert not case["lost_contact"]  # the e-mail failed once of twice
        r = await record(http, "L1", at + timedelta(minutes=70), "no_answer", channel="email")
        assert r.status_code == 201

        case = await wait_case(http, "L1", lambda c: len(c["contact_points"]) == 4)
        assert case["lost_contact"] and (case["segment"], case["queue"]) == (
            "lost_contact",
            "senior",
        )
        by_id = {p["point_id"]: p for p in case["contact_points"]}
        assert (by_id[p1]["status"], by_id[e1]["status"], by_id[p2]["status"]) == (
            "verified",
            "verified",
            "invalid",
        )
        [traced] = [p for p in case["contact_points"] if p["source"] == "skip_trace"]
        assert (traced["value"], traced["status"]) == ("+8613900001111", "unverified")

        masked = (await api.get("/v1/accounts/L1/case", headers=auth(s, "compliance"))).json()
        assert {p["value"] for p in masked["contact_points"]} == {
            "+86138****5678",
            "+86137****2222",
            "+86139****1111",
            "z***@example.com",
        }
        _, contact = await streams(s, "L1")
    types = [t for t, _ in contact]
    assert types.count("ContactPointInvalidated") == 1 and types.count("ContactLost") == 1
    lost = next(d for t, d in contact if t == "ContactLost")
    assert tracer.requests == [(lost["request_id"], "L1")]
    completed = next(d for t, d in contact if t == "SkipTraceCompleted")
    assert (completed["request_id"], completed["provider"], completed["found"]) == (
        lost["request_id"],
        "fake",
        1,
    )
    for digits in ("12345678", "00002222", "00001111", "zhang.wei"):
        assert digits not in caplog.text


class FlakyTracer(FakeSkipTraceProvider):
    """A provider that is down until `up` is set."""

    up: bool = False

    async def trace(self, request_id: str, account_id: str) -> list[FoundPoint]:
        if not self.up:
            raise SkipTraceError(f"skip-trace provider answered 503 to {request_id}")
        return await super().trace(request_id, account_id)


async def test_a_provider_that_is_down_dead_letters_the_request_and_a_replay_completes_it(
    tmp_path: Path,
) -> None:
    tracer = FlakyTracer(found={"L2": [FoundPoint("phone", FOUND)]})
    policy = ContactPolicy.from_mapping({"lost_contact": {"failed_attempts": 1, "window_days": 1}})
    async with contact_stack(tmp_path, FixedClock(NOW), policy=policy, skip_trace=tracer) as (
        http,
        settings,
    ):
        s = settings["contact"]
        ops = auth(s, "ops")
        await ingest(
            http, opened("L2"), bill("L2", "B1", due="2026-03-10"), day_closed("2026-03-11", "L2")
        )
        await wait_case(http, "L2")
        r = await eventually(
            lambda: http["contact"].post(
                "/v1/accounts/L2/contact-points",
                json={"kind": "phone", "value": PHONE, "verified": True},
                headers=auth(s, "integrator"),
            ),
            lambda r: r.status_code != 404,
        )
        assert r.status_code == 201, r.text
        assert (await record(http, "L2", NOW, "no_answer")).status_code == 201
        letters = await eventually(
            lambda: http["contact"].get("/v1/admin/dead-letters", headers=ops),
            lambda r: len(r.json()["dead_letters"]) == 1,
        )
        (letter,) = letters.json()["dead_letters"]
        assert letter["consumer"] == "skip-trace" and "503" in letter["reason"]
        assert PHONE not in letters.text

        tracer.up = True
        url = f"/v1/admin/dead-letters/skip-trace/{letter['id']}/replay"
        assert (await http["contact"].post(url, headers=ops)).status_code == 200
        case = await wait_case(http, "L2", lambda c: len(c["contact_points"]) == 2)
        (found,) = [p for p in case["contact_points"] if p["source"] == "skip_trace"]
        assert found["status"] == "unverified"
        _, contact = await streams(s, "L2")
    assert [t for t, _ in contact].count("SkipTraceCompleted") == 1


async def test_an_integrator_reports_contact_points_as_events(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        s = settings["contact"]

        def reported(value: str, verified: bool = False, kind: str = "phone") -> dict:
            data = {"kind": kind, "value": value, "verified": verified}
            return envelope("ContactPointReported", "L3", data)

        await ingest(
            http,
            opened("L3"),
            bill("L3", "B1", due="2026-03-10"),
            day_closed("2026-03-11", "L3"),
            reported(PHONE),
            reported(EMAIL, verified=True, kind="email"),
            reported("+8613812345678", verified=True),  # the same phone, now vouched for
            reported(PHONE),  # a repeat changes nothing
            reported("call me maybe"),
        )
        case = await wait_case(http, "L3", lambda c: len(c["contact_points"]) == 2)
        assert {(p["kind"], p["status"], p["source"]) for p in case["contact_points"]} == {
            ("phone", "verified", "integrator"),
            ("email", "verified", "integrator"),
        }
        ops = auth(s, "ops")
        letters = await eventually(
            lambda: http["contact"].get("/v1/admin/dead-letters", headers=ops),
            lambda r: len(r.json()["dead_letters"]) == 1,
        )
        (letter,) = letters.json()["dead_letters"]
        assert letter["kind"] == "rejected" and "maybe" not in letter["reason"]
        # Accounts leaves contact points alone: nothing dead-lettered there.
        accounts_ops = auth(settings["accounts"], "ops")
        r = await http["accounts"].get("/v1/admin/dead-letters", headers=accounts_ops)
        assert r.json()["dead_letters"] == []
        _, contact = await streams(s, "L3")
    types = [t for t, _ in contact]
    assert types.count("ContactPointAdded") == 2 and types.count("ContactPointVerified") == 2


async def test_the_audit_story_tells_contact_points_masked(tmp_path: Path) -> None:
    services = ("accounts", "contact", "audit")
    async with contact_stack(tmp_path, FixedClock(NOW), services=services) as (http, _):
        data = {"kind": "phone", "value": PHONE, "verified": True}
        await ingest(http, opened("L4"), envelope("ContactPointReported", "L4", data))
        story = await eventually(
            lambda: http["audit"].get("/v1/accounts/L4/story", params={"purpose": "test"}),
            lambda r: "ContactPointVerified" in [x["type"] for x in r.json().get("lines", [])],
        )
    lines = {x["type"]: x["text"] for x in story.json()["lines"]}
    assert "vouched for by the platform" in lines["ContactPointReported"]
    assert "from integrator, unverified" in lines["ContactPointAdded"]
    assert "verified by integrator" in lines["ContactPointVerified"]
    assert "12345678" not in story.text and "****5678" in lines["ContactPointAdded"]


async def test_staff_seeing_unmasked_contact_details_is_on_record(tmp_path: Path) -> None:
    services = ("accounts", "contact", "audit")
    async with contact_stack(tmp_path, FixedClock(NOW), services=services) as (http, settings):
        s = settings["contact"]
        data = {"kind": "phone", "value": PHONE, "verified": True}
        await ingest(
            http,
            opened("L5"),
            bill("L5", "B1", due="2026-03-10"),
            day_closed("2026-03-11", "L5"),
            envelope("ContactPointReported", "L5", data),
        )
        await wait_case(http, "L5", lambda c: len(c["contact_points"]) == 1)  # as agent
        for role in ("compliance", "borrower"):  # masked, or the borrower's own
            headers = auth(s, role, sub=f"{role}-1", accounts=["L5"])
            assert (await http["contact"].get("/v1/accounts/L5/case", headers=headers)).is_success
        story = await eventually(
            lambda: http["audit"].get("/v1/accounts/L5/story", params={"purpose": "test"}),
            lambda r: "ContactDetailsShown" in [x["type"] for x in r.json().get("lines", [])],
        )
    shown = [x["text"] for x in story.json()["lines"] if x["type"] == "ContactDetailsShown"]
    assert len(shown) >= 1 and all(t.startswith("The agent tester was shown") for t in shown)
