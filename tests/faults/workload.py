"""A seeded integrator workload and, independently of the services' code, what it must end in.

Every account gets one bill. Some pay it before any close ("on_time"), some pay it in
full as of its due date but the payment is published only after later dates were closed
("backdated": the end state must equal an on-time payment), the rest never pay
("unpaid": DPD on the last business date B is B - due date - grace, and one late fee per
day past due). Days are closed with `*` (every account) over several business dates.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.support import envelope

ZONE = ZoneInfo("Asia/Shanghai")
SOURCE = "faults-integrator"
# The default consumer_credit policy (services/accounts/domain/policy.py), restated here so
# the expected outcome is not computed by the code under test.
GRACE_DAYS = 0
LATE_FEE_DAILY_RATE = Decimal("0.0005")
BUCKETS = ((0, 0, "current"), (1, 30, "1-30"), (31, 60, "31-60"), (61, 90, "61-90"))
KINDS = ("on_time", "backdated", "unpaid")


@dataclass(frozen=True)
class AccountPlan:
    """One account of the workload and how its bill gets paid."""

    account_id: str
    kind: str
    principal: int
    due_date: date


@dataclass(frozen=True)
class Expected:
    """An account's state after the last close, by the workload's own arithmetic."""

    days_past_due: int
    bucket: str
    late_fee: int
    outstanding: int


@dataclass(frozen=True)
class Step:
    """Records to publish together."""

    name: str
    envelopes: list[dict[str, Any]]


@dataclass
class Workload:
    """The seeded workload: accounts, business dates, and the records it publishes."""

    seed: int
    accounts: list[AccountPlan]
    business_dates: list[date]
    poison: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def generate(
        cls, seed: int, n_accounts: int, n_days: int, today: date | None = None
    ) -> Workload:
        """Accounts with due dates within the closed dates, the last one yesterday (China)."""
        rng = random.Random(seed)
        today = today or datetime.now(ZONE).date()
        dates = [today - timedelta(days=n_days - i) for i in range(n_days)]
        run = uuid.UUID(int=rng.getrandbits(128)).hex[:6]
        accounts = [
            AccountPlan(
                account_id=f"F{run}-{i:04d}",
                kind=KINDS[i % len(KINDS)],
                # Multiples of 2,000 fen: a day's fee (0.05 %) is a whole fen, never rounded.
                principal=2_000 * rng.randint(5, 50),
                due_date=rng.choice(dates[: max(1, n_days - 2)]),
            )
            for i in range(n_accounts)
        ]
        poison = [(f"POISON-{run}-1", b"{not json"), (f"POISON-{run}-2", _unknown_type(run))]
        return cls(seed, accounts, dates, poison)

    @property
    def opened_on(self) -> date:
        """The day every account opens and is billed: before the first business date."""
        return self.business_dates[0] - timedelta(days=3)

    def steps(self) -> list[Step]:
        """The records in publishing order: openings, then each date's close with the
        backdated payments that land after it."""
        rng = random.Random(self.seed + 1)
        first = [e for a in self.accounts for e in self._opening(a)]
        steps = [Step("openings", first)]
        late: dict[int, list[dict[str, Any]]] = {}
        for a in self.accounts:
            if a.kind == "backdated":
                after_due = [i for i, d in enumerate(self.business_dates) if d > a.due_date]
                late.setdefault(rng.choice(after_due), []).append(self._payment(a))
        for i, day in enumerate(self.business_dates):
            # No wait for the openings: an account opened after a close of a later date
            # catches up the closes it missed (issue 13, defect b).
            steps.append(Step(f"close {day}", [_day_closed(day)]))
            if i in late:
                steps.append(Step(f"backdated after {day}", late[i]))
        return steps

    def _opening(self, a: AccountPlan) -> list[dict[str, Any]]:
        at = datetime.combine(self.opened_on, datetime.min.time(), ZONE) + timedelta(hours=9)
        opened = _envelope(
            "AccountOpened",
            a.account_id,
            {
                "customer_id": f"cust-{a.account_id}",
                "product": "consumer_credit",
                "currency": "CNY",
                "time_zone": "Asia/Shanghai",
            },
            at,
            version=2,
        )
        billed = _envelope(
            "BillIssued",
            a.account_id,
            {
                "bill_id": f"{a.account_id}-B1",
                "currency": "CNY",
                "principal": a.principal,
                "interest": 0,
                "fees": 0,
                "issued_on": self.opened_on.isoformat(),
                "due_date": a.due_date.isoformat(),
            },
            at + timedelta(minutes=1),
        )
        paid = [self._payment(a)] if a.kind == "on_time" else []
        return [opened, billed, *paid]

    def _payment(self, a: AccountPlan) -> dict[str, Any]:
        # On the due date itself: the borrower has the whole day, so no fee ever applies.
        at = datetime.combine(a.due_date, datetime.min.time(), ZONE) + timedelta(hours=10)
        data = {
            "payment_id": f"{a.account_id}-P1",
            "currency": "CNY",
            "amount": a.principal,
            "paid_at": at.isoformat(),
        }
        return _envelope("PaymentReceived", a.account_id, data, at)

    def _relief_accounts(self) -> tuple[list[AccountPlan], list[AccountPlan]]:
        # Unpaid accounts only: they are delinquent by the end, so they can have a plan
        # and a collection case. One in ten each, at least two, a third of them at most
        # (the rest stay checked against `expected`).
        unpaid = [a for a in self.accounts if a.kind == "unpaid"]
        n = min(max(2, len(unpaid) // 10), len(unpaid) // 3)
        chosen = random.Random(self.seed + 3).sample(unpaid, 2 * n)
        return chosen[:n], chosen[n:]

    def plan_accounts(self) -> list[AccountPlan]:
        """Accounts whose borrower requests and accepts a relief plan through the plans API
        (their end state then follows the plan, not `expected`)."""
        return self._relief_accounts()[0]

    def contact_accounts(self) -> list[AccountPlan]:
        """Accounts an agent calls, recording each call and a promise to pay (a promise
        changes no balance: their end state is still `expected`)."""
        return self._relief_accounts()[1]

    def expected(self, a: AccountPlan) -> Expected:
        """What the accounts API must say about `a` after the last close."""
        if a.kind != "unpaid":
            return Expected(0, "current", 0, 0)
        dpd = max(0, (self.business_dates[-1] - a.due_date).days - GRACE_DAYS)
        fee = max(1, int((a.principal * LATE_FEE_DAILY_RATE).quantize(Decimal(1), ROUND_HALF_UP)))
        return Expected(dpd, bucket_for(dpd), fee * dpd, a.principal + fee * dpd)


def bucket_for(dpd: int) -> str:
    """The default policy's bucket name for a DPD."""
    for low, high, name in BUCKETS:
        if low <= dpd <= high:
            return name
    raise ValueError(f"DPD {dpd} is beyond the workload's buckets")


def _envelope(
    type_: str, account_id: str, data: dict[str, Any], at: datetime, version: int = 1
) -> dict[str, Any]:
    # Random ids (not seeded): a rerun of a seed on the same broker never collides.
    return envelope(
        type_, account_id, data, version=version, occurred_at=at.isoformat(), source=SOURCE
    )


def _day_closed(day: date) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=23, minutes=59)
    return _envelope("BusinessDayClosed", "*", {"business_date": day.isoformat()}, at)


def _unknown_type(run: str) -> bytes:
    env = _envelope(
        "NoSuchEventType", f"POISON-{run}-2", {}, datetime.now(UTC) - timedelta(minutes=1)
    )
    return json.dumps(env).encode()
