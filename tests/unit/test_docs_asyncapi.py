"""docs/asyncapi.json is what the catalogue says today, and a valid AsyncAPI 3.0 document."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from services.cli import main
from shared.asyncapi import render_asyncapi, render_asyncapi_json
from shared.catalogue import new_envelope
from shared.events import default_catalogue
from shared.events.inbound import BusinessDayClosed
from shared.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs/asyncapi.json"
SPEC = ROOT / "docs/schemas-vendor/asyncapi-3.0.0.json"


def _errors(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(json.loads(SPEC.read_text()))
    return [e.message for e in validator.iter_errors(document)]


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _payload_validator(document: dict[str, Any], message: str) -> Draft202012Validator:
    # The document itself is the root, so the payload's `#/components/...` refs resolve.
    return Draft202012Validator({**document, "$ref": f"#/components/messages/{message}/payload"})


def test_asyncapi_document_is_up_to_date() -> None:
    expected = render_asyncapi_json(default_catalogue(), Topics())
    actual = DOCUMENT.read_text()
    assert actual == expected, "docs/asyncapi.json is stale: run `make docs`"


def test_asyncapi_document_is_valid_against_the_asyncapi_3_schema() -> None:
    assert _errors(json.loads(DOCUMENT.read_text())) == []


def test_the_asyncapi_schema_refuses_a_broken_document() -> None:
    broken = copy.deepcopy(render_asyncapi(default_catalogue(), Topics()))
    broken["channels"]["inbound"]["address"] = 42
    assert _errors(broken) != []


def test_every_ref_in_the_document_resolves() -> None:
    document = render_asyncapi(default_catalogue(), Topics())
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_a_message_payload_accepts_a_real_envelope_and_refuses_wrong_data() -> None:
    document = render_asyncapi(default_catalogue(), Topics())
    env = new_envelope(
        BusinessDayClosed(business_date=date(2026, 3, 1)),
        account_id="*",
        occurred_at=datetime(2026, 3, 1, 16, tzinfo=UTC),
        source="platform",
    )
    wire = json.loads(env.to_json())
    validator = _payload_validator(document, "BusinessDayClosed")
    assert list(validator.iter_errors(wire)) == []
    assert list(validator.iter_errors({**wire, "data": {"business_date": 5}})) != []
    assert list(validator.iter_errors({**wire, "type": "BillIssued"})) != []


@pytest.mark.parametrize("name", ["inbound", "accounts", "plans", "contact", "audit", "dlq"])
def test_each_topic_is_a_channel_at_its_address(name: str) -> None:
    topics = Topics(prefix="lender")
    document = render_asyncapi(default_catalogue(), topics)
    assert document["channels"][name]["address"] == getattr(topics, name)
    ref = f"#/channels/{name}"
    ops = document["operations"].values()
    actions = {op["action"] for op in ops if op["channel"]["$ref"] == ref}
    assert actions == ({"send"} if name == "inbound" else {"receive"})


def test_the_cli_writes_the_checked_in_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    main(["schemas", "asyncapi", str(out)])
    assert out.read_text() == DOCUMENT.read_text()
