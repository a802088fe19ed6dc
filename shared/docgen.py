"""Renders docs/events.md from the catalogue, so the integrators' contract never drifts."""

from __future__ import annotations

from typing import Any

from shared.catalogue import Catalogue
from shared.envelope import Envelope

HEADER = """# Events

Generated from the catalogue by `make docs` (`arrears schemas docs docs/events.md`);
a unit test fails when this file is stale. JSON Schemas: `arrears schemas export DIR`.

The `personal` column names the fields that are personal data and their kind (`phone`,
`email`, `id_number`, `name`, `text`: free text a person wrote; "kind from `kind`": the
sibling field says phone or email). Audit keeps them out of its hash chain (a salted
commitment is chained instead), masks them by kind on every read, and erases them after
the retention period.

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
        "DisputeResolved",
        "CallbackAgreed",
        "PromiseToPayMade",
        "PromiseToPayKept",
        "PromiseToPayBroken",
        "CollectionCaseEscalated",
        "CollectionCaseRouted",
        "CollectionCaseReclassified",
        "CollectionCaseAssigned",
        "CollectionCaseClosed",
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
    "audit": ["TrailChained"],
}


OWN_ENTRIES = ["PersonalDataErased"]
"""Entries audit chains onto a trail itself; they travel on no topic."""


def _personal(catalogue: Catalogue, event_type: str, version: int) -> dict[str, str]:
    """Top-level field name → what of it is personal ("phone", "text", "items.*: text")."""
    out: dict[str, list[str]] = {}
    for f in catalogue.personal_fields(event_type, version):
        assert f.personal is not None
        kind = f.personal.kind or f"kind from `{f.personal.kind_from}`"
        inner = ".".join(f.path[1:])
        out.setdefault(f.path[0], []).append(f"`{inner}`: {kind}" if inner else kind)
    return {name: "; ".join(kinds) for name, kinds in out.items()}


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
    sections = [(f"Topic `arrears.{topic}`", types) for topic, types in TOPICS.items()]
    sections.append(("Audit's own entries (on the trail, no topic)", OWN_ENTRIES))
    for title, types in sections:
        out.append(f"\n## {title}\n")
        for event_type in types:
            latest = catalogue.latest_version(event_type)
            for version in range(latest, 0, -1):
                out.append(_event_section(catalogue, event_type, version, latest))
    out.append("\nAmounts are integer minor units (fen) in the event's `currency`.\n")
    return "".join(out)


def _event_section(catalogue: Catalogue, event_type: str, version: int, latest: int) -> str:
    model = catalogue.model(event_type, version)
    js = model.model_json_schema()
    personal = _personal(catalogue, event_type, version)
    label = "current" if version == latest else "older: upcast on read"
    out = [f"\n### {event_type} v{version} ({label})\n\n", f"{(model.__doc__ or '').strip()}\n\n"]
    out.append("| field | type | required | limits | personal |\n|---|---|---|---|---|\n")
    needed = set(js.get("required", []))
    for field, prop in js.get("properties", {}).items():
        yes = "yes" if field in needed else "no"
        out.append(
            f"| `{field}` | {_type_name(prop)} | {yes} | {_limits(prop)} "
            f"| {personal.get(field, '')} |\n"
        )
    return "".join(out)
