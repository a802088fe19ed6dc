"""An account's state as a snapshot (JSON) and back; the encoding has its own schema version.

Bump SCHEMA_VERSION whenever the encoding or the Account it encodes changes shape: every
older snapshot is then ignored and its account rebuilt from events (and snapshotted anew).
A timeline event is kept with its schema version; one the catalogue has since moved on
makes the snapshot unusable in the same way, so an upcaster is never bypassed.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from services.accounts.domain.bills import AllocationRecord, Bill
from services.accounts.domain.model import Account
from services.accounts.domain.policy import Policies
from shared.catalogue import Catalogue

SCHEMA_VERSION = 1

log = logging.getLogger(__name__)


def encode(account: Account) -> str:
    """The account's state (everything but its policies and version) as JSON text."""
    a = account
    state = {
        "customer_id": a.customer_id,
        "product": a.product,
        "currency": a.currency,
        "time_zone": a.time_zone,
        "bills": [_bill(b) for b in a.bills.values()],
        "payment_ids": sorted(a.payment_ids),
        "allocations": {
            k: {"kind": r.kind, "amount": r.amount, "by_bill": r.by_bill}
            for k, r in a.allocations.items()
        },
        "credit": a.credit,
        "last_closed": _day(a.last_closed),
        "bucket": a.bucket,
        "charged_off_on": _day(a.charged_off_on),
        "active_plans": sorted(a.active_plans),
        "pauses": [[_day(start), _day(end)] for start, end in a.pauses],
        "deferred_months": a.deferred_months,
        "reliefs": sorted(a.reliefs),
        "first_bill_id": a.first_bill_id,
        "first_default_reported": a.first_default_reported,
        "partial_streak": a.partial_streak,
        "timeline": [
            [e.event_type, e.schema_version, e.model_dump(mode="json")] for e in a.timeline
        ],
        "barrier": a.barrier,
    }
    return json.dumps(state, separators=(",", ":"))


def decode(
    text: str, account_id: str, version: int, policies: Policies, catalogue: Catalogue
) -> Account | None:
    """The account a snapshot holds, or None when it cannot be trusted (rebuild it)."""
    try:
        s = json.loads(text)
        timeline = []
        for event_type, schema_version, data in s["timeline"]:
            if schema_version != catalogue.latest_version(event_type):
                return None
            timeline.append(catalogue.model(event_type, schema_version).model_validate(data))
        bills = {}
        for b in s["bills"]:
            bill = Bill(
                b["bill_id"],
                date.fromisoformat(b["due_date"]),
                date.fromisoformat(b["issued_on"]),
                b["charged"],
                b["paid_by"],
                b["waived"],
                b["reinstalled"],
                b["overdue_reported"],
                b["due_soon_reported"],
            )
            bills[bill.bill_id] = bill
        return Account(
            account_id,
            customer_id=s["customer_id"],
            product=s["product"],
            currency=s["currency"],
            time_zone=s["time_zone"],
            bills=bills,
            payment_ids=set(s["payment_ids"]),
            allocations={
                k: AllocationRecord(r["kind"], r["amount"], r["by_bill"])
                for k, r in s["allocations"].items()
            },
            credit=s["credit"],
            last_closed=_parse_day(s["last_closed"]),
            bucket=s["bucket"],
            charged_off_on=_parse_day(s["charged_off_on"]),
            active_plans=set(s["active_plans"]),
            pauses=[(date.fromisoformat(a), _parse_day(b)) for a, b in s["pauses"]],
            deferred_months=s["deferred_months"],
            reliefs=set(s["reliefs"]),
            first_bill_id=s["first_bill_id"],
            first_default_reported=s["first_default_reported"],
            partial_streak=list(s["partial_streak"]),
            timeline=timeline,
            barrier=s["barrier"],
            policies=policies,
            version=version,
        )
    except (ValueError, KeyError, TypeError) as exc:
        # A damaged snapshot costs a replay, never a wrong account.
        log.warning("snapshot of account %s unreadable (%s); replaying", account_id, type(exc))
        return None


def _bill(b: Bill) -> dict[str, Any]:
    return {
        "bill_id": b.bill_id,
        "due_date": b.due_date.isoformat(),
        "issued_on": b.issued_on.isoformat(),
        "charged": b.charged,
        "paid_by": b.paid_by,
        "waived": b.waived,
        "reinstalled": b.reinstalled,
        "overdue_reported": b.overdue_reported,
        "due_soon_reported": b.due_soon_reported,
    }


def _day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _parse_day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
