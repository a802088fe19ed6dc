"""A realistic contact workload for the open-cases rebuild: cases opened by delinquency,
routed and reclassified, claimed (and re-claimed once stale), worked, promised, kept,
broken, called back, disputed and closed by cure."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.clock import FixedClock
from shared.settings import Settings
from tests.support import auth, bill, day_closed, eventually, ingest, opened, payment
from tests.unit.contact_kit import Clients, contact_stack, wait_case

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 16, 10, 0, tzinfo=SH)
AGENTS = [f"W{i}" for i in range(1, 7)]
"""Accounts 36 days past due on the 15th: the agents' queue."""
EARLY = "E1"
"""An account 5 days past due: the reminders' queue, its bucket changing within it."""


def _overdue(account: str, due: str) -> list[dict[str, object]]:
    return [
        opened(account),
        bill(account, "B1", due=due, issued_on="2026-01-01"),
        day_closed("2026-02-15", account),
    ]


async def _pull(http: Clients, s: Settings, agent: str) -> dict[str, object]:
    r = await http["contact"].post("/v1/queues/agents/next", headers=auth(s, "agent", sub=agent))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def _made(
    http: Clients, s: Settings, agent: str, pulled: dict[str, object], outcome: str, **extra: object
) -> None:
    """The call the pull's pre-check allowed, recorded by the agent who pulled it."""
    pre = pulled["pre_check"]
    assert isinstance(pre, dict)
    made = {
        "attempt_id": pre["attempt_id"],
        "channel": "call",
        "at": pre["planned_at"],
        "outcome": outcome,
        "debt_id": "B1",
        **extra,
    }
    r = await http["contact"].post(
        f"/v1/accounts/{pulled['account_id']}/contact-attempts",
        json=made,
        headers=auth(s, "agent", sub=agent),
    )
    assert r.status_code == 201, r.text


async def run_contact_workload(
    tmp_path: Path, database_urls: dict[str, str] | None = None
) -> dict[str, Settings]:
    """Run the workload on a fresh stack; the settings of its services, stopped."""
    clock = FixedClock(NOW)
    async with contact_stack(tmp_path, clock, database_urls=database_urls) as (http, settings):
        s = settings["contact"]
        await ingest(
            http,
            *[e for a in AGENTS for e in _overdue(a, "2026-01-10")],
            *_overdue(EARLY, "2026-02-10"),
        )
        for account in AGENTS:
            await wait_case(http, account, lambda c: c["queue"] == "agents")
        await wait_case(http, EARLY, lambda c: c["bucket"] == "1-30")
        # Three agents pull a case each and work it: no answer, two promises.
        tried = await _pull(http, s, "alice")
        await _made(http, s, "alice", tried, "no_answer")
        clock.advance(timedelta(minutes=3))
        kept = await _pull(http, s, "bob")
        clock.advance(timedelta(minutes=2))  # the call, later than the claim, freshens it
        await _made(
            http, s, "bob", kept, "promise_to_pay", promise_amount=100_00, promise_date="2026-02-20"
        )
        broken = await _pull(http, s, "carol")
        await _made(
            http,
            s,
            "carol",
            broken,
            "promise_to_pay",
            promise_amount=50_00,
            promise_date="2026-02-18",
        )
        taken = {tried["account_id"], kept["account_id"], broken["account_id"]}
        free = [a for a in AGENTS if a not in taken]
        # A callback the borrower asked for, a dispute, and a cure by payment in full.
        called, disputed, cured = free
        borrower = auth(s, "borrower", sub="b", accounts=[called, disputed])
        r = await http["contact"].post(
            f"/v1/accounts/{called}/self-service/callback",
            json={"slot_start": "2026-02-17T22:30:00+08:00", "debt_id": "B1"},
            headers=borrower,
        )
        assert r.status_code == 201, r.text
        r = await http["contact"].post(
            f"/v1/accounts/{disputed}/self-service/dispute",
            json={"debt_id": "B1", "reason": "not my debt"},
            headers=borrower,
        )
        assert r.status_code == 201, r.text
        summary = await http["accounts"].get(
            f"/v1/accounts/{cured}", headers=auth(settings["accounts"], "agent")
        )
        owed = summary.json()["outstanding"]
        await ingest(
            http,
            payment(str(kept["account_id"]), "PK", 100_00, paid_at="2026-02-17T10:00:00+08:00"),
            payment(cured, "PC", owed, paid_at="2026-02-16T09:00:00+08:00"),
            day_closed("2026-02-19", str(broken["account_id"])),
        )
        await eventually(
            lambda: http["contact"].get(f"/v1/accounts/{cured}/case"),
            lambda r: r.status_code == 404,
        )
        for pulled, status in ((kept, "kept"), (broken, "broken")):
            await wait_case(
                http,
                str(pulled["account_id"]),
                lambda c, status=status: c["promises"] and c["promises"][0]["status"] == status,
            )
        await wait_case(http, disputed, lambda c: c["queue"] == "specialist")
        # Hours later alice's claim is stale: dave takes her case over.
        clock.advance(timedelta(hours=11))
        assert (await _pull(http, s, "dave"))["account_id"] == tried["account_id"]
    return settings
