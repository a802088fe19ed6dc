"""The SQL of contact's projections: consumed facts onto borrowers, standings and payments,
and contact's own events onto the open cases.

`services.contact.service_layer.projections` says what each read model is projected
from; the live path (the repositories) and `arrears rebuild contact` both write through
these functions, to the live tables or to a rebuild's copies.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, true, update

from services.contact.adapters.tables import borrowers, inbox, open_cases, payments, standings
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Projection, Target

CASE_EVENTS = (
    "CollectionCaseOpened",
    "CollectionCaseRouted",
    "CollectionCaseReclassified",
    "CollectionCaseAssigned",
    "CollectionCaseClosed",
    "PromiseToPayMade",
    "PromiseToPayKept",
    "PromiseToPayBroken",
    "CallbackAgreed",
    "ContactAttemptRecorded",
)
"""Contact's own events that change an open case's row."""

UNROUTED = "unrouted"
"""Queue, segment and bucket of a case between its opening and its first routing, which
follows in the same transaction: no committed row holds it."""


def start_of_day_after(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the end of `day` in `zone`: when a promise due that day has run out."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


async def apply_fact(t: Target, fact: Fact) -> bool:
    """Project one consumed fact; True when it changed the account's bucket."""
    d, account_id = fact.data, fact.account_id
    if fact.type == "AccountOpened":
        b = t[borrowers]
        found = await t.execute(select(b.c.account_id).where(b.c.account_id == account_id))
        if found.first() is None:
            await t.execute(insert(b).values(account_id=account_id, **d))
        return False
    if fact.type == "PaymentAllocated":
        p = t[payments]
        known = await t.execute(
            select(p.c.payment_id).where(
                p.c.account_id == account_id, p.c.payment_id == d["payment_id"]
            )
        )
        if known.first() is None:
            values = {"payment_id": d["payment_id"], "amount": d["amount"]}
            await t.execute(
                insert(p).values(account_id=account_id, business_date=fact.business_date, **values)
            )
        return False
    s = t[standings]
    current = (
        await t.execute(select(s.c.bucket).where(s.c.account_id == account_id))
    ).scalar_one_or_none()
    values = {**d, "business_date": fact.business_date}
    if current is None:
        await t.execute(insert(s).values(account_id=account_id, **values))
    else:
        await t.execute(update(s).where(s.c.account_id == account_id).values(**values))
    return bool(current != d["bucket"])


async def apply_case_event(t: Target, env: Envelope) -> None:
    """Project one of contact's own case or contact events onto `open_cases`."""
    o, d = t[open_cases], env.data
    this = o.c.account_id == env.account_id
    if env.type in ("CollectionCaseOpened", "CollectionCaseClosed"):
        await t.execute(delete(o).where(this))
        if env.type == "CollectionCaseOpened":
            unrouted = dict.fromkeys(("queue", "segment", "bucket"), UNROUTED)
            opened_on = date.fromisoformat(d["opened_on"])
            await t.execute(
                insert(o).values(
                    account_id=env.account_id, case_id=d["case_id"], opened_on=opened_on, **unrouted
                )
            )
        return
    of_case = o.c.case_id == d.get("case_id")
    values: dict[str, object]
    match env.type:
        case "CollectionCaseRouted":
            # A new queue is worked by its own people: the case is free again.
            fields = {"queue": d["queue"], "segment": d["segment"], "bucket": d["bucket"]}
            where, values = of_case, {**fields, "assigned_to": None, "claimed_at": None}
        case "CollectionCaseReclassified":
            where, values = of_case, {"segment": d["segment"], "bucket": d["bucket"]}
        case "CollectionCaseAssigned":
            where, values = of_case, {"assigned_to": d["agent"], "claimed_at": env.recorded_at}
        case "ContactAttemptRecorded" if d.get("agent"):
            # Only the assignee's own work keeps their claim fresh.
            where, values = o.c.assigned_to == d["agent"], {"claimed_at": env.recorded_at}
        case "PromiseToPayMade":
            b = t[borrowers]
            zone = (
                await t.execute(select(b.c.time_zone).where(b.c.account_id == env.account_id))
            ).scalar_one_or_none()
            if zone is None:
                return  # no promise is recorded for a borrower whose zone is unknown
            due_on = date.fromisoformat(d["due_on"])
            where, values = true(), {"next_action_at": start_of_day_after(due_on, ZoneInfo(zone))}
        case "PromiseToPayKept" | "PromiseToPayBroken":
            # One promise is open at a time (make_promise), so none is left to wait for.
            where, values = true(), {"next_action_at": None}
        case "CallbackAgreed":
            where, values = true(), {"next_action_at": datetime.fromisoformat(d["slot_start"])}
        case _:
            return
    await t.execute(update(o).where(this, where).values(**values))


PROJECTION = Projection(
    tables=(borrowers, standings, payments, open_cases),
    types=CASE_EVENTS,
    inbox=inbox,
    facts=apply_fact,
    apply=apply_case_event,
)
"""What `arrears rebuild contact` rebuilds: borrowers, standings and payments from the
inbox, then open cases from contact's own events."""
