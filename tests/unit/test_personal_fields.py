"""Personal fields are declared in the catalogue, and none can slip in undeclared."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from shared.catalogue import Catalogue, EventData, Personal, PersonalValue, model_fields
from shared.events import default_catalogue
from shared.pii import mask, may_see, show

# A field whose name says it may hold contact data or what a person wrote.
SUSPECT = re.compile(
    r"value|reason|note|remark|name|phone|email|mail|mobile|address|explanation|text|message"
    r"|comment|description|customer|contact|_by$|^by$|agent|viewer|provider|agency|kind"
)

ACTOR = (
    "a token subject (staff, or a borrower's login pseudonym, whose link to a person lives "
    "with the identity provider): kept in clear, it is who did it"
)
SYSTEM = (
    "written by a service from a fixed template (ids, dates, rule names, bucket names), "
    "never from what a person typed"
)
REVIEWED: dict[tuple[str, int, str], str] = {
    ("CollectionCaseAssigned", 1, "agent"): ACTOR,
    ("CollectionCaseAssigned", 1, "previous_agent"): ACTOR,
    ("CollectionCaseEscalated", 1, "reason"): SYSTEM,
    ("CollectionCaseOpened", 1, "reason"): SYSTEM,
    ("CollectionCaseReclassified", 1, "reason"): SYSTEM,
    ("CollectionCaseRouted", 1, "reason"): SYSTEM,
    ("ContactAttemptChecked", 1, "explanation"): SYSTEM + " (one sentence per rule)",
    ("ContactAttemptChecked", 2, "explanation"): SYSTEM + " (one sentence per rule)",
    ("ContactAttemptRecorded", 1, "agency"): "the collection agency, a company",
    ("ContactAttemptRecorded", 1, "agent"): ACTOR,
    ("ContactAttemptRecorded", 1, "contact_point_id"): "an id; the value is in ContactPointAdded",
    ("ContactDetailsShown", 1, "viewer"): ACTOR,
    ("ContactPointInvalidated", 1, "reason"): SYSTEM,
    ("DelinquencyBucketChanged", 1, "reason"): SYSTEM,
    ("FeesWaived", 1, "reason"): SYSTEM,
    ("HardshipEvidenceReceived", 1, "received_by"): ACTOR,
    ("HardshipReported", 1, "kind"): "the evidence category (unemployment, medical, ...)",
    ("LateFeeReversed", 1, "reason"): SYSTEM,
    ("PaymentReallocated", 1, "reason"): SYSTEM,
    ("PersonalDataErased", 1, "erased_by"): ACTOR,
    ("PersonalDataErased", 1, "reason"): "compliance's reason for the erasure: the record of it",
    ("PlanAccepted", 1, "accepted_by"): ACTOR,
    ("PlanApprovalRequested", 1, "proposed_by"): ACTOR,
    ("PlanApprovalRequested", 1, "reasons.*"): SYSTEM + " (the policy's approval rules)",
    ("PlanApproved", 1, "approved_by"): ACTOR,
    ("PlanBroken", 1, "reason"): SYSTEM,
    ("PlanCancelled", 1, "cancelled_by"): ACTOR,
    ("PlanDeclined", 1, "declined_by"): ACTOR,
    ("PlanOffered", 1, "proposed_by"): ACTOR,
    ("PlanRejected", 1, "rejected_by"): ACTOR,
    ("PlanRequested", 1, "requested_by"): ACTOR,
    ("PlanTermsRefused", 1, "reason"): SYSTEM,
    ("PromiseToPayMade", 1, "made_by"): ACTOR,
    ("SkipTraceCompleted", 1, "provider"): "the skip-trace provider, a company",
}


def every_field() -> list[tuple[str, int, str, bool, bool]]:
    """(type, version, path, is text, declared personal) of every field of every model."""
    catalogue = default_catalogue()
    out = []
    for t in catalogue.types():
        for v in range(1, catalogue.latest_version(t) + 1):
            for f in model_fields(catalogue.model(t, v)):
                out.append((t, v, f.dotted, f.is_str, f.personal is not None))
    return out


def test_every_text_field_that_may_hold_personal_data_is_declared_or_reviewed() -> None:
    unreviewed = []
    for t, v, path, is_str, personal in every_field():
        name = [p for p in path.split(".") if p != "*"][-1]
        if is_str and not personal and SUSPECT.search(name) and (t, v, path) not in REVIEWED:
            unreviewed.append(f"{t} v{v} {path}")
    assert not unreviewed, (
        "declare these Personal(...) in shared/events, or add them to REVIEWED with why "
        f"they hold no personal data: {unreviewed}"
    )


def test_the_reviewed_list_names_only_fields_that_exist_undeclared() -> None:
    undeclared = {(t, v, p) for t, v, p, is_str, personal in every_field() if not personal}
    assert set(REVIEWED) <= undeclared, set(REVIEWED) - undeclared


def test_what_is_declared_personal() -> None:
    catalogue = default_catalogue()
    declared = {
        (t, v, f.dotted, f.personal.kind or f"from {f.personal.kind_from}")
        for t in catalogue.types()
        for v in range(1, catalogue.latest_version(t) + 1)
        for f in catalogue.personal_fields(t, v)
        if f.personal is not None
    }
    assert declared == {
        ("AccountOpened", 1, "customer_id", "id_number"),
        ("AccountOpened", 2, "customer_id", "id_number"),
        ("AccountOpened", 2, "customer_name", "name"),
        ("ContactPointReported", 1, "value", "from kind"),
        ("ContactPointAdded", 1, "value", "from kind"),
        ("ContactCeaseRequested", 1, "reason", "text"),
        ("DebtDisputed", 1, "reason", "text"),
        ("DisputeResolved", 1, "answer", "text"),
        ("PlanDeclined", 1, "reason", "text"),
        ("PlanRejected", 1, "reason", "text"),
        ("PlanCancelled", 1, "reason", "text"),
    }


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["phone", "email"]
    value: Annotated[str, Personal(kind_from="kind")]
    remark: Annotated[str, Personal("text")] | None = None


class Nested(EventData):
    event_type: ClassVar[str] = "Nested"

    notes: list[Note]
    author: Annotated[str, Personal("name")]
    tags: list[Annotated[str, Personal("text")]] = []


def test_nested_models_and_lists_have_stable_paths_and_kinds() -> None:
    catalogue = Catalogue([Nested])
    paths = [f.dotted for f in catalogue.personal_fields("Nested", 1)]
    assert paths == ["notes.*.value", "notes.*.remark", "author", "tags.*"]
    assert catalogue.personal_fields("Nested", 1) is catalogue.personal_fields("Nested", 1)
    data = Nested(
        notes=[
            Note(kind="phone", value="01065529988"),
            Note(kind="email", value="a@b.cn", remark="call after 6"),
        ],
        author="张伟",
        tags=["", "x"],
    ).model_dump(mode="json")
    assert catalogue.personal_values("Nested", 1, data) == [
        PersonalValue("notes.0.value", "phone", "01065529988"),
        PersonalValue("notes.1.value", "email", "a@b.cn"),
        PersonalValue("notes.1.remark", "text", "call after 6"),
        PersonalValue("author", "name", "张伟"),
        PersonalValue("tags.1", "text", "x"),  # an empty string holds nothing personal
    ]


def test_a_wrong_declaration_is_refused_when_registered() -> None:
    class OnANumber(EventData):
        event_type: ClassVar[str] = "OnANumber"
        income: Annotated[int, Personal("text")]

    class KindFromNothing(EventData):
        event_type: ClassVar[str] = "KindFromNothing"
        value: Annotated[str, Personal(kind_from="kind")]

    class KindFromFreeText(EventData):
        event_type: ClassVar[str] = "KindFromFreeText"
        kind: str
        value: Annotated[str, Personal(kind_from="kind")]

    with pytest.raises(TypeError, match="text fields only"):
        Catalogue([OnANumber])
    with pytest.raises(TypeError, match="sibling Literal"):
        Catalogue([KindFromNothing])
    with pytest.raises(TypeError, match="sibling Literal"):
        Catalogue([KindFromFreeText])
    with pytest.raises(ValueError, match="exactly one"):
        Personal()
    with pytest.raises(ValueError, match="unknown kind"):
        Personal("address")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("phone", "01065529988", "*******9988"),
        ("phone", "138.1234.5678", "***.****.5678"),
        ("phone", "１３８１２３４５６７８", "*******５６７８"),  # noqa: RUF001
        ("email", "用户@例子.广告", "用***@例子.广告"),
        ("id_number", "11010119900307123X", "110***********123X"),
        ("name", "张伟", "张*"),
        ("name", "Zhang Wei", "Z********"),
        ("text", "call me on 0755 8601 3388", "‹withheld: 25 characters›"),  # noqa: RUF001
        ("text", "x", "‹withheld: 1 character›"),  # noqa: RUF001
    ],
)
def test_masking_by_declared_kind(kind: str, value: str, masked: str) -> None:
    assert mask(value, kind) == masked  # type: ignore[arg-type]
    assert value not in masked


def test_who_sees_which_kind_is_declared_once() -> None:
    for kind in ("phone", "email", "id_number"):
        assert not may_see("compliance", kind)  # type: ignore[arg-type]
    for kind in ("phone", "email", "id_number", "name"):
        assert may_see("agent", kind)  # type: ignore[arg-type]
    # The report to a regulator names the borrower; a name reaches no one.
    assert may_see("compliance", "name") and not may_see("ops", "name")
    assert may_see("compliance", "text") and may_see("supervisor", "text")
    assert not may_see("ops", "text") and not may_see("integrator", "text")
    assert show("compliance", "my reason", "text") == "my reason"
    assert show("ops", "my reason", "text") == "‹withheld: 9 characters›"  # noqa: RUF001
