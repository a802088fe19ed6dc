"""The event catalogue: one typed model per (event type, schema version), with upcasters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.bounds import not_in_future
from shared.envelope import Envelope
from shared.errors import InvalidEvent, UnknownEventType, describe_validation_error

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


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
        return upcast.model_copy(update={"data": parsed.model_dump(mode="json")})

    def parse(self, envelope: Envelope) -> EventData:
        """The typed data of an envelope already at a known version."""
        model = self.model(envelope.type, envelope.schema_version)
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
