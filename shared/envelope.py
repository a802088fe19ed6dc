"""The envelope every arrears event travels in, on the wire and in every store."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidEvent, describe_validation_error

MAX_ACCOUNT_ID_LENGTH = 64


class Envelope(BaseModel):
    """One event: who it is about, what happened, when, and who said so.

    `occurred_at` is when the thing happened in the world; `recorded_at` is when an
    arrears service recorded it. The two differ for backdated facts and both matter
    to audit ("as of" works on either axis).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    type: str = Field(min_length=1, max_length=100)
    schema_version: int = Field(ge=1)
    account_id: str = Field(min_length=1, max_length=MAX_ACCOUNT_ID_LENGTH)
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime | None = None
    source: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        """Serialise to the canonical wire form (UTF-8 JSON)."""
        return self.model_dump_json(exclude_none=False).encode()

    def key(self) -> bytes:
        """The Kafka key: the account id, so one account's events stay in order."""
        return self.account_id.encode()

    def recorded(self, at: datetime, source: str | None = None) -> Envelope:
        """A copy stamped as recorded at `at` (and optionally by `source`)."""
        changes: dict[str, Any] = {"recorded_at": at}
        if source is not None:
            changes["source"] = source
        return self.model_copy(update=changes)


def decode_envelope(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Parse an envelope from bytes, text or a dict, or raise InvalidEvent naming the field."""
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidEvent(f"malformed JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEvent("an event must be a JSON object")
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc, prefix="")) from exc


def new_event_id() -> uuid.UUID:
    """A fresh event id."""
    return uuid.uuid4()
