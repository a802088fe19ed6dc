"""Every field of every event in the catalogue is bounded (issue 11): a value no store
or reader can hold is refused at the door with its field named, never deep in a consumer.

The walk reads each model's JSON Schema, so a new field without a bound fails here the
day it is written."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bounds import MAX_MINOR
from shared.envelope import Envelope
from shared.events import default_catalogue

_CAT = default_catalogue()
MODELS = [_CAT.model(t, v) for t in _CAT.types() for v in range(1, _CAT.latest_version(t) + 1)]


def _is_bounded_decimal(branches: list[dict[str, Any]]) -> bool:
    # pydantic writes a Decimal as "a number, or its digits as a string"; its maximum
    # and max_digits bound both spellings.
    kinds = {b.get("type") for b in branches}
    number = next((b for b in branches if b.get("type") == "number"), {})
    return kinds == {"number", "string"} and ("maximum" in number or "exclusiveMaximum" in number)


def _unbounded(schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """The paths in `schema` whose integers, strings or arrays have no upper bound."""
    if "$ref" in schema:
        return _unbounded(defs[schema["$ref"].split("/")[-1]], defs, where)
    found: list[str] = []
    branches = [b for key in ("anyOf", "oneOf", "allOf") for b in schema.get(key, [])]
    if _is_bounded_decimal(branches):
        return []
    for sub in branches:
        found += _unbounded(sub, defs, where)
    kind = schema.get("type")
    if kind == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
        found.append(f"{where}: integer without a maximum")
    if kind == "number":
        found.append(f"{where}: a float (money and counts are integers)")
    if kind == "string" and not (
        "maxLength" in schema or "enum" in schema or "const" in schema or "format" in schema
    ):
        found.append(f"{where}: string without maxLength")
    if kind == "array":
        if "maxItems" not in schema and "prefixItems" not in schema:
            found.append(f"{where}: array without maxItems")
        found += _unbounded(schema.get("items", {}), defs, f"{where}[]")
    if kind == "object":
        for name, sub in schema.get("properties", {}).items():
            found += _unbounded(sub, defs, f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                found.append(f"{where}: map without maxProperties")
            found += _unbounded(extra, defs, f"{where}{{}}")
    return found


@pytest.mark.parametrize(
    "model", MODELS, ids=[f"{m.event_type}.v{m.schema_version}" for m in MODELS]
)
def test_every_field_of_every_event_is_bounded(model: Any) -> None:
    schema = model.model_json_schema()
    assert _unbounded(schema, schema.get("$defs", {}), "data") == []


def test_the_envelope_is_bounded() -> None:
    schema = Envelope.model_json_schema()
    problems = _unbounded(schema, schema.get("$defs", {}), "envelope")
    # `data` is bounded by its event's model (above); metadata is typed and bounded.
    assert [p for p in problems if not p.startswith("envelope.data")] == []


def test_amounts_are_bounded_by_the_documented_maximum() -> None:
    for model in MODELS:
        schema = model.model_json_schema()
        for name, sub in schema.get("properties", {}).items():
            if name in {"amount", "principal", "interest", "fees"}:
                assert sub.get("maximum") == MAX_MINOR, (model.event_type, name)
