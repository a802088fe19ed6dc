"""Renders docs/events.md from the catalogue, so the integrators' contract never drifts."""

from __future__ import annotations

from typing import Any

from shared.catalogue import Catalogue
from shared.envelope import Envelope

HEADER = """# Events

Generated from the catalogue by `make docs` (`arrears schemas docs docs/events.md`);
a unit test fails when this file is stale. JSON Schemas: `arrears schemas export DIR`.

## The envelope

Every event, on every topic and in every store, travels in this envelope (JSON, UTF-8).
Kafka key: `account_id`, so one account's events stay in order.

| field | type | required | meaning |
|---|---|---|---|
"""

ENVELOPE_MEANING = {
    "id": "UUID of the event; the idempotency key (a repeated id takes effect once)",
    "type": "event type, past tense (see below)",
    "schema_version": "version of `data`'s schema; old versions are upcast on read",
    "account_id": "the account the event is about; `*` for platform-wide events",
    "occurred_at": "when it happened in the world (timezone-aware ISO 8601)",
    "recorded_at": "when an arrears service recorded it; server-owned, set on ingest",
    "source": "producing service or integrator",
    "data": "the event's fields (per type and version, below)",
    "correlation_id": "the id of the event that started this chain of events",
    "causation_id": "the id of the event that directly caused this one",
    "metadata": "who did it (actor) and other context; never PII",
}

TOPICS = {
    "inbound": [
        "AccountOpened",
        "BillIssued",
        "PaymentReceived",
        "BusinessDayClosed",
        "ContactPointReported",
    ],
    "accounts": [
        "PaymentAllocated",
        "PaymentReallocated",
        "CreditApplied",
        "BillBecameOverdue",
        "LateFeeAccrued",
        "LateFeeReversed",
        "DelinquencyBucketChanged",
        "AccountDayClosed",
        "AccountChargedOff",
        "AccountCured",
        "PaymentDueSoon",
        "FirstPaymentDefaulted",
        "RepeatedPartialPayments",
        "DueDatesDeferred",
        "BalanceReinstalled",
        "FeesWaived",
        "DelinquencyPaused",
        "DelinquencyResumed",
        "PlanTermsRefused",
    ],
    "plans": [
        "PlanAgreed",
        "PlanRequested",
        "PlanOffered",
        "PlanApprovalRequested",
        "PlanApproved",
        "PlanRejected",
        "PlanAccepted",
        "PlanDeclined",
        "PlanExpired",
        "PlanActivated",
        "PlanPaymentApplied",
        "InstallmentMet",
        "InstallmentMissed",
        "PlanBroken",
        "PlanCompleted",
        "PlanCancelled",
        "HardshipEvidenceReceived",
    ],
    "contact": [
        "CollectionCaseOpened",
        "ContactAttemptChecked",
        "ContactAttemptRecorded",
        "ContactChannelOptedOut",
        "ContactCeaseRequested",
        "DebtDisputed",
        "CallbackAgreed",
        "PromiseToPayMade",
        "PromiseToPayKept",
        "PromiseToPayBroken",
        "CollectionCaseEscalated",
        "CollectionCaseRouted",
        "CollectionCaseAssigned",
        "ContactPointAdded",
        "ContactPointVerified",
        "ContactPointVerificationFailed",
        "ContactPointInvalidated",
        "ContactLost",
        "SkipTraceCompleted",
        "HardshipReported",
        "ContactPreferencesSet",
        "ContactDetailsShown",
    ],
}


def _type_name(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type_name(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array":
        return f"list of {_type_name(prop.get('items', {}))}"
    fmt = prop.get("format")
    return f"{prop.get('type', 'any')}" + (f" ({fmt})" if fmt else "")


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("exclusiveMinimum", ">"),
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("pattern", "pattern"),
    ):
        if key in prop:
            parts.append(f"{label} `{prop[key]}`" if key == "pattern" else f"{label} {prop[key]}")
    return ", ".join(parts)


def render_events_markdown(catalogue: Catalogue) -> str:
    """The whole of docs/events.md."""
    out = [HEADER]
    schema = Envelope.model_json_schema()
    required = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        req = "yes" if name in required else "no"
        out.append(
            f"| `{name}` | {_type_name(prop)} | {req} | {ENVELOPE_MEANING.get(name, '')} |\n"
        )
    for topic, types in TOPICS.items():
        out.append(f"\n## Topic `arrears.{topic}`\n")
        for event_type in types:
            latest = catalogue.latest_version(event_type)
            for version in range(latest, 0, -1):
                model = catalogue.model(event_type, version)
                js = model.model_json_schema()
                label = "current" if version == latest else "older: upcast on read"
                out.append(f"\n### {event_type} v{version} ({label})\n\n")
                out.append(f"{(model.__doc__ or '').strip()}\n\n")
                out.append("| field | type | required | limits |\n|---|---|---|---|\n")
                needed = set(js.get("required", []))
                for field, prop in js.get("properties", {}).items():
                    yes = "yes" if field in needed else "no"
                    out.append(f"| `{field}` | {_type_name(prop)} | {yes} | {_limits(prop)} |\n")
    out.append("\nAmounts are integer minor units (fen) in the event's `currency`.\n")
    return "".join(out)
