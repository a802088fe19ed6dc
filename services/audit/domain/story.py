"""The trail read as a story: one plain English sentence per meaningful event. Pure: no I/O.

A compliance reader asks "what was the borrower told, when, by whom, and what did the
system know then?". Each line keeps its event's seq, id and hash, so every sentence can
be checked against the hashed event it was written from.

The sentences are written from the stored envelopes (`data` as produced, never upcast),
read by type name: an event type this module does not know, or a known one whose data
does not read as expected (an older or newer schema), still gets a line, a generic one,
so nothing on the trail is left out of the story silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

Entry = Mapping[str, Any]
"""One trail entry as the audit store serves it: seq, event_id, type, schema_version,
source, occurred_at, recorded_at, data, hash."""

SKIPPED = frozenset({"AccountDayClosed", "BusinessDayClosed", "TrailChained"})
"""Bookkeeping with no story of its own: a line per closed day would drown the rest
(the state view reads them); the order audit chained in is on no account's trail."""


@dataclass(frozen=True)
class StoryLine:
    """One sentence of the story, linked to the event it was written from."""

    seq: int
    event_id: str
    hash: str
    occurred_at: str
    recorded_at: str | None
    type: str
    kind: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The line as JSON-ready values (flat, so no deep copy as `asdict` makes)."""
        return dict(self.__dict__)


SYMBOLS = {"CNY": "¥", "USD": "$"}
"""Currency signs a printed page uses in place of the ISO code."""


def money(fen: int, currency: str | None = None, *, symbol: bool = False) -> str:
    """`fen` as yuan with 2 decimals and thousands separators: "CNY 1,234.56", or with
    `symbol` "¥1,234.56" (the code stays for a currency without a sign). No floats.

    Every amount the audit service writes for people is formatted here, once.
    """
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"an amount in fen must be an integer, not {fen!r}")
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    amount = f"{yuan:,}.{cents:02d}"
    if symbol and currency in SYMBOLS:
        return f"{sign}{SYMBOLS[currency]}{amount}"
    return f"{currency} {sign}{amount}" if currency else f"{sign}{amount}"


def percent(rate: Any) -> str:
    """A rate as stored (a decimal string such as "0.0005") as a percentage: "0.05%"."""
    try:
        value = Decimal(str(rate)) * 100
    except InvalidOperation:
        raise ValueError(f"not a rate: {rate!r}") from None
    text = f"{value.normalize():f}"
    return f"{text}%"


@dataclass
class _Context:
    """What earlier events tell later sentences: the account's currency, each plan's offer."""

    currency: str | None = None
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def cur(self, data: Mapping[str, Any]) -> str | None:
        value = data.get("currency")
        return value if isinstance(value, str) else self.currency


Narrator = Callable[[Mapping[str, Any], _Context], tuple[str, str] | None]


def tell(
    entries: Iterable[Entry], narrators: Mapping[str, Narrator] | None = None
) -> list[StoryLine]:
    """The story of `entries` (in seq order): one line per meaningful event, written by
    `narrators` (type name → sentence writer; the English NARRATORS by default)."""
    ctx = _Context()
    by_type = NARRATORS if narrators is None else narrators
    lines: list[StoryLine] = []
    for entry in entries:
        type_ = str(entry["type"])
        data = entry.get("data") or {}
        told = _narrate(type_, data, entry, ctx, by_type)
        if told is None:
            continue
        kind, text = told
        lines.append(
            StoryLine(
                seq=int(entry["seq"]),
                event_id=str(entry["event_id"]),
                hash=str(entry["hash"]),
                occurred_at=str(entry["occurred_at"]),
                recorded_at=entry.get("recorded_at"),
                type=type_,
                kind=kind,
                text=text,
            )
        )
    return lines


def _narrate(
    type_: str,
    data: Mapping[str, Any],
    entry: Entry,
    ctx: _Context,
    narrators: Mapping[str, Narrator],
) -> tuple[str, str] | None:
    if type_ in SKIPPED:
        return None
    narrator = narrators.get(type_)
    if narrator is not None:
        try:
            return narrator(data, ctx)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass  # data of another schema than expected: the generic line still tells it
    return "other", _generic(type_, data, entry)


def _generic(type_: str, data: Mapping[str, Any], entry: Entry) -> str:
    # Scalar fields only, as written: which integers are amounts is unknown here.
    details = [f"{k} {v}" for k, v in sorted(data.items()) if isinstance(v, str | int)][:8]
    version = entry.get("schema_version")
    head = f"{type_}{f' (v{version})' if version else ''} recorded by {entry.get('source', '?')}"
    return f"{head}{': ' + ', '.join(details) if details else ''}."


# -- helpers ------------------------------------------------------------------------


def _opt(data: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` present and not null in `data` (tolerates renamed fields)."""
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _components(item: Mapping[str, Any], currency: str | None) -> str:
    parts = [
        f"{name.replace('_', ' ')} {money(item[name], currency)}"
        for name in ("late_fee", "fees", "interest", "principal")
        if item.get(name)
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _allocations(allocations: list[Mapping[str, Any]], currency: str | None) -> str:
    if not allocations:
        return "nothing"
    return "; ".join(
        f"bill {a['bill_id']} {money(a['amount'], currency)}{_components(a, currency)}"
        for a in allocations
    )


def _evidence(evidence: list[Mapping[str, Any]]) -> str:
    return ", ".join(f"{e['kind']} document sha256 {e['sha256']}" for e in evidence)


def terms_summary(terms: Mapping[str, Any]) -> str:
    """A plan's terms in a few words: what it covers, its schedule and what it costs."""
    cur = terms.get("currency")
    parts = [f"covers {money(terms['amount'], cur)}"]
    if terms.get("deferral_months"):
        parts.append(f"due dates deferred {_plural(terms['deferral_months'], 'month')}")
    installments = terms.get("installments") or []
    if installments:
        first = installments[0]
        parts.append(
            f"{_plural(len(installments), 'installment')} from {first['due_date']}, "
            f"the first {money(first['amount'], cur)}"
        )
    elif terms.get("months") and terms.get("plan_type") != "deferral":
        parts.append(_plural(terms["months"], "month"))
    rate = terms.get("monthly_rate")
    if rate not in (None, 0, "0") and Decimal(str(rate)) != 0:
        parts.append(f"monthly rate {percent(rate)}")
    if terms.get("waiver_amount"):
        what = " and ".join(c.replace("_", " ") for c in terms.get("waiver_components") or [])
        parts.append(f"{money(terms['waiver_amount'], cur)} {what or 'fees'} waived")
    if terms.get("fees"):
        parts.append(f"plan fees {money(terms['fees'], cur)}")
    if terms.get("total_repayable"):
        parts.append(f"total repayable {money(terms['total_repayable'], cur)}")
    return ", ".join(parts)


# -- inbound --------------------------------------------------------------------------


def _account_opened(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ctx.currency = d.get("currency") or ctx.currency
    zone = f", time zone {d['time_zone']}" if d.get("time_zone") else ""
    product = str(d["product"]).replace("_", " ")
    return "account", (
        f"Account opened for customer {d['customer_id']} ({product}, {d['currency']}{zone})."
    )


def _bill_issued(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ctx.currency = ctx.currency or d.get("currency")
    cur = ctx.cur(d)
    principal, interest, fees = d["principal"], d.get("interest", 0), d.get("fees", 0)
    return "bill", (
        f"Bill {d['bill_id']} issued on {d['issued_on']} for "
        f"{money(principal + interest + fees, cur)} (principal {money(principal, cur)}, "
        f"interest {money(interest, cur)}, fees {money(fees, cur)}), due {d['due_date']}."
    )


def _payment_received(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    bill = f" for bill {d['bill_id']}" if d.get("bill_id") else ""
    return "payment", (
        f"Payment {d['payment_id']} of {money(d['amount'], ctx.cur(d))} received{bill}, "
        f"paid at {d['paid_at']}."
    )


# -- accounts -------------------------------------------------------------------------


def _payment_allocated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    credit = f"; {money(d['unallocated'], cur)} kept as credit" if d.get("unallocated") else ""
    backdated = (
        f"; backdated to {d['business_date']}, so corrections follow" if d.get("backdated") else ""
    )
    return "allocation", (
        f"Payment {d['payment_id']} of {money(d['amount'], cur)} allocated: "
        f"{_allocations(d['allocations'], cur)}{credit}{backdated}."
    )


def _payment_reallocated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    credit = f"; {money(d['unallocated'], cur)} left as credit" if d.get("unallocated") else ""
    return "allocation", (
        f"The allocation of {d['kind']} {d['source_id']} was corrected as of {d['as_of']} "
        f"({d['reason']}): {_allocations(d['allocations'], cur)}{credit}."
    )


def _credit_applied(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    return "allocation", (
        f"Credit of {money(d['amount'], cur)} applied to bill {d['bill_id']}; "
        f"{money(d['remaining_credit'], cur)} of credit remains."
    )


def _bill_overdue(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "overdue", (
        f"Bill {d['bill_id']} due {d['due_date']} became overdue at the close of "
        f"{d['business_date']} with {money(d['overdue_amount'], ctx.cur(d))} unpaid, "
        f"{_plural(d['days_past_due'], 'day')} past due."
    )


def _late_fee(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    if d.get("correction"):
        return "fee", (
            f"A late fee correction of {money(d['amount'], cur)} was added to bill "
            f"{d['bill_id']} at the close of {d['business_date']}, as of {d['as_of']} "
            f"(a backdated payment showed it was due)."
        )
    return "fee", (
        f"Late fee of {money(d['amount'], cur)} accrued on bill {d['bill_id']} for "
        f"{d['business_date']} ({percent(d['daily_rate'])} a day on "
        f"{money(d['base'], cur)} unpaid)."
    )


def _late_fee_reversed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "fee", (
        f"Late fee of {money(d['amount'], ctx.cur(d))} on bill {d['bill_id']} reversed "
        f"at the close of {d['business_date']}, as of {d['as_of']}: {d['reason']}."
    )


def _bucket_changed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    correction = f", a correction as of {d['as_of']}" if d.get("correction") else ""
    reason = f" ({d['reason']})" if d.get("reason") else ""
    return "bucket", (
        f"Delinquency bucket changed from {d['from_bucket']} to {d['to_bucket']} on "
        f"{d['business_date']} at {_plural(d['days_past_due'], 'day')} past due"
        f"{correction}{reason}."
    )


def _charged_off(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "overdue", (
        f"Account charged off on {d['business_date']} at "
        f"{_plural(d['days_past_due'], 'day')} past due with "
        f"{money(d['outstanding'], ctx.cur(d))} outstanding."
    )


def _cured(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    by = f" by payment {d['payment_id']}" if d.get("payment_id") else ""
    correction = ", a correction" if d.get("correction") else ""
    return "bucket", (
        f"Account cured on {d['business_date']}{by} (it was in bucket {d['from_bucket']})"
        f"{correction}."
    )


def _due_soon(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "warning", (
        f"Reminder due: bill {d['bill_id']} has {money(d['amount_due'], ctx.cur(d))} due on "
        f"{d['due_date']}, {_plural(d['days_until_due'], 'day')} after the close of "
        f"{d['business_date']}."
    )


def _first_payment_default(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "warning", (
        f"Early warning: the first bill, {d['bill_id']} due {d['due_date']}, went overdue on "
        f"{d['business_date']} with nothing paid ({money(d['amount_due'], ctx.cur(d))} due)."
    )


def _partial_payments(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    ids = ", ".join(d["payment_ids"])
    return "warning", (
        f"Early warning: {_plural(len(d['payment_ids']), 'partial payment')} in a row ({ids}) "
        f"left {money(d['overdue_outstanding'], ctx.cur(d))} overdue."
    )


def _deferred(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    moves = "; ".join(f"bill {m['bill_id']} {m['from_date']} to {m['to_date']}" for m in d["moves"])
    return "relief", (
        f"Due dates deferred by {_plural(d['months'], 'month')} under plan {d['plan_id']}: "
        f"{moves or 'no unpaid bills'} ({_plural(d['months_used'], 'deferral month')} used "
        f"in all)."
    )


def _reinstalled(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    return "relief", (
        f"Overdue balance of {money(d['amount'], cur)} re-installed under plan {d['plan_id']} "
        f"into {_plural(len(d['installments']), 'new bill')} from {d['first_due_date']} "
        f"(monthly rate {percent(d.get('monthly_rate', 0))})."
    )


def _waived(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    cur = ctx.cur(d)
    what = " and ".join(str(c).replace("_", " ") for c in d["components"])
    reason = f" ({d['reason']})" if d.get("reason") else ""
    offer = ctx.offers.get(str(d["plan_id"]), {})
    evidence = offer.get("evidence") or []
    proof = (
        f"; evidence: {_evidence(evidence)}"
        if evidence
        else "; no evidence document was attached to the plan's offer"
    )
    return "waiver", (
        f"Fees of {money(d['amount'], cur)} ({what}) waived under plan {d['plan_id']}"
        f"{reason}: {_allocations(d['waived'], cur)}{proof}."
    )


def _paused(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    start = f" from {d['business_date']}" if d.get("business_date") else ""
    return "relief", f"Delinquency paused{start} while plan {d['plan_id']} is active."


def _resumed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    start = f" from {d['business_date']}" if d.get("business_date") else ""
    return "relief", f"Delinquency counts again{start}: plan {d['plan_id']} was {d['reason']}."


# -- plans ----------------------------------------------------------------------------


def _plan_requested(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"The {d['role']} {d['requested_by']} asked for a {d['plan_type']} plan "
        f"({d['plan_id']}) by {d['channel']} on {d['requested_on']}."
    )


def _plan_offered(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    terms = d["terms"]
    ctx.offers[str(d["plan_id"])] = dict(d)
    approval = (
        f"; it needs a supervisor's approval ({'; '.join(d['approval_required'])})"
        if d.get("approval_required")
        else ""
    )
    evidence = f"; evidence: {_evidence(d['evidence'])}" if d.get("evidence") else ""
    return "offer", (
        f"The {d['role']} {d['proposed_by']} offered a {terms['plan_type']} plan "
        f"({d['plan_id']}) on {d['offered_on']}, open until {d['expires_on']}: "
        f"{terms_summary(terms)}; grace {_plural(d['grace_days'], 'day')}, cooling-off "
        f"{_plural(d['cooling_off_days'], 'day')}; disclosure sha256 {d['disclosure_sha256']}"
        f"{approval}{evidence}."
    )


def _approval_requested(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", (
        f"Plan {d['plan_id']} proposed by {d['proposed_by']} waits for a supervisor's "
        f"approval: {'; '.join(d['reasons'])}."
    )


def _approved(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", f"Plan {d['plan_id']} approved by {d['approved_by']} on {d['approved_on']}."


def _rejected(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "approval", (
        f"Plan {d['plan_id']} rejected by {d['rejected_by']} on {d['rejected_on']}: {d['reason']}."
    )


def offered_disclosure(d: Mapping[str, Any], ctx: _Context) -> str | None:
    """The sha256 of the disclosure the plan was offered with; None without an offer."""
    offered = ctx.offers.get(str(d["plan_id"]), {}).get("disclosure_sha256")
    return offered if isinstance(offered, str) else None


def _accepted(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    shown = d["disclosure_sha256"]
    offered = offered_disclosure(d, ctx)
    # The point of hashing the disclosure: the reader sees at once whether the borrower
    # accepted exactly what was offered.
    if offered is None:
        check = "no offer of this plan is on the trail to compare it with"
    elif offered == shown:
        check = "the same disclosure as offered"
    else:
        check = f"NOT the disclosure offered, which had sha256 {offered}"
    return "acceptance", (
        f"The {d['role']} {d['accepted_by']} accepted plan {d['plan_id']} by {d['channel']} "
        f"on {d['accepted_on']} after being shown the disclosure with sha256 {shown} "
        f"({check})."
    )


def _declined(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f": {d['reason']}" if d.get("reason") else ""
    return "acceptance", (
        f"Plan {d['plan_id']} declined by {d['declined_by']} by {d['channel']} on "
        f"{d['declined_on']}{reason}."
    )


def _expired(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    if str(d["plan_id"]) not in ctx.offers:
        return "offer", (
            f"The request for plan {d['plan_id']} lapsed unanswered on {d['expired_on']}."
        )
    return "offer", f"The offer of plan {d['plan_id']} expired unaccepted on {d['expired_on']}."


def _agreed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"A {d['plan_type']} plan ({d['plan_id']}) was agreed by {d['channel']}, covering "
        f"{money(d['amount'], ctx.cur(d))} over {_plural(d['months'], 'month')}."
    )


def _activated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    first = f"; first due {d['first_due_date']}" if d.get("first_due_date") else ""
    return "plan", (
        f"The {d['plan_type']} plan {d['plan_id']} took effect on {d['activated_on']}: "
        f"{terms_summary(d)}{first}."
    )


def _plan_payment(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    payment = f" (payment {d['payment_id']})" if d.get("payment_id") else ""
    return "plan", (
        f"{money(d['amount'], ctx.cur(d))} paid on {d['paid_on']}{payment} counted toward "
        f"plan {d['plan_id']}."
    )


def _installment_met(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    late = ", late" if d.get("late") else ""
    return "plan", (
        f"Installment {d['number']} of plan {d['plan_id']} ({money(d['amount'], ctx.cur(d))} "
        f"due {d['due_date']}) was met on {d['met_on']}{late}."
    )


def _installment_missed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"Installment {d['number']} of plan {d['plan_id']} due {d['due_date']} was missed with "
        f"{money(d['unpaid'], ctx.cur(d))} unpaid; the grace runs until {d['grace_until']}."
    )


def _completed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", f"Plan {d['plan_id']} completed: every installment was met."


def _broken(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", f"Plan {d['plan_id']} broken: {d['reason']}."


def _cancelled(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", (
        f"Plan {d['plan_id']} cancelled by {d['cancelled_by']} on {d['cancelled_on']}: "
        f"{d['reason']}."
    )


def _terms_refused(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "plan", f"Accounts refused the terms of plan {d['plan_id']}: {d['reason']}."


def _evidence_received(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    e = d["evidence"]
    return "evidence", (
        f"Hardship evidence received from {d['received_by']} ({d['role']}): "
        f"{e['kind']}, {e['media_type']}, {e['size']} bytes, sha256 {e['sha256']}."
    )


# -- contact --------------------------------------------------------------------------

_CHANNEL = {
    "call": "Call",
    "sms": "SMS",
    "email": "E-mail",
    "app_push": "App push",
    "letter": "Letter",
}
_OUTCOME = {
    "reached": "the borrower was reached",
    "no_answer": "no answer",
    "wrong_number": "wrong number",
    "refused": "the borrower refused to talk",
    "promise_to_pay": "the borrower promised to pay",
    "dispute": "the borrower disputed the debt",
    "callback_requested": "the borrower asked to be called back",
    "sent": "the automated message was sent",
}
_PARTY = {"debtor": "the debtor", "third_party": "a listed third party"}


def _case_opened(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "case", (
        f"Collection case {d['case_id']} opened on {d['opened_on']} for bill {d['bill_id']}: "
        f"{d['reason']}."
    )


def _case_closed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    why = {
        "cured": "the account was cured",
        "charged_off": "the account was charged off",
        "plan": "a relief plan settled it",
    }.get(str(d["reason"]), str(d["reason"]))
    on = f" on {d['closed_on']}" if d.get("closed_on") else ""
    return "case", f"Collection case {d['case_id']} closed{on}: {why}."


def _case_routed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    moved = f"from {d['from_queue']} " if d.get("from_queue") else ""
    return "case", (
        f"Case {d['case_id']} routed {moved}to the {d['queue']} queue "
        f"(bucket {d['bucket']}, segment {d['segment']}): {d['reason']}."
    )


def _case_reclassified(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "case", (
        f"Case {d['case_id']} stays in the {d['queue']} queue, now bucket {d['bucket']}, "
        f"segment {d['segment']}: {d['reason']}."
    )


def _case_assigned(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    taken = f", taken over from {d['previous_agent']}" if d.get("previous_agent") else ""
    return "case", f"Case {d['case_id']} assigned to agent {d['agent']}{taken}."


def _point_reported(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    vouched = ", vouched for by the platform" if d.get("verified") else ""
    return "contact", f"The platform reported a {d['kind']} {d['value']}{vouched}."


def _point_added(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    via = f" (skip trace {d['request_id']})" if d.get("request_id") else ""
    return "contact", (
        f"Contact point {d['point_id']} added: {d['kind']} {d['value']}, from "
        f"{str(d['source']).replace('_', ' ')}{via}, unverified."
    )


def _point_verified(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact", f"Contact point {d['point_id']} verified by {d['method']}."


def _point_verification_failed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact", (
        f"Contact point {d['point_id']} was not confirmed by {d['method']}; it stays unverified."
    )


def _point_invalidated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f": {d['reason']}" if d.get("reason") else ""
    return "contact", f"Contact point {d['point_id']} marked invalid{reason}."


def _skip_trace_done(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact", (
        f"Skip trace {d['request_id']} by {d['provider']} returned "
        f"{_plural(d['found'], 'new contact point')}."
    )


def _details_shown(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "access", (
        f"The {d['role']} {d['viewer']} was shown the borrower's contact details "
        f"({', '.join(d['point_ids'])})."
    )


def _erased(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "access", (
        f"The {d['role']} {d['erased_by']} erased the account's personal data "
        f"({d['values_erased']} values, through seq {d['through_seq']}), "
        f"{d['retention_days']} days of retention after its last event at "
        f"{d['last_activity_at']}: {d['reason']}."
    )


def _preferences(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    channels = ", ".join(d.get("preferred_channels") or []) or "no preference"
    hours = "; ".join(
        f"{w['start'][:5]} to {w['end'][:5]}" for w in d.get("inconvenient_hours") or []
    )
    return "contact", (
        f"The borrower set contact preferences: channels {channels}; inconvenient hours "
        f"{hours or 'none'}."
    )


def _contact_lost(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact", (
        f"Contact lost: {d['failed_attempts']} failed attempts within {d['window_days']} "
        f"days on every known channel; skip trace {d['request_id']} requested."
    )


def _hardship_reported(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "case", (
        f"Hardship reported ({d['kind']} evidence, sha256 {d['evidence_sha256']}): "
        "the case goes to the specialists."
    )


def _case_escalated(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    case = _opt(d, "case_id")
    was = _opt(d, "from_tier")
    level = _opt(d, "to_tier", "tier", "to_level", "level")
    reason = _opt(d, "reason")
    return "case", (
        f"Collection case{f' {case}' if case else ''} escalated"
        f"{f' from {was}' if was is not None else ''}"
        f"{f' to {level}' if level is not None else ''}{f': {reason}' if reason else ''}."
    )


def _attempt_checked(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    what = (
        f"A planned {_CHANNEL[d['channel']].lower()} to {_PARTY[d['party']]} at "
        f"{d['planned_at']} ({str(d['purpose']).replace('_', ' ')}, debt {d['debt_id']})"
    )
    if d["decision"] == "blocked":
        return "contact-blocked", (
            f"{what} was blocked under the {d['jurisdiction']} rules "
            f"{', '.join(d['rule_ids'])}: {str(d['explanation']).rstrip('.')}."
        )
    exception = f", using agreed exception {d['exception_id']}" if d.get("exception_id") else ""
    return "contact-check", (
        f"{what} was checked under the {d['jurisdiction']} rules and allowed{exception}."
    )


def _attempt_recorded(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    agent = f" (agent {d['agent']})" if d.get("agent") else ""
    duration = f", {d['duration_seconds']} seconds" if d.get("duration_seconds") else ""
    exception = f", under agreed exception {d['exception_id']}" if d.get("exception_id") else ""
    outcome = _OUTCOME.get(str(d["outcome"]), str(d["outcome"]).replace("_", " "))
    return "contact", (
        f"{_CHANNEL[d['channel']]} to {_PARTY[d.get('party', 'debtor')]} at {d['at']} by "
        f"{d['agency']}{agent} about debt {d['debt_id']}: {outcome}{duration}{exception}."
    )


def _opted_out(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact-preference", (
        f"The borrower opted out of {_CHANNEL[d['channel']].lower()} contact."
    )


def _cease(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f" ({d['reason']})" if d.get("reason") else ""
    return "contact-preference", (
        f"The borrower asked in writing that collection contact stop{reason}."
    )


def _disputed(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    reason = f" ({d['reason']})" if d.get("reason") else ""
    return "dispute", (
        f"The borrower disputed debt {d['debt_id']}{reason}; collecting it pauses until "
        f"staff answer the dispute."
    )


def _dispute_resolved(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    finding = "verified as billed" if d["finding"] == "verified" else "corrected"
    answer = f" ({d['answer']})" if d.get("answer") else ""
    return "dispute", (
        f"Staff answered the dispute of debt {d['debt_id']}: {finding}{answer}; "
        f"collecting it may resume."
    )


def _callback(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    return "contact-preference", (
        f"The borrower asked for a {_CHANNEL[d.get('channel', 'call')].lower()} back at "
        f"{d['slot_start']} (agreed exception {d['exception_id']})."
    )


# Promises to pay and case escalation: their event contracts are being written while
# this is, so fields are read by name (PromiseToPayMade: promise_id, case_id, amount,
# currency, made_on, due_on, made_by, attempt_id; Kept/Broken: paid, business_date) and
# any missing one is simply left out of the sentence.


def _promise_subject(d: Mapping[str, Any], ctx: _Context) -> str:
    promise = _opt(d, "promise_id")
    amount = _opt(d, "amount", "promised_amount")
    by = _opt(d, "due_on", "due_date", "promised_date", "pay_by")
    return (
        f"promise{f' {promise}' if promise else ''} to pay"
        f"{f' {money(amount, ctx.cur(d))}' if amount is not None else ''}"
        f"{f' by {by}' if by else ''}"
    )


def _promise_made(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    on = _opt(d, "made_on")
    who = _opt(d, "made_by", "agent", "recorded_by")
    case = _opt(d, "case_id")
    attempt = _opt(d, "attempt_id")
    details = ", ".join(
        x
        for x in (
            f"recorded by {who}" if who else "",
            f"case {case}" if case else "",
            f"during contact attempt {attempt}" if attempt else "",
        )
        if x
    )
    return "promise", (
        f"The borrower made a {_promise_subject(d, ctx)}{f' on {on}' if on else ''}"
        f"{f' ({details})' if details else ''}."
    )


def _promise_kept(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    on = _opt(d, "business_date", "kept_on")
    paid = _opt(d, "paid")
    tail = "".join(
        (
            f" on {on}" if on else "",
            f" with {money(paid, ctx.cur(d))} paid" if paid is not None else "",
        )
    )
    return "promise", f"The {_promise_subject(d, ctx)} was kept{tail}."


def _promise_broken(d: Mapping[str, Any], ctx: _Context) -> tuple[str, str]:
    on = _opt(d, "business_date", "broken_on")
    paid = _opt(d, "paid")
    reason = _opt(d, "reason")
    tail = "".join(
        (
            f" at the close of {on}" if on else "",
            f" with only {money(paid, ctx.cur(d))} paid" if paid is not None else "",
            f": {reason}" if reason else "",
        )
    )
    return "promise", f"The {_promise_subject(d, ctx)} was broken{tail}."


NARRATORS: dict[str, Narrator] = {
    "AccountOpened": _account_opened,
    "BillIssued": _bill_issued,
    "PaymentReceived": _payment_received,
    "PaymentAllocated": _payment_allocated,
    "PaymentReallocated": _payment_reallocated,
    "CreditApplied": _credit_applied,
    "BillBecameOverdue": _bill_overdue,
    "LateFeeAccrued": _late_fee,
    "LateFeeReversed": _late_fee_reversed,
    "DelinquencyBucketChanged": _bucket_changed,
    "AccountChargedOff": _charged_off,
    "AccountCured": _cured,
    "PaymentDueSoon": _due_soon,
    "FirstPaymentDefaulted": _first_payment_default,
    "RepeatedPartialPayments": _partial_payments,
    "DueDatesDeferred": _deferred,
    "BalanceReinstalled": _reinstalled,
    "FeesWaived": _waived,
    "DelinquencyPaused": _paused,
    "DelinquencyResumed": _resumed,
    "PlanRequested": _plan_requested,
    "PlanOffered": _plan_offered,
    "PlanApprovalRequested": _approval_requested,
    "PlanApproved": _approved,
    "PlanRejected": _rejected,
    "PlanAccepted": _accepted,
    "PlanDeclined": _declined,
    "PlanExpired": _expired,
    "PlanAgreed": _agreed,
    "PlanActivated": _activated,
    "PlanPaymentApplied": _plan_payment,
    "InstallmentMet": _installment_met,
    "InstallmentMissed": _installment_missed,
    "PlanCompleted": _completed,
    "PlanBroken": _broken,
    "PlanCancelled": _cancelled,
    "PlanTermsRefused": _terms_refused,
    "HardshipEvidenceReceived": _evidence_received,
    "CollectionCaseOpened": _case_opened,
    "CollectionCaseClosed": _case_closed,
    "CollectionCaseEscalated": _case_escalated,
    "CollectionCaseRouted": _case_routed,
    "CollectionCaseReclassified": _case_reclassified,
    "CollectionCaseAssigned": _case_assigned,
    "ContactLost": _contact_lost,
    "ContactPointReported": _point_reported,
    "ContactPointAdded": _point_added,
    "ContactPointVerified": _point_verified,
    "ContactPointVerificationFailed": _point_verification_failed,
    "ContactPointInvalidated": _point_invalidated,
    "SkipTraceCompleted": _skip_trace_done,
    "ContactPreferencesSet": _preferences,
    "ContactDetailsShown": _details_shown,
    "PersonalDataErased": _erased,
    "HardshipReported": _hardship_reported,
    "CaseEscalated": _case_escalated,
    "ContactAttemptChecked": _attempt_checked,
    "ContactAttemptRecorded": _attempt_recorded,
    "ContactChannelOptedOut": _opted_out,
    "ContactCeaseRequested": _cease,
    "DebtDisputed": _disputed,
    "DisputeResolved": _dispute_resolved,
    "CallbackAgreed": _callback,
    "PromiseToPayMade": _promise_made,
    "PromiseToPayKept": _promise_kept,
    "PromiseToPayBroken": _promise_broken,
}
"""Event type name → the sentence writer; looked up by name, so events whose contracts
are not in the catalogue yet (promises to pay, case escalation) are read all the same."""
