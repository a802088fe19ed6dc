"""People at work through the HTTP APIs while the faults run: a borrower who asks for a
relief plan and accepts its offer (a supervisor approving it when policy says so), and an
agent who calls borrowers after each day's close, records each call, and at the end a
promise to pay. They keep pace with the workload's steps, and some work waits for a kill
of its service to release it (`Pace`), so that kill lands on a write in flight.

Every step is retried until the service answers (a killed service is down for seconds),
and every retry is idempotent: the plan flow decides each step from the plan's state as
the plans API reports it now (one plan per account at a time, so a request repeated after
a lost answer finds the first), and a contact attempt is recorded under its own
`attempt_id`, which the contact API records once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall
from typing import Any

import httpx

from tests.faults.workload import ZONE, AccountPlan, Workload

BORROWER_WAIT_S = 2.0
DEADLINE_S = 120
"""How long the actors may go on after the workload's last step is published."""
RETRY_S = 0.5
# What plans calls a plan that ended; the borrower's flow asks again after one never activated.
ENDED = {"rejected", "declined", "expired", "cancelled", "broken", "completed"}
# A plan with installments stays active over the days closed after it (a waiver or a
# deferral has none and completes at once); plans quotes it once the account is past due.
WANTED = "reinstallment"
Tokens = Callable[..., dict[str, str]]


@dataclass
class Relief:
    """What the actors got done, for the end checks: the plan activated per account (and
    the state it was in when the borrower saw it activated), and each recorded attempt
    (with whether it carried a promise to pay)."""

    plans: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, dict[str, bool]] = field(default_factory=dict)
    retries: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Pace:
    """What the actors keep pace with, shared with the harness: how many of the
    workload's `steps` are published, whether the faults are over, how often a kill of
    each service released held work (`released`, by service), and the actors' writes
    (POSTs) in flight per service origin (`writing`)."""

    steps: int
    steps_done: Callable[[], int]
    faults_done: Callable[[], bool]
    released: Counter[str] = field(default_factory=Counter)
    writing: Counter[str] = field(default_factory=Counter)


class Caller:
    """HTTP calls that outlast a service kill: a transport error or a 5xx is retried
    (an identical request: only the flows know whether that is safe, so they read state
    first or use an idempotency key)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        relief: Relief,
        pace: Pace,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        self._http = http
        self._relief = relief
        self._pace = pace
        self._deadline_s = deadline_s
        self._all_out: float | None = None

    async def after_step(self, step: int) -> None:
        """Wait until the workload has published its step `step`."""
        # Polled: the publisher's loop only counts its steps, it signals nobody.
        while True:
            if self._pace.steps_done() > step:
                return
            await asyncio.sleep(0.2)

    async def released_by_kill(self, service: str) -> None:
        """Wait until a kill of `service` releases this work (or the faults are over)."""
        while True:
            if self._pace.released[service] or self._pace.faults_done():
                return
            await asyncio.sleep(0.2)

    def expired(self) -> bool:
        """Whether the actors ran out of time (DEADLINE_S after the last step)."""
        if self._pace.steps_done() < self._pace.steps:
            return False
        if self._all_out is None:
            self._all_out = time.monotonic()
        return time.monotonic() - self._all_out > self._deadline_s

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response:
        """The first answer below 500 but for 429 (rate limited) and a 409 ConcurrencyError
        (which says `retry`): those are retried too."""
        origin = origin_of(url)
        writes = int(method != "GET")
        while True:
            self._pace.writing[origin] += writes
            try:
                r = await self._http.request(method, url, json=body, headers=headers)
                if r.status_code < 500 and r.status_code != 429 and not _retry_conflict(r):
                    return r
            except httpx.TransportError:
                pass
            finally:
                self._pace.writing[origin] -= writes
            if self.expired():
                raise TimeoutError(f"{method} {url}: no answer before the actors' deadline")
            self._relief.retries += 1
            await asyncio.sleep(RETRY_S)

    async def pause(self, seconds: float = RETRY_S) -> None:
        """Wait before asking again (the system has not caught up yet)."""
        if self.expired():
            raise TimeoutError("the system did not catch up before the actors' deadline")
        await asyncio.sleep(seconds)


def origin_of(url: str) -> str:
    """`http://host:port` of a URL: how requests in flight are counted per service."""
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}:{u.port}"


def _retry_conflict(r: httpx.Response) -> bool:
    return r.status_code == 409 and "retry the request" in r.text


def _current_plan(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan the borrower's flow is about: one that activated, else one still open;
    none when every plan ended unactivated (the borrower asks again)."""
    activated = [r for r in rows if r.get("activated_on") is not None]
    return activated[:1] or [r for r in rows if r.get("state") not in ENDED][:1]


async def plan_flow(caller: Caller, plans: str, tokens: Tokens, a: AccountPlan) -> tuple[str, str]:
    """Quote, request a quoted option, have it approved if it must be, accept its
    disclosure; the activated plan's id, and its state then."""
    me = tokens("borrower", subject=a.account_id, accounts=[a.account_id])
    supervisor = tokens("supervisor", subject="faults-supervisor")
    base = f"{plans}/v1/accounts/{a.account_id}/plans"
    option: str | None = None
    while True:
        r = await caller.call("GET", base, me)
        rows = _current_plan(r.json()["plans"] if r.status_code == 200 else [])
        if not rows:
            option = option or await _pick_option(caller, base, me)
            if option is None:
                # Not priceable or past due yet; a borrower's app asks now and then (plans
                # allows a borrower 60 requests a minute).
                await caller.pause(BORROWER_WAIT_S)
                continue
            # A lost answer leaves the plan requested: the next GET finds it, and a repeat
            # is refused (one plan per account at a time).
            body = {"plan_type": _plan_type(option), "channel": "app",
                    "option": {"option_id": option}}  # fmt: skip
            if (await caller.call("POST", base, me, body)).status_code != 201:
                await caller.pause(BORROWER_WAIT_S)  # e.g. not eligible yet
            continue
        plan_id = rows[0]["plan_id"]
        r = await caller.call("GET", f"{base}/{plan_id}", me)
        if r.status_code != 200:
            await caller.pause()
            continue
        plan = r.json()
        if plan["state"] == "active" or plan["activated"] is not None:
            return str(plan_id), str(plan["state"])
        if plan["state"] in ENDED:
            # Its offer expired (or it was refused) while faults held the borrower up and
            # the closes went on: like a real borrower, they ask again, priced afresh.
            option = None
            await caller.pause(BORROWER_WAIT_S)
            continue
        option = option or await _pick_option(caller, base, me)
        if option is None:
            r = None
        elif plan["state"] == "requested" or plan["offer"] is None:
            r = await caller.call("POST", f"{base}/{plan_id}/offer", me, {"option_id": option})
        elif plan["approval"] == "pending":
            r = await caller.call("POST", f"{base}/{plan_id}/approve", supervisor)
        else:
            accept = {"channel": "app", "disclosure_sha256": plan["offer"]["disclosure_sha256"]}
            r = await caller.call("POST", f"{base}/{plan_id}/accept", me, accept)
            if r.status_code == 409:
                # Stale (fees accrued at a close since the offer): priced again from the
                # new close. Or already active, when the answer to an accept was lost.
                r = await caller.call("POST", f"{base}/{plan_id}/offer", me, {"option_id": option})
        if r is None or r.status_code >= 300:
            await caller.pause(BORROWER_WAIT_S)


async def _pick_option(caller: Caller, base: str, me: dict[str, str]) -> str | None:
    """The first quoted option of the WANTED type that needs no evidence, if any yet."""
    r = await caller.call("POST", f"{base}/quote", me, {})
    if r.status_code != 200:
        return None
    for o in r.json()["options"]:
        if _plan_type(o["option_id"]) == WANTED and not o["evidence_required"]:
            return str(o["option_id"])
    return None


def _plan_type(option_id: str) -> str:
    # Option ids are `<plan type>` or `<plan type>-<months>` (plans' OptionId).
    return option_id.split("-")[0]


@dataclass(frozen=True)
class Call:
    """One call an agent makes and records once the workload's step `after_step` is out:
    its id (the idempotency key), outcome and time."""

    attempt_id: str
    outcome: str
    at: datetime
    after_step: int
    released: bool = False  # made when a kill of contact releases it, beside the others


def calls_for(workload: Workload, a: AccountPlan) -> list[Call]:
    """An unanswered call on each business date once it is closed (one a day, within
    CN's three), then one with a promise to pay on the last; and first in the list a
    second call on the first date that a kill of contact releases (however late the
    closes are published, a call is under way when contact dies)."""
    closes = _closes(workload)
    calls = [
        Call(f"{a.account_id}-C{i}", "no_answer", datetime.combine(d, wall(10), ZONE), step)
        for i, (d, step) in enumerate(zip(workload.business_dates, closes, strict=True))
    ]
    last = calls[-1]
    promise = Call(
        f"{a.account_id}-P", "promise_to_pay", last.at + timedelta(hours=2), last.after_step
    )
    first = calls[0]
    kill = Call(
        f"{a.account_id}-K", "no_answer", first.at + timedelta(hours=4), first.after_step, True
    )
    return [kill, *calls, promise]


def _closes(workload: Workload) -> list[int]:
    """The index of each business date's close among the workload's steps."""
    return [i for i, s in enumerate(workload.steps()) if s.name.startswith("close")]


def plan_starts(workload: Workload) -> dict[str, int]:
    """After which step each plan account's borrower asks for a plan: a close of the
    second half, by the seed (plans quotes a re-installment once the account is past due)."""
    closes = _closes(workload)
    rng = random.Random(workload.seed + 4)
    return {a.account_id: rng.choice(closes[len(closes) // 2 :]) for a in workload.plan_accounts()}


async def contact_flow(
    caller: Caller, contact: str, tokens: Tokens, workload: Workload, a: AccountPlan
) -> dict[str, bool]:
    """Check and record each call; the attempt ids recorded, and whether each promised."""
    agent = tokens("agent", subject="faults-agent")
    base = f"{contact}/v1/accounts/{a.account_id}/contact-attempts"
    debt = f"{a.account_id}-B1"
    recorded: dict[str, bool] = {}

    async def one(c: Call) -> None:
        await caller.after_step(c.after_step)
        if c.released:
            await caller.released_by_kill("contact")
        planned = {"attempt_id": c.attempt_id, "channel": "call",
                   "planned_at": c.at.isoformat(), "debt_id": debt}  # fmt: skip
        made: dict[str, Any] = {"attempt_id": c.attempt_id, "channel": "call",
                                "at": c.at.isoformat(), "outcome": c.outcome, "debt_id": debt,
                                "duration_seconds": 60}  # fmt: skip
        if c.outcome == "promise_to_pay":
            made |= {"promise_amount": a.principal, "promise_date": _promise_date().isoformat()}
        checked = False
        while True:
            if not checked:
                r = await caller.call("POST", f"{base}/check", agent, planned)
                if r.status_code != 200:
                    await caller.pause()  # contact has not met the account yet
                    continue
                if r.json()["decision"] != "allowed":
                    raise AssertionError(f"{a.account_id}: {c.attempt_id} blocked: {r.text}")
                checked = True
            r = await caller.call("POST", base, agent, made)
            if r.status_code == 201 or "already recorded" in r.text:
                break  # an answer lost to a kill had recorded it: the key says so
            if "not allowed by a compliance check" in r.text:
                checked = False  # the check's answer was lost before it committed
            await caller.pause()  # e.g. no collection case open yet for the promise
        recorded[c.attempt_id] = c.outcome == "promise_to_pay"

    async def in_turn(calls: list[Call]) -> None:
        for c in calls:
            await one(c)

    calls = calls_for(workload, a)
    await asyncio.gather(
        in_turn([c for c in calls if not c.released]), *(one(c) for c in calls if c.released)
    )
    return recorded


def _promise_date() -> date:
    # A promise runs from today (the contact service's clock) for at most 14 days.
    return datetime.now(ZONE).date() + timedelta(days=3)


async def act(
    http: httpx.AsyncClient,
    urls: dict[str, str],
    tokens: Tokens,
    workload: Workload,
    pace: Pace,
    deadline_s: float = DEADLINE_S,
) -> Relief:
    """Every actor's flow at once; what they got done, and what they could not. The
    first plan account's borrower waits for a kill of plans to release them, and one call
    to each contact account for a kill of contact (or for the faults to be over)."""
    relief = Relief()
    caller = Caller(http, relief, pace, deadline_s)
    starts = plan_starts(workload)
    first = workload.plan_accounts()[0].account_id

    async def plan(a: AccountPlan) -> None:
        if a.account_id == first:
            await caller.released_by_kill("plans")  # however early: it asks until quoted
        else:
            await caller.after_step(starts[a.account_id])
        plan_id, state = await plan_flow(caller, urls["plans"], tokens, a)
        relief.plans[a.account_id], relief.states[a.account_id] = plan_id, state

    async def contact(a: AccountPlan) -> None:
        relief.attempts[a.account_id] = await contact_flow(
            caller, urls["contact"], tokens, workload, a
        )

    flows = [plan(a) for a in workload.plan_accounts()]
    flows += [contact(a) for a in workload.contact_accounts()]
    for outcome in await asyncio.gather(*flows, return_exceptions=True):
        if isinstance(outcome, BaseException):
            relief.problems.append(f"{type(outcome).__name__}: {outcome}")
    return relief
