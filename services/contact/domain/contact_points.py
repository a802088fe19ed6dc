"""The borrower's contact points (phones, e-mails), their verification, and lost contact (失联).

Pure: no I/O. Values are personal data: they live in events and the API masks them per
role; nothing here ever logs them, and no error message quotes one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.contact.domain.policy import LostContactRule
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.contact import (
    ContactChannel,
    ContactLost,
    ContactPointAdded,
    ContactPointInvalidated,
    ContactPointKind,
    ContactPointSource,
    ContactPointVerificationFailed,
    ContactPointVerified,
)

PointStatus = Literal["unverified", "verified", "invalid"]
FAILED_OUTCOMES = frozenset({"no_answer", "wrong_number"})
"""Outcomes that reached nobody."""
DELIVERED_OUTCOMES = frozenset({"sent"})
"""A written message handed to its provider: it proves nobody was reached, and fails nothing."""
NO_CONVERSATION = FAILED_OUTCOMES | DELIVERED_OUTCOMES
"""Every other outcome of a debtor contact was a conversation."""
KIND_OF_CHANNEL: dict[str, ContactPointKind] = {"call": "phone", "sms": "phone", "email": "email"}
"""The channels that use a contact point; app push and letters do not."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,30}$")


def normalise(kind: ContactPointKind, value: str) -> str:
    """The canonical form of a value, so one address is known once; refuses nonsense.

    The message names the field and the rule, never the value (it is personal data).
    """
    text = value.strip()
    if kind == "email":
        if not _EMAIL.match(text):
            raise Rejected("value: not an e-mail address (local@domain)")
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if not _PHONE.match(text) or not 7 <= sum(c.isdigit() for c in text) <= 15:
        raise Rejected("value: not a phone number (7 to 15 digits, optionally after +)")
    return ("+" if text.startswith("+") else "") + "".join(c for c in text if c.isdigit())


@dataclass
class ContactPoint:
    """One phone number or e-mail address and what we know of it."""

    point_id: str
    kind: ContactPointKind
    value: str
    source: ContactPointSource
    status: PointStatus = "unverified"


@dataclass(frozen=True)
class Attempt:
    """A recorded attempt as lost-contact reasoning needs it."""

    attempt_id: str
    channel: ContactChannel
    at: datetime
    outcome: str
    party: str = "debtor"
    contact_point_id: str | None = None


@dataclass
class ContactBook:
    """An account's contact points, attempts and lost-contact state, from its contact stream."""

    points: dict[str, ContactPoint] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    lost: bool = False
    """A ContactLost since the last conversation with the borrower."""

    @classmethod
    def from_events(cls, events: Iterable[Envelope]) -> ContactBook:
        """Replay the contact stream (events about other things are ignored)."""
        book = cls()
        for env in events:
            book.apply(env)
        return book

    def apply(self, env: Envelope) -> None:
        """Change state by one event."""
        d = env.data
        match env.type:
            case "ContactPointAdded":
                self.points[d["point_id"]] = ContactPoint(
                    d["point_id"],
                    d["kind"],
                    d["value"],
                    d["source"],
                )
            case "ContactPointVerified":
                self.points[d["point_id"]].status = "verified"
            case "ContactPointInvalidated":
                self.points[d["point_id"]].status = "invalid"
            case "ContactLost":
                self.lost = True
            case "ContactAttemptRecorded":
                attempt = Attempt(
                    attempt_id=d["attempt_id"],
                    channel=d["channel"],
                    at=datetime.fromisoformat(d["at"]),
                    outcome=d["outcome"],
                    party=d.get("party", "debtor"),
                    contact_point_id=d.get("contact_point_id"),
                )
                self.attempts.append(attempt)
                if attempt.party == "debtor" and attempt.outcome not in NO_CONVERSATION:
                    self.lost = False  # we talked to the borrower: reachable again

    def point(self, point_id: str) -> ContactPoint:
        """A known point, or a LookupError (404) naming its id."""
        try:
            return self.points[point_id]
        except KeyError:
            raise LookupError(f"no contact point {point_id} on this account") from None

    def find(self, kind: ContactPointKind, value: str) -> ContactPoint | None:
        """The point with this (normalised) value, if known."""
        return next((p for p in self.points.values() if p.kind == kind and p.value == value), None)

    def add(
        self,
        kind: ContactPointKind,
        value: str,
        source: ContactPointSource,
        *,
        request_id: str | None = None,
    ) -> ContactPointAdded | None:
        """A new point; None when the same address is known already (from anyone)."""
        canonical = normalise(kind, value)
        if self.find(kind, canonical) is not None:
            return None
        return ContactPointAdded(
            point_id=f"cp-{uuid.uuid4().hex[:12]}",
            kind=kind,
            value=canonical,
            source=source,
            request_id=request_id,
        )

    def otp_result(
        self, point_id: str, passed: bool
    ) -> ContactPointVerified | ContactPointVerificationFailed:
        """A one-time password's result for a point; an invalid point cannot be verified."""
        point = self.point(point_id)
        if point.status == "invalid":
            raise Rejected(
                f"contact point {point_id} was invalidated (wrong number); add it again "
                "if the borrower confirms it"
            )
        if passed:
            return ContactPointVerified(point_id=point_id, method="otp")
        return ContactPointVerificationFailed(point_id=point_id)

    def check_point_for(self, point_id: str, channel: ContactChannel) -> None:
        """Refuse an attempt naming a point that does not exist or cannot carry the channel."""
        point = self.point(point_id)
        if KIND_OF_CHANNEL.get(channel) != point.kind:
            raise Rejected(
                f"contact_point_id: {point_id} is a {point.kind}; {channel} cannot use it"
            )

    def after_wrong_number(self, attempt: Attempt) -> ContactPointInvalidated | None:
        """The point a wrong-number outcome proved wrong, invalidated.

        The attempt's own point when it names one; otherwise the only valid point of the
        channel's kind. With several candidates and none named, nothing is invalidated:
        guessing could throw away the one number that works.
        """
        if attempt.outcome != "wrong_number":
            return None
        if attempt.contact_point_id is not None:
            point = self.points.get(attempt.contact_point_id)
            candidates = [point] if point is not None and point.status != "invalid" else []
        else:
            kind = KIND_OF_CHANNEL.get(attempt.channel)
            candidates = [
                p for p in self.points.values() if p.kind == kind and p.status != "invalid"
            ]
        if len(candidates) != 1:
            return None
        return ContactPointInvalidated(
            point_id=candidates[0].point_id,
            reason=f"{attempt.channel} attempt {attempt.attempt_id}: wrong number",
            attempt_id=attempt.attempt_id,
        )

    def lost_contact(
        self, rule: LostContactRule, now: datetime, zone: ZoneInfo
    ) -> ContactLost | None:
        """ContactLost when every known channel failed enough within the window, else None.

        The window is the last `window_days` local calendar days up to `now` (today
        included), counting only attempts after the last conversation with the borrower.
        A point is failed when it is invalid or had `failed_attempts` failures in the
        window: on attempts that named it, or, when an attempt named no point, on every
        point of the channel's kind. No known points: nothing to conclude from.
        """
        if self.lost or not self.points:
            return None
        today = now.astimezone(zone).date()
        first_day = today - timedelta(days=rule.window_days - 1)
        talked = [
            a.at for a in self.attempts if a.party == "debtor" and a.outcome not in NO_CONVERSATION
        ]
        since = max(talked) if talked else None
        failures = [
            a
            for a in self.attempts
            if a.party == "debtor"
            and a.outcome in FAILED_OUTCOMES
            and first_day <= a.at.astimezone(zone).date() <= today
            and (since is None or a.at > since)
        ]
        if not failures:
            return None

        def failed(point: ContactPoint) -> int:
            return sum(
                1
                for a in failures
                if a.contact_point_id == point.point_id
                or (a.contact_point_id is None and KIND_OF_CHANNEL.get(a.channel) == point.kind)
            )

        valid = [p for p in self.points.values() if p.status != "invalid"]
        if any(failed(p) < rule.failed_attempts for p in valid):
            return None
        return ContactLost(
            request_id=f"st-{uuid.uuid4().hex[:12]}",
            failed_attempts=len(failures),
            window_days=rule.window_days,
            point_ids=sorted(self.points),
        )
