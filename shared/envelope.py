"""The envelope every arrears event travels in, on the wire and in every store."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from shared.bounds import Instant
from shared.errors import InvalidEvent, describe_validation_error

MAX_ACCOUNT_ID_LENGTH = 64
ACCOUNT_ID_PATTERN = r"^(?:\*|[A-Za-z0-9][A-Za-z0-9._:@-]{0,63})$"
"""Account ids are printable ASCII without spaces, quotes or slashes: they name files
(exports), URL paths and Kafka keys, so nothing in them needs escaping; `*` is the
platform-wide account of a day close for every account."""


class Actor(BaseModel):
    """Who caused an event: the token's subject and role (server-owned, never from a body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=20, pattern=r"^[a-z_]+$")


class EventMetadata(BaseModel):
    """The envelope's metadata: a closed set of keys, so nothing else (and no PII) rides along.

    `actor` is set by the service that accepted the request; `trace` is an integrator's
    own correlation token, carried unchanged into every event it causes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Actor | None = None
    trace: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[!-~]+$")


class Envelope(BaseModel):
    """One event: who it is about, what happened, when, and who said so.

    `occurred_at` is when the thing happened in the world; `recorded_at` is when an
    arrears service recorded it. The two differ for backdated facts and both matter
    to audit ("as of" works on either axis).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    type: str = Field(min_length=1, max_length=100)
    schema_version: int = Field(ge=1, le=1000)
    account_id: str = Field(
        min_length=1, max_length=MAX_ACCOUNT_ID_LENGTH, pattern=ACCOUNT_ID_PATTERN
    )
    occurred_at: Instant
    recorded_at: Instant | None = None
    source: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="keys of EventMetadata only: actor, trace"
    )
    # The typed data the catalogue validated this very `data` dict into (see
    # Catalogue.parse): a record is validated once, not again by each handler.
    _typed: tuple[dict[str, Any], Any] | None = PrivateAttr(default=None)

    @field_validator("metadata", mode="before")
    @classmethod
    def _known_metadata(cls, value: Any) -> Any:
        # Kept a plain dict for readers, validated against the closed model: unknown keys,
        # deep nesting and oversized values are refused here, with the key named.
        if not isinstance(value, dict):
            raise ValueError("metadata must be an object")
        return EventMetadata.model_validate(value).model_dump(exclude_none=True)

    def __eq__(self, other: object) -> bool:
        # The same event whether or not its data was parsed already (pydantic would compare
        # the private cache too).
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.__dict__ == other.__dict__

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
        except RecursionError:
            raise InvalidEvent("malformed JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise InvalidEvent("an event must be a JSON object")
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc, prefix="")) from exc
    except RecursionError:
        raise InvalidEvent("event: nested too deeply") from None


def new_event_id() -> uuid.UUID:
    """A fresh event id."""
    return uuid.uuid4()
