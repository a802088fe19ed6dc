"""The event catalogue: one typed model per (event type, schema version), with upcasters."""

from __future__ import annotations

import json
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.bounds import not_in_future
from shared.envelope import Envelope
from shared.errors import InvalidEvent, UnknownEventType, describe_validation_error
from shared.pii import PERSONAL_KINDS, PersonalKind

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Personal:
    """Marks an event field as personal data: `value: Annotated[str, Personal("phone")]`.

    `kind` is what the field holds (see shared.pii.PersonalKind); or `kind_from` names a
    sibling field whose value is the kind (a contact point's `kind`: phone or email).
    Audit keeps such a field out of its hash chain and masks it by kind on every read.
    """

    kind: PersonalKind | None = None
    kind_from: str | None = None

    def __post_init__(self) -> None:
        if (self.kind is None) == (self.kind_from is None):
            raise ValueError("Personal takes a kind or kind_from, exactly one")
        if self.kind is not None and self.kind not in PERSONAL_KINDS:
            raise ValueError(f"unknown kind of personal data {self.kind!r}")


@dataclass(frozen=True)
class FieldPath:
    """One field of an event's data, however deep: `("terms", "notes", "*")`, `*` a list item."""

    path: tuple[str, ...]
    annotation: Any
    personal: Personal | None

    @property
    def dotted(self) -> str:
        """The path as text, `*` standing for any list index: "reasons.*"."""
        return ".".join(self.path)

    @property
    def is_str(self) -> bool:
        """Whether the field holds text."""
        return _is_str(self.annotation)


@dataclass(frozen=True)
class PersonalValue:
    """One personal value found in an event's data: where (list indices filled in), what kind."""

    path: str
    kind: PersonalKind
    value: str


def _is_str(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _is_str(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return bool(options) and all(_is_str(a) for a in options)
    return False


def _personal_of(metadata: Iterable[Any]) -> Personal | None:
    found = [m for m in metadata if isinstance(m, Personal)]
    return found[0] if found else None


def _walk(annotation: Any, path: tuple[str, ...], personal: Personal | None) -> Iterator[FieldPath]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = get_args(annotation)
        yield from _walk(inner, path, personal or _personal_of(metadata))
    elif origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1 or all(_is_str(a) for a in options):
            yield from _walk(options[0], path, personal)
        else:
            for option in options:
                yield from _walk(option, path, personal)
    elif origin in (list, tuple, set, frozenset, Sequence):
        for item in get_args(annotation)[:1]:
            yield from _walk(item, (*path, "*"), personal)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if personal is not None:
            raise TypeError(f"{'.'.join(path)}: Personal marks text fields, not a whole model")
        yield from model_fields(annotation, path)
    else:
        yield FieldPath(path, annotation, personal)


def model_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[FieldPath]:
    """Every leaf field of a model, nested models and list items included, in field order."""
    for name, info in model.model_fields.items():
        yield from _walk(info.annotation, (*prefix, name), _personal_of(info.metadata))


def _check(model: type[EventData], fields: Iterable[FieldPath]) -> None:
    """A Personal marker on a non-text field, or a kind_from that names no kind field, is a
    mistake in the catalogue: refused when the model is registered."""
    by_path = {f.path: f for f in model_fields(model)}
    for f in fields:
        assert f.personal is not None
        if not f.is_str:
            raise TypeError(f"{model.__name__}.{f.dotted}: Personal marks text fields only")
        if f.personal.kind_from is not None:
            sibling = by_path.get((*f.path[:-1], f.personal.kind_from))
            kinds = get_args(sibling.annotation) if sibling is not None else ()
            if sibling is None or get_origin(sibling.annotation) is not Literal or not kinds:
                raise TypeError(
                    f"{model.__name__}.{f.dotted}: kind_from {f.personal.kind_from!r} "
                    "must name a sibling Literal field"
                )
            unknown = set(kinds) - set(PERSONAL_KINDS)
            if unknown:
                raise TypeError(
                    f"{model.__name__}.{f.dotted}: {f.personal.kind_from} may be "
                    f"{sorted(unknown)}, which is no kind of personal data"
                )


def _find(
    node: Any, path: tuple[str, ...], done: tuple[str, ...]
) -> Iterator[tuple[str, Any, Any]]:
    """(concrete dotted path, value, parent mapping) of every value at `path` in `node`."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _step(item, rest, (*done, str(i)), node)
        return
    if isinstance(node, Mapping) and head in node:
        yield from _step(node[head], rest, (*done, head), node)


def _step(
    value: Any, rest: tuple[str, ...], done: tuple[str, ...], parent: Any
) -> Iterator[tuple[str, Any, Any]]:
    if rest:
        yield from _find(value, rest, done)
    else:
        yield ".".join(done), value, parent


class EventData(BaseModel):
    """Base of every event's `data` model; subclasses set `event_type` and `schema_version`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


class Catalogue:
    """Every event type arrears knows, by (type, version), and how old versions upcast."""

    def __init__(self, models: Iterable[type[EventData]] = ()) -> None:
        self._models: dict[tuple[str, int], type[EventData]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._latest: dict[str, int] = {}
        for model in models:
            self.register(model)

    def register(self, model: type[EventData]) -> type[EventData]:
        """Add a model; a (type, version) may be registered once."""
        key = (model.event_type, model.schema_version)
        if key in self._models:
            raise ValueError(f"{key} is already registered")
        _check(model, _declared(model))
        self._models[key] = model
        self._latest[model.event_type] = max(
            model.schema_version, self._latest.get(model.event_type, 0)
        )
        return model

    def register_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """Add the function that turns `from_version` data into `from_version + 1` data."""
        self._upcasters[(event_type, from_version)] = fn

    def types(self) -> list[str]:
        """Every known event type, sorted."""
        return sorted({t for t, _ in self._models})

    def latest_version(self, event_type: str) -> int:
        """The newest schema version of a type."""
        try:
            return self._latest[event_type]
        except KeyError:
            raise UnknownEventType(f"type: unknown event type {event_type!r}") from None

    def model(self, event_type: str, version: int) -> type[EventData]:
        """The model of one (type, version)."""
        try:
            return self._models[(event_type, version)]
        except KeyError:
            if any(t == event_type for t, _ in self._models):
                raise UnknownEventType(
                    f"schema_version: {event_type} has no version {version}"
                ) from None
            raise UnknownEventType(f"type: unknown event type {event_type!r}") from None

    def personal_fields(self, event_type: str, version: int) -> tuple[FieldPath, ...]:
        """The fields of one (type, version) declared personal, in field order."""
        return _declared(self.model(event_type, version))

    def personal_values(
        self, event_type: str, version: int, data: Mapping[str, Any]
    ) -> list[PersonalValue]:
        """Every non-empty personal value in `data` (of that type and version), with its kind."""
        out = []
        for f in self.personal_fields(event_type, version):
            assert f.personal is not None
            for path, value, parent in _find(data, f.path, ()):
                if not isinstance(value, str) or not value:
                    continue  # absent, null or empty: nothing personal in it
                kind = f.personal.kind or parent.get(f.personal.kind_from)
                if kind not in PERSONAL_KINDS:
                    raise ValueError(f"{event_type}.{path}: no kind of personal data {kind!r}")
                out.append(PersonalValue(path, kind, value))
        return out

    def upcast(self, envelope: Envelope) -> Envelope:
        """The envelope with its data upcast to the latest version; never rewrites the source."""
        latest = self.latest_version(envelope.type)
        self.model(envelope.type, envelope.schema_version)  # rejects unknown versions
        data, version = dict(envelope.data), envelope.schema_version
        while version < latest:
            fn = self._upcasters.get((envelope.type, version))
            if fn is None:
                raise UnknownEventType(
                    f"schema_version: no upcaster for {envelope.type} v{version}"
                )
            data, version = fn(data), version + 1
        if version == envelope.schema_version:
            return envelope
        return envelope.model_copy(update={"data": data, "schema_version": version})

    def validate(self, envelope: Envelope, *, now: datetime | None = None) -> Envelope:
        """Upcast and validate; the result's data is normalised JSON of the latest model.

        With `now` (where integrators' events enter), an event that claims to have
        occurred in the future is refused too.
        """
        if now is not None and (reason := not_in_future(envelope.occurred_at, now)):
            raise InvalidEvent(reason)
        upcast = self.upcast(envelope)
        parsed = self.parse(upcast)
        valid = upcast.model_copy(update={"data": parsed.model_dump(mode="json")})
        valid._typed = (valid.data, parsed)
        return valid

    def parse(self, envelope: Envelope) -> EventData:
        """The typed data of an envelope already at a known version."""
        model = self.model(envelope.type, envelope.schema_version)
        typed = envelope._typed
        # Only for the very dict it was validated from: a copy with other data re-parses.
        if typed is not None and typed[0] is envelope.data and type(typed[1]) is model:
            return typed[1]
        try:
            return model.model_validate(envelope.data)
        except ValidationError as exc:
            raise InvalidEvent(describe_validation_error(exc, prefix="data")) from exc

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of every (type, version), keyed `Type.vN`."""
        return {f"{t}.v{v}": m.model_json_schema() for (t, v), m in sorted(self._models.items())}

    def export(self, directory: Path) -> list[Path]:
        """Write one JSON Schema file per (type, version) into a directory."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, schema in self.json_schemas().items():
            path = directory / f"{name}.schema.json"
            path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
            written.append(path)
        return written


@cache
def _declared(model: type[EventData]) -> tuple[FieldPath, ...]:
    return tuple(f for f in model_fields(model) if f.personal is not None)


def new_envelope(
    data: EventData,
    *,
    account_id: str,
    occurred_at: datetime,
    source: str,
    recorded_at: datetime | None = None,
    cause: Envelope | None = None,
    metadata: dict[str, Any] | None = None,
) -> Envelope:
    """Wrap event data in an envelope; `cause` links correlation, causation and the actor."""
    meta = dict(cause.metadata) if cause is not None else {}
    meta.update(metadata or {})
    return Envelope(
        id=uuid.uuid4(),
        type=data.event_type,
        schema_version=data.schema_version,
        account_id=account_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source=source,
        data=data.model_dump(mode="json"),
        correlation_id=(cause.correlation_id or cause.id) if cause is not None else None,
        causation_id=cause.id if cause is not None else None,
        metadata=meta,
    )
