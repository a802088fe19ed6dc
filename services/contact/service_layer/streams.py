"""Writing contact's events, and reading the borrower's wishes back from the contact stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from services.contact.domain.compliance import AgreedException, ConsumerState
from services.contact.domain.contact_points import ContactBook
from services.contact.service_layer.unit_of_work import ContactUnitOfWork, contact_stream
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.topics import Topics

SOURCE = "contact"


def envelope_of(
    uow: ContactUnitOfWork,
    account_id: str,
    data: EventData,
    *,
    cause: Envelope | None = None,
    actor: dict[str, str] | None = None,
) -> Envelope:
    """An event of contact's, caused by a consumed event or done by an actor, now."""
    return new_envelope(
        data,
        account_id=account_id,
        occurred_at=cause.occurred_at if cause is not None else uow.now,
        recorded_at=uow.now,
        source=SOURCE,
        cause=cause,
        metadata={"actor": actor} if actor is not None else None,
    )


async def append_contact(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    version: int,
    decided: Sequence[EventData],
    *,
    cause: Envelope | None = None,
    actor: dict[str, str] | None = None,
) -> int:
    """Append to the account's contact stream after `version`; returns the new version."""
    if not decided:
        return version
    envs = [envelope_of(uow, account_id, d, cause=cause, actor=actor) for d in decided]
    return await uow.record(contact_stream(account_id), version, envs, topics.contact)


def consumer_state(time_zone: str, events: list[Envelope]) -> ConsumerState:
    """What the borrower asked for, and whether they are reachable, from their contact stream."""
    opted_out: set[str] = set()
    cease = False
    exceptions: list[AgreedException] = []
    inconvenient: tuple[tuple[time, time], ...] = ()
    for env in events:
        match env.type:
            case "ContactPreferencesSet":
                inconvenient = tuple(
                    (time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
                    for w in env.data["inconvenient_hours"]
                )
            case "ContactChannelOptedOut":
                opted_out.add(env.data["channel"])
            case "ContactCeaseRequested":
                cease = True
            case "CallbackAgreed":
                d = env.data
                exceptions.append(
                    AgreedException(
                        exception_id=d["exception_id"],
                        slot_start=datetime.fromisoformat(d["slot_start"]),
                        channel=d["channel"],
                        debt_id=d.get("debt_id"),
                    )
                )
    return ConsumerState(
        time_zone=time_zone,
        cease_requested=cease,
        disputed_debts=open_disputes(events),
        opted_out_channels=frozenset(opted_out),  # type: ignore[arg-type]
        lost_contact=ContactBook.from_events(events).lost,
        exceptions=tuple(exceptions),
        inconvenient_hours=inconvenient,
    )


def open_disputes(events: list[Envelope]) -> frozenset[str]:
    """The debts the borrower disputes whose dispute nobody has resolved yet."""
    disputed: set[str] = set()
    for env in events:
        if env.type == "DebtDisputed":
            disputed.add(env.data["debt_id"])
        elif env.type == "DisputeResolved":
            disputed.discard(env.data["debt_id"])
    return frozenset(disputed)


def preferred_channels(events: list[Envelope]) -> list[str]:
    """The channels the borrower prefers, best first, from their latest preferences."""
    latest: list[str] = []
    for env in events:
        if env.type == "ContactPreferencesSet":
            latest = list(env.data["preferred_channels"])
    return latest
