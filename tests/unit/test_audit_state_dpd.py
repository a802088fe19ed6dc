"""Audit's reconstructed DPD is accounts' DPD: that of the oldest bill unpaid at the last
close, even after a payment changed which bill is oldest without a bucket change."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.accounts.domain.policy import Policies
from services.audit.domain.state import reconstruct
from shared.errors import Rejected
from shared.events.accounts import DelinquencyBucketChanged
from tests.support import auth, bill, day_closed, eventually, ingest, opened, payment, running_stack
from tests.support import settings_for as settings_of
from tests.unit.accounts_kit import Ledger, of

S = date(2026, 3, 1)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def trail(lg: Ledger) -> list[dict[str, Any]]:
    """The ledger's stream as audit's trail entries, in order."""
    out = []
    for seq, env in enumerate(lg.events, start=1):
        event = env.model_dump(mode="json")
        out.append(
            {
                "seq": seq,
                "event_id": event["id"],
                "type": env.type,
                "occurred_at": event["occurred_at"],
                "recorded_at": event["recorded_at"],
                "data": event["data"],
                "hash": f"{seq:064x}",
            }
        )
    return out


def audit_dpd(lg: Ledger) -> int | None:
    return reconstruct(trail(lg), NOW).days_past_due


def test_a_backdated_payment_that_clears_the_oldest_bill_moves_dpd_without_a_bucket_change() -> (
    None
):
    lg = Ledger()
    lg.bill("B1", 1000_00, date(2026, 3, 10))
    lg.bill("B2", 1000_00, date(2026, 3, 14))
    lg.close(date(2026, 4, 8))
    assert audit_dpd(lg) == lg.account.days_past_due == 29
    # Paid on 12 March (B1 and its one day of late fee), posted only after 8 April's close.
    corrections = lg.pay("P1", 1000_50, date(2026, 3, 12))
    assert of(corrections, DelinquencyBucketChanged) == []  # 1-30 either way
    assert lg.account.days_past_due == 25
    assert audit_dpd(lg) == 25


def test_credit_a_backdated_payment_frees_for_a_later_bill_pays_it_in_audit_too() -> None:
    # Found by the property below: the payment's spare fen became credit applied to a bill
    # issued after the close it was backdated into (a reallocation with no earlier
    # allocation). Audit refused to fold it, so that bill stayed owed and overdue there.
    lg = Ledger(policies=Policies.from_mapping({"consumer_credit": {"grace_days": 0}}))
    lg.bill("B0", 1, S + timedelta(days=1))
    lg.close(S)
    lg.close(S + timedelta(days=2))
    lg.bill("N2", 1, S + timedelta(days=3))
    lg.pay("P3", 2, S + timedelta(days=2))
    lg.close(S + timedelta(days=4))
    assert lg.account.days_past_due == 0
    assert audit_dpd(lg) == 0
    assert reconstruct(trail(lg), NOW).balances == lg.account.balances()


policy_st = st.integers(0, 5).map(
    lambda grace: Policies.from_mapping({"consumer_credit": {"grace_days": grace}})
)
op_st = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 3000_00), st.integers(0, 40)),
    st.tuples(st.just("close"), st.integers(1, 20), st.just(0)),
    st.tuples(st.just("bill"), st.integers(1, 2000_00), st.integers(0, 40)),
    st.tuples(st.just("plan"), st.just(0), st.just(0)),
    st.tuples(st.just("defer"), st.integers(1, 2), st.just(0)),
    st.tuples(st.just("waive"), st.integers(1, 500_00), st.just(0)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policies=policy_st,
    bills=st.lists(st.tuples(st.integers(1, 2000_00), st.integers(1, 40)), min_size=1, max_size=4),
    ops=st.lists(op_st, min_size=1, max_size=16),
)
def test_audit_state_dpd_equals_the_accounts_dpd_after_any_servicing(
    policies: Policies, bills: list[tuple[int, int]], ops: list[tuple[str, int, int]]
) -> None:
    lg = Ledger(policies=policies)
    for i, (principal, due) in enumerate(bills):
        lg.bill(f"B{i}", principal, S + timedelta(days=due))
    lg.close(S)
    plan_open = False
    for n, (op, x, y) in enumerate(ops):
        with contextlib.suppress(Rejected):  # refused: nothing recorded
            act(lg, n, op, x, y, plan_open)
            plan_open = not plan_open if op == "plan" else plan_open
        assert audit_dpd(lg) == lg.account.days_past_due, n


def act(lg: Ledger, n: int, op: str, x: int, y: int, plan_open: bool) -> None:
    today = lg.account.today or S
    if op == "pay":  # y days backdated (0: today)
        lg.pay(f"P{n}", x, max(S, today - timedelta(days=y)))
    elif op == "close":
        lg.close(today + timedelta(days=x - 1))
    elif op == "bill":
        lg.bill(f"N{n}", x, today + timedelta(days=y))
    elif op == "plan":
        lg.do("end_plan" if plan_open else "start_plan", "PL")
    elif op == "defer":
        lg.do("apply_deferral", f"D{n}", x)
    elif op == "waive" and lg.account.balances()["late_fee"] > 0:
        lg.do("apply_waiver", f"W{n}", min(x, lg.account.balances()["late_fee"]))


# -- through the services -------------------------------------------------------------


async def dpds(
    http: dict[str, httpx.AsyncClient], agent: dict[str, str], account: str
) -> tuple[Any, Any]:
    """DPD as the accounts API says it (read as an agent) and as audit's /state does."""
    acc = (await http["accounts"].get(f"/v1/accounts/{account}", headers=agent)).json()
    st_ = (
        await http["audit"].get(f"/v1/accounts/{account}/state", params={"purpose": "issue 13"})
    ).json()
    return acc.get("days_past_due"), st_.get("days_past_due")


async def test_the_audit_state_after_a_backdated_payment_clearing_the_oldest_bill_is_the_accounts(
    tmp_path: Path,
) -> None:
    stack = {s: settings_of(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(stack) as http:
        agent = auth(stack["accounts"], "agent")
        await ingest(
            http,
            opened("DPD1"),
            bill("DPD1", "B1", due="2026-03-10", principal=1000_00),
            bill("DPD1", "B2", due="2026-03-14", principal=1000_00),
            day_closed("2026-04-08", "DPD1"),
        )
        await eventually(lambda: dpds(http, agent, "DPD1"), lambda v: v == (29, 29))
        late = payment("DPD1", "P1", 1000_50, paid_at="2026-03-12T10:00:00+08:00")
        late["occurred_at"] = "2026-03-12T10:00:00+08:00"
        await ingest(http, late)

        async def buckets() -> list[str]:
            r = await http["audit"].get("/v1/accounts/DPD1/history", params={"purpose": "issue 13"})
            changes = [e for e in r.json()["entries"] if e["type"] == "DelinquencyBucketChanged"]
            return [e["data"]["to_bucket"] for e in changes]

        await eventually(lambda: dpds(http, agent, "DPD1"), lambda v: v[0] == 25)
        # Audit has chained every event the payment caused once its balances moved too.
        await eventually(lambda: dpds(http, agent, "DPD1"), lambda v: v == (25, 25), timeout=5)
        assert await buckets() == ["1-30"]  # the 29 → 25 came with no bucket change
