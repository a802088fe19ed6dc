"""Synchronous ingest of integrators' events over HTTP: a result per event."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.accounts.service_layer.handlers import InboundHandler
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.envelope import Envelope, decode_envelope
from shared.errors import ConcurrencyError, InvalidEvent, Rejected

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True)
class IngestResult:
    """What became of one submitted event."""

    index: int
    event_id: str | None
    status: Status
    reason: str | None = None


async def ingest(
    raw_events: Sequence[Any],
    *,
    uow_factory: Callable[[], AccountsUnitOfWork],
    handler: InboundHandler,
    catalogue: Catalogue,
    ledger_name: str,
    inbound_topic: str,
    principal: Principal,
    now: datetime,
) -> list[IngestResult]:
    """Apply each event in its own transaction, as the inbound consumer would.

    An accepted event is also published to the inbound topic, so every other consumer
    (audit above all) sees it exactly as if the integrator had published it there; the
    inbound consumer then finds it in the ledger and does nothing twice. An event whose
    `occurred_at` lies ahead of `now` (beyond the clock-skew tolerance) is refused.
    """
    results = []
    for index, raw in enumerate(raw_events):
        event_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None
        try:
            env = catalogue.validate(decode_envelope(raw), now=now)
        except InvalidEvent as exc:
            results.append(IngestResult(index, event_id, "rejected", exc.reason))
            continue
        for attempt in range(3):
            try:
                results.append(
                    IngestResult(
                        index,
                        str(env.id),
                        await _apply(
                            _as_submitted_by(env, principal),
                            uow_factory,
                            handler,
                            ledger_name,
                            inbound_topic,
                        ),
                    )
                )
                break
            except Rejected as exc:
                results.append(IngestResult(index, str(env.id), "rejected", exc.reason))
                break
            except ConcurrencyError:
                # Someone else wrote this account meanwhile; reload and decide again.
                if attempt == 2:
                    results.append(
                        IngestResult(
                            index,
                            str(env.id),
                            "rejected",
                            "the account changed concurrently; retry",
                        )
                    )
    async with uow_factory() as uow:
        await uow.submissions.record(
            principal.subject,
            [
                (r.event_id, r.status, r.reason)
                for r in results
                if r.event_id and _is_uuid(r.event_id)
            ],
        )
        await uow.commit()
    return results


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _as_submitted_by(env: Envelope, principal: Principal) -> Envelope:
    """Server-owned fields (OWASP API3): the source and actor are the token's, not the body's."""
    metadata = {**env.metadata, "actor": principal.actor()}
    return env.model_copy(update={"source": principal.subject, "metadata": metadata})


async def _apply(
    env: Envelope,
    uow_factory: Callable[[], AccountsUnitOfWork],
    handler: InboundHandler,
    ledger_name: str,
    inbound_topic: str,
) -> Status:
    async with uow_factory() as uow:
        if await uow.processed.seen(ledger_name, str(env.id)):
            return "duplicate"
        # recorded_at is the server's to set, whatever the client sent.
        fact = env.recorded(uow.now)
        await handler(uow, fact)
        await uow.outbox.add(inbound_topic, [fact])
        await uow.processed.add(ledger_name, str(env.id))
        await uow.commit()
    return "accepted"
