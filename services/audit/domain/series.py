"""An account's balance owed, days past due and late fees after each event of its trail,
with its plan periods and contact attempts: what the console charts. Pure: no I/O.

The points come from the same fold as the state (`state._Fold`), read after each entry, so
the chart can never disagree with the state shown beside it. Entries are folded in seq
order (the order the system learned things); each point is placed at the latest occurred
time seen so far, so the x axis never runs backwards: a backdated payment shows where the
system learned of it, and its occurred time is on its point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.audit.domain.state import PLAN_END, PLAN_START, _Fold, _when

CHANGES = frozenset(
    {
        "AccountDayClosed",
        "BillIssued",
        "PaymentAllocated",
        "PaymentReallocated",
        "CreditApplied",
        "LateFeeAccrued",
        "LateFeeReversed",
        "FeesWaived",
        "BalanceReinstalled",
        "DelinquencyBucketChanged",
        "AccountCured",
    }
)
"""The events that may move balance, late fees or DPD: one point after each."""


def series(entries: Iterable[Mapping[str, Any]], as_of: datetime) -> dict[str, Any]:
    """Points (seq, at, occurred_at, outstanding, late_fee, days_past_due), plan periods
    and contact attempts (allowed or blocked) of the entries, in seq order."""
    fold = _Fold(as_of)
    points: list[dict[str, Any]] = []
    plans: dict[str, dict[str, Any]] = {}
    contacts: list[dict[str, Any]] = []
    latest: datetime | None = None
    for entry in entries:
        fold.step(entry)
        type_, d = str(entry["type"]), entry.get("data") or {}
        occurred = datetime.fromisoformat(str(entry["occurred_at"]))
        latest = occurred if latest is None or occurred > latest else latest
        if type_ in CHANGES:
            balances = fold.balances.values
            points.append(
                {
                    "seq": entry["seq"],
                    "type": type_,
                    "at": latest.isoformat(),
                    "occurred_at": entry["occurred_at"],
                    "outstanding": sum(balances.values()),
                    "late_fee": balances["late_fee"],
                    "days_past_due": fold.days_past_due(),
                }
            )
        elif type_ in PLAN_START and "plan_id" in d:
            plans.setdefault(
                str(d["plan_id"]),
                {
                    "plan_id": str(d["plan_id"]),
                    "plan_type": d.get("plan_type"),
                    "from": entry["occurred_at"],
                    "to": None,
                    "how": None,
                    "seq": entry["seq"],
                },
            )
        elif type_ in PLAN_END and str(d.get("plan_id")) in plans:
            plans[str(d["plan_id"])] |= {"to": entry["occurred_at"], "how": PLAN_END[type_]}
        elif type_ == "ContactAttemptRecorded" or (
            type_ == "ContactAttemptChecked" and d.get("decision") == "blocked"
        ):
            allowed = type_ == "ContactAttemptRecorded"
            at = _when(d.get("at") if allowed else d.get("planned_at"), str(entry["occurred_at"]))
            contacts.append(
                {
                    "seq": entry["seq"],
                    "at": at.isoformat(),
                    "decision": "allowed" if allowed else "blocked",
                    "channel": d.get("channel"),
                    "rule_ids": [] if allowed else list(d.get("rule_ids") or []),
                }
            )
    return {"points": points, "plans": list(plans.values()), "contacts": contacts}
