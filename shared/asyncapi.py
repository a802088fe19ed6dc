"""Renders docs/asyncapi.json (AsyncAPI 3.0) from the catalogue: the integrators' kit."""

from __future__ import annotations

import inspect
import json
from typing import Any

from shared.catalogue import Catalogue
from shared.docgen import TOPICS
from shared.envelope import Envelope
from shared.topics import Topics

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"

DESCRIPTION = """Every topic of arrears, with one message per event type at its current schema
version. Generated from the catalogue by `make docs` (`arrears schemas asyncapi FILE`);
a unit test fails when the checked-in file is stale, and another validates it against
the official AsyncAPI 3.0.0 JSON Schema. The prose reference is docs/events.md.

Operations are written from an integrator's point of view: you **send** to the inbound
topic (or POST the same envelopes to the accounts service's ingest API) and **receive**
from every other topic. Each message is the envelope (JSON, UTF-8, Kafka key `account_id`,
so one account's events stay in order) with `data` of that event type's schema. Older
schema versions may still be stored and are upcast on read; docs/events.md lists them.
Consume idempotently by the envelope's `id`: delivery is at least once."""

CHANNEL_DESCRIPTION = {
    "inbound": "Facts integrators report (accounts, bills, payments, business days).",
    "accounts": "What the accounts service derives: allocation, overdue, fees, buckets, servicing.",
    "plans": "Repayment plans' lifecycle.",
    "contact": "Collection cases, contact attempts, promises, disputes and contact points.",
    "audit": "The order audit chained every event in, one `TrailChained` per entry.",
}

DEAD_LETTER = {
    "type": "object",
    "description": "A record a consumer could not apply, with the original bytes or an excerpt.",
    "required": [
        "consumer",
        "source_topic",
        "source_partition",
        "source_offset",
        "kind",
        "reason",
        "attempts",
        "original",
        "original_size",
        "original_sha256",
        "dead_lettered_at",
    ],
    "properties": {
        "consumer": {"type": "string"},
        "source_topic": {"type": "string"},
        "source_partition": {"type": "integer"},
        "source_offset": {"type": "integer"},
        "kind": {"enum": ["invalid", "rejected", "failed"]},
        "reason": {"type": "string", "description": "why, with personal data redacted"},
        "attempts": {"type": "integer", "minimum": 0},
        "account_id": {"type": ["string", "null"]},
        "original": {
            "type": ["string", "null"],
            "description": "the record's bytes as latin-1 text; null when too large",
        },
        "original_excerpt": {"type": "string", "description": "leading bytes of a large one"},
        "original_size": {"type": "integer", "minimum": 0},
        "original_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "dead_lettered_at": {"type": "string", "format": "date-time"},
    },
}


def _hoist(schema: dict[str, Any], shared: dict[str, Any], owner: str) -> dict[str, Any]:
    """Move a pydantic schema's `$defs` into components/schemas and point its refs there.

    AsyncAPI resolves `#/...` against the whole document, so local `$defs` refs would
    dangle; a name two schemas define differently is kept apart by the owner's name.
    """
    body = dict(schema)
    defs: dict[str, Any] = body.pop("$defs", {})
    renamed = {
        name: name if shared.get(name, d) == d else f"{owner}.{name}" for name, d in defs.items()
    }
    # pydantic keeps every definition flat at the top, so one textual pass repoints them all.
    text = json.dumps({"body": body, "defs": defs})
    for name, key in renamed.items():
        text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/{key}"')
    moved = json.loads(text)
    for name, key in renamed.items():
        shared[key] = moved["defs"][name]
    hoisted: dict[str, Any] = moved["body"]
    return hoisted


def _event_message(catalogue: Catalogue, event_type: str, schemas: dict[str, Any]) -> Any:
    version = catalogue.latest_version(event_type)
    model = catalogue.model(event_type, version)
    data_key = f"{event_type}.v{version}"
    schemas[data_key] = _hoist(model.model_json_schema(), schemas, event_type)
    doc = inspect.cleandoc(model.__doc__ or "")
    return {
        "name": event_type,
        "title": event_type,
        "summary": doc.split("\n\n", 1)[0].replace("\n", " "),
        "description": doc,
        "contentType": "application/json",
        "traits": [{"$ref": "#/components/messageTraits/keyedByAccount"}],
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type},
                        "schema_version": {"const": version},
                        "data": {"$ref": f"#/components/schemas/{data_key}"},
                    },
                },
            ]
        },
    }


def _channel(address: str, description: str, messages: list[str]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
    }


def _operation(action: str, channel: str, messages: list[str], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
    }


def render_asyncapi(catalogue: Catalogue, topics: Topics) -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document of arrears' topics and their messages."""
    schemas: dict[str, Any] = {}
    schemas["Envelope"] = _hoist(Envelope.model_json_schema(), schemas, "Envelope")
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, event_types in TOPICS.items():
        for event_type in event_types:
            messages[event_type] = _event_message(catalogue, event_type, schemas)
        address = getattr(topics, name)
        channels[name] = _channel(address, CHANNEL_DESCRIPTION[name], event_types)
        if name == "inbound":
            operations["sendInbound"] = _operation(
                "send", name, event_types, f"Report facts to arrears on `{address}`."
            )
        else:
            operations[f"receive{name.title()}"] = _operation(
                "receive", name, event_types, f"Follow what arrears derived on `{address}`."
            )
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "A record a consumer dead-lettered; ops replay or discard it.",
        "contentType": "application/json",
        "payload": DEAD_LETTER,
    }
    channels["dlq"] = _channel(
        topics.dlq,
        "Records consumers could not apply (kind invalid, rejected or failed).",
        ["DeadLetter"],
    )
    operations["receiveDeadLetters"] = _operation(
        "receive", "dlq", ["DeadLetter"], f"Watch for records arrears refused on `{topics.dlq}`."
    )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "arrears events",
            "version": "1.0.0",
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "messageTraits": {
                "keyedByAccount": {
                    "bindings": {
                        "kafka": {
                            "key": {"type": "string", "description": "the envelope's account_id"},
                            "bindingVersion": KAFKA_BINDING_VERSION,
                        }
                    }
                }
            },
        },
    }


def render_asyncapi_json(catalogue: Catalogue, topics: Topics) -> str:
    """The document as the JSON text checked in at docs/asyncapi.json."""
    return json.dumps(render_asyncapi(catalogue, topics), indent=2, ensure_ascii=False) + "\n"
