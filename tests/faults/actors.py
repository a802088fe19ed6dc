"""People at work through the HTTP APIs while the faults run: a borrower who asks for a
relief plan and accepts its offer (a supervisor approving it when policy says so), and an
agent who calls borrowers, records each call and a promise to pay.

Every step is retried until the service answers (a killed service is down for seconds),
and every retry is idempotent: the plan flow decides each step from the plan's state as
the plans API reports it now (one plan per account at a time, so a request repeated after
a lost answer finds the first), and a contact attempt is recorded under its own
`attempt_id`, which the contact API records once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as wall
from typing import Any

import httpx

from tests.faults.workload import ZONE, AccountPlan, Workload

DEADLINE_S = 240
RETRY_S = 0.5
# What plans calls a plan that ended; the borrower's flow fails on one never activated.
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


class Caller:
    """HTTP calls that outlast a service kill: a transport error or a 5xx is retried
    (an identical request: only the flows know whether that is safe, so they read state
    first or use an idempotency key)."""

    def __init__(self, http: httpx.AsyncClient, relief: Relief, deadline: float) -> None:
        self._http = http
        self._relief = relief
        self._deadline = deadline

    def expired(self) -> bool:
        """Whether the actors ran out of time."""
        return time.monotonic() > self._deadline

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response:
        """The first answer below 500 (a 409 ConcurrencyError says `retry` and is retried)."""
        while True:
            try:
                r = await self._http.request(method, url, json=body, headers=headers)
                if r.status_code < 500 and not _retry_conflict(r):
                    return r
            except httpx.TransportError:
                pass
            if self.expired():
                raise TimeoutError(f"{method} {url}: no answer before the actors' deadline")
            self._relief.retries += 1
            await asyncio.sleep(RETRY_S)

    async def pause(self) -> None:
        """Wait before asking again (the system has not caught up yet)."""
        if self.expired():
            raise TimeoutError("the system did not catch up before the actors' deadline")
        await asyncio.sleep(RETRY_S)


def _retry_conflict(r: httpx.Response) -> bool:
    return r.status_code == 409 and "retry the request" in r.text


async def plan_flow(caller: Caller, plans: str, tokens: Tokens, a: AccountPlan) -> tuple[str, str]:
    """Quote, request a quoted option, have it approved if it must be, accept its
    disclosure; the activated plan's id, and its state then."""
    me = tokens("borrower", subject=a.account_id, accounts=[a.account_id])
    supervisor = tokens("supervisor", subject="faults-supervisor")
    base = f"{plans}/v1/accounts/{a.account_id}/plans"
    option: str | None = None
    while True:
        r = await caller.call("GET", base, me)
        rows = r.json()["plans"] if r.status_code == 200 else []
        if not rows:
            option = option or await _pick_option(caller, base, me)
            if option is None:
                await caller.pause()  # not priceable or not eligible yet
                continue
            # A lost answer leaves the plan requested: the next GET finds it, and a repeat
            # is refused (one plan per account at a time).
            body = {"plan_type": _plan_type(option), "channel": "app",
                    "option": {"option_id": option}}  # fmt: skip
            await caller.call("POST", base, me, body)
            continue
        plan_id = rows[0]["plan_id"]
        r = await caller.call("GET", f"{base}/{plan_id}", me)
        plan = r.json()
        if plan["state"] == "active" or plan["activated"] is not None:
            return str(plan_id), str(plan["state"])
        if plan["state"] in ENDED:
            raise AssertionError(f"{a.account_id}: plan {plan_id} ended {plan['state']}")
        if plan["state"] == "requested" or plan["offer"] is None:
            option = option or await _pick_option(caller, base, me)
            if option is not None:
                await caller.call("POST", f"{base}/{plan_id}/offer", me, {"option_id": option})
        elif plan["approval"] == "pending":
            await caller.call("POST", f"{base}/{plan_id}/approve", supervisor)
        else:
            accept = {"channel": "app", "disclosure_sha256": plan["offer"]["disclosure_sha256"]}
            r = await caller.call("POST", f"{base}/{plan_id}/accept", me, accept)
            if r.status_code == 409 and "stale" in r.text.lower():
                # Fees accrued at a close since the offer: priced again from the new one.
                await caller.call("POST", f"{base}/{plan_id}/offer", me, {"option_id": option})
            elif r.status_code not in (200, 409):
                await caller.pause()


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
    """One call an agent makes and records: its id (the idempotency key) and outcome."""

    attempt_id: str
    outcome: str
    at: datetime


def calls_for(workload: Workload, a: AccountPlan) -> list[Call]:
    """An unanswered call, then one with a promise to pay, on the last business date."""
    day = workload.business_dates[-1]
    at = datetime.combine(day, wall(10), ZONE)
    return [
        Call(f"{a.account_id}-C1", "no_answer", at),
        Call(f"{a.account_id}-C2", "promise_to_pay", at + timedelta(hours=2)),
    ]


async def contact_flow(
    caller: Caller, contact: str, tokens: Tokens, workload: Workload, a: AccountPlan
) -> dict[str, bool]:
    """Check and record each call; the attempt ids recorded, and whether each promised."""
    agent = tokens("agent", subject="faults-agent")
    base = f"{contact}/v1/accounts/{a.account_id}/contact-attempts"
    debt = f"{a.account_id}-B1"
    recorded: dict[str, bool] = {}
    for c in calls_for(workload, a):
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
    return recorded


def _promise_date() -> date:
    # A promise runs from today (the contact service's clock) for at most 14 days.
    return datetime.now(ZONE).date() + timedelta(days=3)


async def act(
    http: httpx.AsyncClient,
    urls: dict[str, str],
    tokens: Tokens,
    workload: Workload,
    deadline_s: float = DEADLINE_S,
) -> Relief:
    """Every actor's flow at once; what they got done, and what they could not."""
    relief = Relief()
    caller = Caller(http, relief, time.monotonic() + deadline_s)

    async def plan(a: AccountPlan) -> None:
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
