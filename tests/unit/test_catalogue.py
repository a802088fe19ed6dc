"""The envelope decoder and event catalogue reject bad events naming the field, and upcast."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shared.catalogue import Catalogue, EventData, new_envelope
from shared.envelope import Envelope, decode_envelope
from shared.errors import InvalidEvent, UnknownEventType
from shared.events import default_catalogue
from shared.events.accounts import BillBecameOverdue
from shared.events.inbound import AccountOpened, AccountOpenedV1, BusinessDayClosed
from tests.support import bill, envelope, opened, payment


def validate(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Decode and validate as every consumer does."""
    return default_catalogue().validate(decode_envelope(raw))


def reason_of(raw: bytes | str | dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as info:
        validate(raw)
    return info.value.reason


# -- the envelope -------------------------------------------------------------------------


def test_malformed_json_is_rejected_as_malformed() -> None:
    assert reason_of(b'{"id": ').startswith("malformed JSON")


def test_bytes_that_are_not_utf8_are_rejected_as_malformed() -> None:
    assert reason_of(b"\xff\xfe\x00garbage").startswith("malformed JSON")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_rejected(raw: bytes) -> None:
    assert reason_of(raw) == "an event must be a JSON object"


def test_missing_account_id_is_named() -> None:
    raw = opened("A1")
    del raw["account_id"]
    reason = reason_of(raw)
    assert reason.startswith("account_id:")
    assert "required" in reason.lower()


def test_naive_occurred_at_is_rejected_because_it_must_be_timezone_aware() -> None:
    raw = opened("A1")
    raw["occurred_at"] = "2026-03-01T09:00:00"
    reason = reason_of(raw)
    assert reason.startswith("occurred_at:")
    assert "timezone" in reason


def test_an_envelope_field_nobody_defined_is_rejected() -> None:
    raw = {**opened("A1"), "priority": "high"}
    assert reason_of(raw).startswith("priority:")


def test_the_same_event_decodes_from_bytes_text_and_dict_alike() -> None:
    raw = opened("A1")
    text = json.dumps(raw)
    assert decode_envelope(raw) == decode_envelope(text) == decode_envelope(text.encode())


def test_an_envelope_survives_its_own_wire_form() -> None:
    env = validate(bill("A1", "B1"))
    assert decode_envelope(env.to_json()) == env
    assert env.key() == b"A1"


# -- types and versions -------------------------------------------------------------------


def test_unknown_type_raises_unknown_event_type_naming_type() -> None:
    with pytest.raises(UnknownEventType) as info:
        validate(envelope("AccountExploded", "A1", {}))
    assert info.value.reason.startswith("type:")
    assert "AccountExploded" in info.value.reason


def test_unknown_version_of_a_known_type_names_schema_version() -> None:
    with pytest.raises(UnknownEventType) as info:
        validate(envelope("BillIssued", "A1", bill("A1", "B1")["data"], version=9))
    assert info.value.reason.startswith("schema_version:")
    assert "9" in info.value.reason


def test_a_known_older_version_without_an_upcaster_is_rejected() -> None:
    class ThingV1(EventData):
        event_type: ClassVar[str] = "Thing"
        schema_version: ClassVar[int] = 1

    class ThingV2(EventData):
        event_type: ClassVar[str] = "Thing"
        schema_version: ClassVar[int] = 2

    catalogue = Catalogue([ThingV1, ThingV2])
    with pytest.raises(UnknownEventType, match="no upcaster"):
        catalogue.upcast(decode_envelope(envelope("Thing", "A1", {}, version=1)))


# -- data validation ----------------------------------------------------------------------


def test_missing_bill_id_is_named_as_data_bill_id() -> None:
    raw = bill("A1", "B1")
    del raw["data"]["bill_id"]
    assert reason_of(raw).startswith("data.bill_id:")


def test_amount_given_as_a_string_is_rejected_not_coerced() -> None:
    assert reason_of(payment("A1", "P1", "100")).startswith("data.amount:")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [-1, 0, 100.0, True])
def test_amount_must_be_a_positive_integer(amount: Any) -> None:
    assert reason_of(payment("A1", "P1", amount)).startswith("data.amount:")


def test_lowercase_currency_is_named() -> None:
    assert reason_of(bill("A1", "B1", currency="cny")).startswith("data.currency:")


def test_unknown_time_zone_is_named() -> None:
    reason = reason_of(opened("A1", time_zone="Mars/Olympus_Mons"))
    assert reason.startswith("data.time_zone:")
    assert "Mars/Olympus_Mons" in reason


def test_due_date_before_issued_on_is_named() -> None:
    reason = reason_of(bill("A1", "B1", due="2026-02-28"))
    assert reason.startswith("data.due_date:")
    assert "issued_on" in reason


def test_every_problem_of_an_event_is_reported_not_just_the_first() -> None:
    raw = bill("A1", "B1", currency="cny", principal=-5)
    reason = reason_of(raw)
    assert "data.currency:" in reason
    assert "data.principal:" in reason


def test_an_unexpected_data_field_is_rejected() -> None:
    assert reason_of(bill("A1", "B1", colour="red")).startswith("data.colour:")


def test_valid_data_is_normalised_to_the_models_json() -> None:
    raw = bill("A1", "B1")
    del raw["data"]["interest"], raw["data"]["fees"]
    assert validate(raw).data == bill("A1", "B1")["data"]


# -- upcasting ----------------------------------------------------------------------------


def test_account_opened_v1_upcasts_to_v2_in_shanghai() -> None:
    raw = envelope(
        "AccountOpened",
        "A1",
        {"customer_id": "C1", "product": "cash_loan", "currency": "CNY"},
        version=1,
    )
    original = decode_envelope(raw)
    before = original.model_dump()

    upcast = default_catalogue().validate(original)

    assert upcast.schema_version == 2
    assert upcast.data == {
        "customer_id": "C1",
        "product": "cash_loan",
        "currency": "CNY",
        "time_zone": "Asia/Shanghai",
        "jurisdiction": None,  # optional in v2: the time zone decides
        "customer_name": None,  # optional in v2: a v1 producer never sent one
    }
    assert upcast.id == original.id
    assert original.model_dump() == before
    assert original.schema_version == 1
    assert "time_zone" not in original.data


def test_the_latest_version_is_returned_as_the_same_object() -> None:
    env = decode_envelope(opened("A1"))
    assert default_catalogue().upcast(env) is env


def test_a_v1_event_still_has_to_be_valid_v1_data() -> None:
    raw = envelope(
        "AccountOpened", "A1", {"customer_id": "C1", "product": "mortgage", "currency": "CNY"}
    )
    assert reason_of(raw).startswith("data.product:")


# -- registration and schemas -------------------------------------------------------------


def test_registering_the_same_type_and_version_twice_raises() -> None:
    catalogue = Catalogue([AccountOpened])
    with pytest.raises(ValueError, match="already registered"):
        catalogue.register(AccountOpened)
    catalogue.register(AccountOpenedV1)  # another version of the type is fine
    assert catalogue.latest_version("AccountOpened") == 2


def test_json_schemas_has_one_key_per_type_and_version() -> None:
    catalogue = default_catalogue()
    schemas = catalogue.json_schemas()
    expected = {
        f"{t}.v{v}" for t in catalogue.types() for v in range(1, catalogue.latest_version(t) + 1)
    }
    assert set(schemas) == expected
    assert {"AccountOpened.v1", "AccountOpened.v2", "PaymentReceived.v1"} <= set(schemas)
    assert "time_zone" in schemas["AccountOpened.v2"]["properties"]
    assert "time_zone" not in schemas["AccountOpened.v1"]["properties"]


def test_export_writes_one_schema_file_per_type_and_version(tmp_path: Path) -> None:
    catalogue = default_catalogue()
    target = tmp_path / "schemas" / "nested"
    written = catalogue.export(target)
    assert len(written) == len(catalogue.json_schemas())
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in written)
    bill_schema = json.loads((target / "BillIssued.v1.schema.json").read_text())
    assert bill_schema == catalogue.json_schemas()["BillIssued.v1"]


# -- new envelopes ------------------------------------------------------------------------

AT = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


def overdue() -> BillBecameOverdue:
    return BillBecameOverdue(
        bill_id="B1",
        currency="CNY",
        due_date=date(2026, 3, 10),
        business_date=date(2026, 3, 10),
        overdue_amount=100,
        days_past_due=1,
    )


def test_new_envelope_without_a_cause_starts_a_chain() -> None:
    env = new_envelope(overdue(), account_id="A1", occurred_at=AT, source="accounts")
    assert (env.type, env.schema_version) == ("BillBecameOverdue", 1)
    assert env.correlation_id is None and env.causation_id is None
    assert env.metadata == {}
    assert validate(env.model_dump(mode="json")) == env


OPS_LI = {"subject": "li", "role": "ops"}


def test_new_envelope_caused_by_a_first_event_correlates_to_that_event() -> None:
    cause = decode_envelope({**day_close("A1"), "metadata": {"actor": OPS_LI}})
    env = new_envelope(overdue(), account_id="A1", occurred_at=AT, source="accounts", cause=cause)
    assert env.causation_id == cause.id
    assert env.correlation_id == cause.id
    assert env.metadata == {"actor": OPS_LI}
    assert env.id != cause.id


def test_new_envelope_keeps_the_correlation_of_a_caused_cause() -> None:
    root = uuid.uuid4()
    cause = decode_envelope(
        {**day_close("A1"), "correlation_id": str(root), "metadata": {"actor": OPS_LI}}
    )
    env = new_envelope(
        overdue(),
        account_id="A1",
        occurred_at=AT,
        source="accounts",
        cause=cause,
        metadata={"trace": "t-1"},
    )
    assert env.causation_id == cause.id
    assert env.correlation_id == root
    assert env.metadata == {"actor": OPS_LI, "trace": "t-1"}
    assert cause.metadata == {"actor": OPS_LI}


def day_close(account_id: str) -> dict[str, Any]:
    return envelope(BusinessDayClosed.event_type, account_id, {"business_date": "2026-03-10"})


def test_a_validated_record_is_parsed_once_and_a_copy_with_other_data_is_parsed_afresh() -> None:
    from shared.envelope import decode_envelope
    from shared.events import default_catalogue
    from tests.support import opened

    catalogue = default_catalogue()
    valid = catalogue.validate(decode_envelope(opened("A1")))
    recorded = valid.model_copy(update={"source": "accounts"})  # same data dict
    assert catalogue.parse(recorded) is catalogue.parse(valid)
    changed = valid.model_copy(update={"data": {**valid.data, "currency": "USD"}})
    assert catalogue.parse(changed).currency == "USD"  # type: ignore[attr-defined]
    broken = valid.model_copy(update={"data": {**valid.data, "currency": "yuan"}})
    with pytest.raises(InvalidEvent):
        catalogue.parse(broken)
