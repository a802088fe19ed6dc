"""Automated pre-due and early-days reminders: scheduled from accounts' PaymentDueSoon,
checked by the compliance engine on every channel, sent through the notifier port, and
recorded on the contact stream; quiet hours, opt-outs, payments and a failing provider."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.contact.adapters.notifier import FakeNotifier, HttpNotifier, NotifierError
from services.contact.bootstrap import reminder_worker
from services.contact.domain.compliance import (
    CN_DEFAULT,
    US_DEFAULT,
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    RecordedAttempt,
    check,
)
from services.contact.domain.compliance.packs import DEFAULT_CONVERSATION_OUTCOMES
from services.contact.domain.policy import ContactPolicy, ReminderSettings
from services.contact.domain.reminders import next_open, reminder_channels, reminder_text, yuan
from services.contact.service_layer.reminders import ReminderWorker
from shared.clock import FixedClock
from shared.policy_values import PolicyError
from shared.settings import Settings
from tests.support import auth, bill, day_closed, eventually, ingest, opened, payment
from tests.unit.contact_compliance_kit import attempt, state
from tests.unit.contact_kit import Clients, contact_stack, record, streams

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
DUE = "2026-03-10"
# A worker that never wakes by itself during a test: the tests drive process_due.
POLICY = ContactPolicy(reminders=ReminderSettings(poll_seconds=3600))


@asynccontextmanager
async def reminders_stack(
    tmp_path: Path, clock: FixedClock, notifier: FakeNotifier, policy: ContactPolicy = POLICY
) -> AsyncIterator[tuple[Clients, Settings, FastAPI, ReminderWorker]]:
    apps: dict[str, FastAPI] = {}
    async with contact_stack(tmp_path, clock, policy=policy, notifier=notifier, apps=apps) as (
        http,
        settings,
    ):
        app = apps["contact"]
        yield http, settings["contact"], app, reminder_worker(app.state.runtime)


async def rows(app: FastAPI, account: str) -> list[dict[str, Any]]:
    async with app.state.runtime.uow() as uow:
        found: list[dict[str, Any]] = await uow.reminders.of(account)
        return found


async def wait_reminder(
    app: FastAPI, account: str, ok: Callable[[dict[str, Any]], bool] = lambda r: True
) -> dict[str, Any]:
    """The account's one reminder, once contact has it (and `ok` holds)."""
    found = await eventually(lambda: rows(app, account), lambda rs: len(rs) == 1 and ok(rs[0]))
    return found[0]


async def due_soon(http: Clients, account: str, principal: int = 500_00) -> None:
    """A bill due on DUE and a day close three days before it: accounts says it is due soon."""
    await ingest(
        http,
        opened(account),
        bill(account, "B1", due=DUE, issued_on="2026-03-01", principal=principal),
        day_closed("2026-03-07", account),
    )


async def contact_types(settings: Settings, account: str) -> list[tuple[str, dict[str, Any]]]:
    _, contact = await streams(settings, account)
    return [(t, d) for t, d in contact if t.startswith("ContactAttempt")]


async def test_a_bill_due_soon_is_reminded_once_by_app_push(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier()
    async with reminders_stack(tmp_path, clock, fake) as (http, s, app, worker):
        await due_soon(http, "R1")
        pending = await wait_reminder(app, "R1")
        assert (pending["bill_id"], pending["due_date"], pending["kind"]) == (
            "B1",
            date(2026, 3, 10),
            "due_soon",
        )
        assert (pending["status"], pending["amount_due"], pending["currency"]) == (
            "pending",
            500_00,
            "CNY",
        )

        assert await worker.process_due() == 1
        [message] = fake.sent
        assert (message.account_id, message.channel) == ("R1", "app_push")
        assert message.text == "Reminder: a payment of 500.00 CNY is due on 2026-03-10."
        done = (await rows(app, "R1"))[0]
        assert (done["status"], done["tries"]) == ("sent", 1)
        events = await contact_types(s, "R1")
        assert [t for t, _ in events] == ["ContactAttemptChecked", "ContactAttemptRecorded"]
        checked, recorded = events[0][1], events[1][1]
        assert (checked["decision"], checked["channel"], checked["debt_id"]) == (
            "allowed",
            "app_push",
            "B1",
        )
        assert (recorded["outcome"], recorded["channel"], recorded["attempt_id"]) == (
            "sent",
            "app_push",
            checked["attempt_id"],
        )

        # Nothing more to send, and the same reminder is never scheduled twice.
        assert await worker.process_due() == 0
        assert len(fake.sent) == 1
        async with app.state.runtime.uow() as uow:
            key = ("R1", "B1", date(2026, 3, 10), "due_soon")
            assert not await uow.reminders.schedule(key, amount_due=1, currency="CNY")
        assert (await rows(app, "R1"))[0]["status"] == "sent"


async def test_an_early_days_bill_gets_an_overdue_reminder(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier()
    async with reminders_stack(tmp_path, clock, fake) as (http, _, app, worker):
        await due_soon(http, "R7")
        await wait_reminder(app, "R7")
        assert await worker.process_due() == 1

        await ingest(http, day_closed("2026-03-11", "R7"))
        found = await eventually(lambda: rows(app, "R7"), lambda rs: len(rs) == 2)
        overdue = next(r for r in found if r["kind"] == "overdue")
        assert (overdue["status"], overdue["amount_due"]) == ("pending", 500_00)
        clock.set(datetime(2026, 3, 12, 10, 0, tzinfo=SH))
        assert await worker.process_due() == 1
        assert fake.sent[-1].text == "Reminder: a payment of 500.00 CNY was due on 2026-03-10."
        assert fake.sent[-1].message_id != fake.sent[0].message_id


async def test_quiet_hours_postpone_the_reminder_until_morning(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 23, 0, tzinfo=SH))
    fake = FakeNotifier()
    async with reminders_stack(tmp_path, clock, fake) as (http, s, app, worker):
        await due_soon(http, "R2")
        await wait_reminder(app, "R2")
        assert await worker.process_due() == 0
        assert fake.sent == []
        later = (await rows(app, "R2"))[0]
        assert (later["status"], later["tries"], later["last_reason"]) == (
            "pending",
            1,
            "CN.quiet_hours",
        )
        # Not every hour of the night: the next try is when quiet hours end, 08:00 there.
        assert later["next_try_at"] == datetime(2026, 3, 9, 8, 0, tzinfo=SH)
        clock.set(datetime(2026, 3, 9, 7, 45, tzinfo=SH))
        assert await worker.process_due() == 0
        blocked = await contact_types(s, "R2")
        # Every channel was checked, and every decision is on the record.
        assert [(d["channel"], d["decision"], d["rule_ids"]) for _, d in blocked] == [
            (channel, "blocked", ["CN.quiet_hours"]) for channel in ("app_push", "sms", "email")
        ]

        # The borrower (and agents) see what is pending and why.
        mine = auth(s, "borrower", sub="r2", accounts=["R2"])
        listed = (await http["contact"].get("/v1/accounts/R2/reminders", headers=mine)).json()
        (pending,) = listed["reminders"]
        assert (pending["status"], pending["reason"]) == ("pending", "CN.quiet_hours")
        assert pending["next_try_at"] == "2026-03-09T00:00:00+00:00"

        clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=SH))
        assert await worker.process_due() == 1
        assert [m.channel for m in fake.sent] == ["app_push"]
        assert (await rows(app, "R2"))[0]["status"] == "sent"
        listed = (await http["contact"].get("/v1/accounts/R2/reminders", headers=mine)).json()
        assert [(r["status"], r["next_try_at"]) for r in listed["reminders"]] == [("sent", None)]


async def test_an_opted_out_channel_is_passed_over(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier()
    async with reminders_stack(tmp_path, clock, fake) as (http, s, app, worker):
        await due_soon(http, "R3")
        await wait_reminder(app, "R3")
        borrower = auth(s, "borrower", sub="rita", accounts=["R3"])
        r = await http["contact"].post(
            "/v1/accounts/R3/self-service/opt-out", json={"channel": "app_push"}, headers=borrower
        )
        assert r.status_code == 201, r.text

        assert await worker.process_due() == 1
        [message] = fake.sent
        assert message.channel == "sms"
        assert message.text.endswith("Reply STOP to opt out.")
        events = await contact_types(s, "R3")
        # CN has no opt-out rule, so the opted-out channel is never even tried.
        assert [(t, d["channel"]) for t, d in events] == [
            ("ContactAttemptChecked", "sms"),
            ("ContactAttemptRecorded", "sms"),
        ]


async def test_a_payment_before_sending_skips_the_reminder(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier()
    async with reminders_stack(tmp_path, clock, fake) as (http, s, app, worker):
        await due_soon(http, "R4")
        await wait_reminder(app, "R4")
        await ingest(http, payment("R4", "P1", 100_00, paid_at="2026-03-08T09:30:00+08:00"))
        skipped = await wait_reminder(app, "R4", lambda r: r["status"] == "skipped")
        assert skipped["last_reason"] == "payment received"

        assert await worker.process_due() == 0
        assert fake.sent == []
        assert await contact_types(s, "R4") == []


async def test_a_failing_notifier_leaves_the_reminder_to_retry(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier(fail=True)
    async with reminders_stack(tmp_path, clock, fake) as (http, s, app, worker):
        await due_soon(http, "R5")
        await wait_reminder(app, "R5")
        assert await worker.process_due() == 0
        failed = (await rows(app, "R5"))[0]
        assert (failed["status"], failed["tries"]) == ("pending", 1)
        assert failed["last_reason"].startswith("notifier: ")
        assert failed["next_try_at"] == clock.now() + timedelta(minutes=60)
        # The allowed check is on record; no message is recorded as sent.
        assert [t for t, _ in await contact_types(s, "R5")] == ["ContactAttemptChecked"]

        # Not due again before retry_minutes have passed.
        clock.advance(timedelta(minutes=30))
        assert await worker.process_due() == 0
        fake.fail = False
        clock.advance(timedelta(minutes=30))
        assert await worker.process_due() == 1
        assert (await rows(app, "R5"))[0]["status"] == "sent"
        types = [t for t, _ in await contact_types(s, "R5")]
        assert types == ["ContactAttemptChecked", "ContactAttemptChecked", "ContactAttemptRecorded"]


async def test_a_reminder_failing_max_tries_times_is_skipped(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    fake = FakeNotifier(fail=True)
    policy = replace(POLICY, reminders=replace(POLICY.reminders, max_tries=2))
    async with reminders_stack(tmp_path, clock, fake, policy) as (http, _, app, worker):
        await due_soon(http, "R6")
        await wait_reminder(app, "R6")
        assert await worker.process_due() == 0
        clock.advance(timedelta(hours=1))
        assert await worker.process_due() == 0
        gone = (await rows(app, "R6"))[0]
        assert (gone["status"], gone["tries"]) == ("skipped", 2)
        assert gone["last_reason"].startswith("notifier: ")
        fake.fail = False
        clock.advance(timedelta(hours=1))
        assert await worker.process_due() == 0
        assert fake.sent == []


async def test_a_call_cannot_be_recorded_as_sent(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 8, 10, 0, tzinfo=SH))
    async with contact_stack(tmp_path, clock, policy=POLICY) as (http, _):
        await ingest(http, opened("R8"))
        r = await record(http, "R8", clock.now(), "sent")
        assert r.status_code == 422, r.text
        assert "outcome sent is for written messages" in r.text
        assert (await record(http, "R8", clock.now(), "sent", channel="sms")).status_code == 201


# -- the HTTP notifier -------------------------------------------------------------------------


async def test_the_http_notifier_posts_the_message_and_fails_on_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(202 if len(seen) == 1 else 503, json={"ok": True})

    notifier = HttpNotifier("https://push.example/send", transport=httpx.MockTransport(answer))
    secret = "Reminder: a payment of 1.00 CNY is due on 2026-03-10."
    with caplog.at_level(logging.DEBUG):
        await notifier.send("m1", "A1", "sms", secret)
        with pytest.raises(NotifierError, match="HTTP 503"):
            await notifier.send("m2", "A1", "sms", secret)
    assert seen[0] == {"message_id": "m1", "account_id": "A1", "channel": "sms", "text": secret}
    assert secret not in caplog.text


# -- pure parts -------------------------------------------------------------------------------


def at_ny(day: int, hour: int) -> datetime:
    return datetime(2026, 6, day, hour, 0, tzinfo=NY)


def test_a_sent_sms_is_no_conversation_under_regulation_f() -> None:
    assert "sent" not in DEFAULT_CONVERSATION_OUTCOMES
    state = ConsumerState("America/New_York")
    sms = RecordedAttempt("r1", "sms", at_ny(1, 10), "sent", "D1")
    call = ContactAttempt("c1", "call", at_ny(2, 10), "D1")
    decision = check(call, ContactLedger((sms,)), state, US_DEFAULT)
    assert decision.allowed, decision.explanation
    # The contrast: a call the day before that reached the borrower does block it.
    talked = RecordedAttempt("r2", "call", at_ny(1, 10), "reached", "D1")
    blocked = check(call, ContactLedger((talked,)), state, US_DEFAULT)
    assert blocked.rule_ids == ("US.7_days_after_conversation",)


def test_sent_messages_count_as_no_call() -> None:
    # Eight reminders in a day do not use up the 7-in-7 calls (nor CN's 3 calls a day).
    state = ConsumerState("America/New_York")
    sent = tuple(
        RecordedAttempt(f"r{i}", "sms", at_ny(1, 9) + timedelta(minutes=i), "sent", "D1")
        for i in range(8)
    )
    call = ContactAttempt("c1", "call", at_ny(1, 12), "D1")
    assert check(call, ContactLedger(sent), state, US_DEFAULT).allowed


def test_channels_preferred_first_never_opted_out_never_calls() -> None:
    treatment = ("app_push", "sms", "email")
    assert reminder_channels(treatment, [], []) == ["app_push", "sms", "email"]
    assert reminder_channels(treatment, ["email", "call"], []) == ["email", "app_push", "sms"]
    assert reminder_channels(treatment, ["email"], ["email", "app_push"]) == ["sms"]
    assert reminder_channels(("call", "letter", "sms"), [], []) == ["sms"]


def test_reminder_text_is_exact_and_neutral() -> None:
    assert yuan(0) == "0.00" and yuan(5) == "0.05" and yuan(123_456_78) == "123456.78"
    text = reminder_text("overdue", 1_01, "CNY", date(2026, 3, 10), "email")
    assert text == "Reminder: a payment of 1.01 CNY was due on 2026-03-10. Reply STOP to opt out."


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("no", "reminders: must be a mapping"),
        ({"notifier": "pigeon"}, "reminders.notifier: must be 'fake' or 'http'"),
        ({"notifier": "http"}, "reminders.url: required"),
        ({"url": "ftp://x"}, "reminders.url: must be an http(s) URL"),
        ({"retry_minutes": 0}, "reminders.retry_minutes: must be between"),
        ({"max_tries": "3"}, "reminders.max_tries: must be an integer"),
        ({"poll_seconds": 0}, "reminders.poll_seconds: must be between"),
        ({"timeout_seconds": 1000}, "reminders.timeout_seconds: must be between"),
        ({"tries": 3}, "reminders.tries: unknown key"),
    ],
)
def test_bad_reminder_settings_name_the_key(raw: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ContactPolicy.from_mapping({"reminders": raw})


def test_reminder_settings_defaults_and_values() -> None:
    assert ContactPolicy().reminders == ReminderSettings(
        notifier="fake",
        url=None,
        timeout_seconds=10,
        retry_minutes=60,
        max_tries=24,
        poll_seconds=60,
    )
    read = ContactPolicy.from_mapping(
        {"reminders": {"notifier": "http", "url": "https://sms.example/send", "max_tries": 5}}
    ).reminders
    assert (read.notifier, read.url, read.max_tries, read.retry_minutes) == (
        "http",
        "https://sms.example/send",
        5,
        60,
    )


def test_the_next_open_instant_is_when_the_rules_allow_not_a_fixed_retry() -> None:
    def at(channel: Any, when: datetime) -> Any:
        return attempt(when, channel, carries_opt_out=True)

    late = datetime(2026, 3, 8, 23, 0, tzinfo=SH)
    cn, us = CN_DEFAULT, US_DEFAULT
    morning = next_open(["sms"], at, ContactLedger(), state("Asia/Shanghai"), cn, late)
    assert morning == datetime(2026, 3, 9, 8, 0, tzinfo=SH)
    busy = state("Asia/Shanghai", inconvenient_hours=((time(8), time(12)),))
    assert next_open(["sms"], at, ContactLedger(), busy, cn, late) == datetime(
        2026, 3, 9, 12, 0, tzinfo=SH
    )
    # A cease request is not lifted by time: nothing opens.
    ceased = state("America/New_York", cease_requested=True)
    assert next_open(["sms"], at, ContactLedger(), ceased, us, late) is None
