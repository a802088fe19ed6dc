"""Adding contact points and recording their verification; values are never logged."""

from __future__ import annotations

from services.contact.domain.contact_points import ContactBook, normalise
from services.contact.service_layer.cases import Conflict
from services.contact.service_layer.streams import append_contact, envelope_of
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.catalogue import EventData
from shared.envelope import Envelope
from shared.events.contact import (
    ContactDetailsShown,
    ContactPointKind,
    ContactPointSource,
    ContactPointVerified,
)
from shared.topics import Topics


async def add_point(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    *,
    kind: ContactPointKind,
    value: str,
    source: ContactPointSource,
    verified: bool,
    actor: dict[str, str],
) -> str:
    """Record a new contact point (verified only when an integrator vouches); its id."""
    if await uow.accounts.borrower(account_id) is None:
        raise LookupError(f"no account {account_id}")
    events, version = await uow.contact_log(account_id)
    book = ContactBook.from_events(events)
    added = book.add(kind, value, source)
    if added is None:
        raise Conflict(f"this {kind} is already a contact point of account {account_id}")
    decided: list[EventData] = [added]
    if verified:
        decided.append(ContactPointVerified(point_id=added.point_id, method="integrator"))
    await append_contact(uow, topics, account_id, version, decided, actor=actor)
    return added.point_id


async def otp_result(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    point_id: str,
    passed: bool,
    actor: dict[str, str],
) -> str:
    """Record whether a one-time password sent to a point was confirmed; the event type."""
    events, version = await uow.contact_log(account_id)
    result = ContactBook.from_events(events).otp_result(point_id, passed)
    await append_contact(uow, topics, account_id, version, [result], actor=actor)
    return result.event_type


async def point_reported(uow: ContactUnitOfWork, topics: Topics, env: Envelope) -> None:
    """An integrator's ContactPointReported: a new point (verified if it vouches), or, for a
    point already known, its verification; a repeat changes nothing."""
    data = env.data
    events, version = await uow.contact_log(env.account_id)
    book = ContactBook.from_events(events)
    known = book.find(data["kind"], normalise(data["kind"], data["value"]))
    decided: list[EventData] = []
    if known is None:
        added = book.add(data["kind"], data["value"], "integrator")
        assert added is not None
        decided.append(added)
        point_id = added.point_id
    else:
        point_id = known.point_id
    if data["verified"] and (known is None or known.status == "unverified"):
        decided.append(ContactPointVerified(point_id=point_id, method="integrator"))
    await append_contact(uow, topics, env.account_id, version, decided, cause=env)


def access_stream(account_id: str) -> str:
    """The stream of who was shown an account's contact details (apart from the contact
    stream, so a read never races the writes that matter)."""
    return f"contact-access-{account_id}"


async def details_shown(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    point_ids: list[str],
    actor: dict[str, str],
) -> None:
    """Record that `actor` was shown these points unmasked; the caller commits."""
    _, version = await uow.events.load(access_stream(account_id))
    shown = ContactDetailsShown(viewer=actor["subject"], role=actor["role"], point_ids=point_ids)
    envelope = envelope_of(uow, account_id, shown, actor=actor)
    await uow.record(access_stream(account_id), version, [envelope], topics.contact)
