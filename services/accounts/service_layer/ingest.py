"""Synchronous ingest of integrators' events over HTTP: a result per event."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from services.accounts.service_layer.handlers import InboundHandler
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.db import retry_transient
from shared.envelope import Envelope, decode_envelope
from shared.errors import ConcurrencyError, InvalidEvent, Rejected
from shared.events.inbound import AccountOpened

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
    scoped: bool = False,
    correlation_id: uuid.UUID | None = None,
) -> list[IngestResult]:
    """Apply the batch's events in order in one transaction, as the inbound consumer would.

    The whole batch is validated before anything is applied, and the submission records
    are written in the same transaction as the effects: whatever stops a batch midway,
    every event is either applied and recorded or neither (a retry of the batch then
    finds the applied ones duplicates and applies the rest). A refused event changes
    nothing (decisions run on a copy of the account), so the others still apply. If
    another writer changed one of the accounts meanwhile, the batch is rolled back and
    applied event by event, each in its own transaction, reloading on a clash.

    An accepted event is also published to the inbound topic, so every other consumer
    (audit above all) sees it exactly as if the integrator had published it there; the
    inbound consumer then finds it in the ledger and does nothing twice. An event whose
    `occurred_at` lies ahead of `now` (beyond the clock-skew tolerance) is refused.
    If `scoped`, an event for an account another integrator opened is refused exactly as
    one for an unknown account. An event that names no correlation id takes
    `correlation_id` (the request's), so every event it causes carries that id.
    """
    results: dict[int, IngestResult] = {}
    valid: list[tuple[int, Envelope]] = []
    for index, raw in enumerate(raw_events):
        event_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None
        try:
            valid.append((index, catalogue.validate(decode_envelope(raw), now=now)))
        except InvalidEvent as exc:
            results[index] = IngestResult(index, event_id, "rejected", exc.reason)
    submitter = principal.subject
    submitted = [(index, _as_submitted_by(env, principal, correlation_id)) for index, env in valid]
    batch = _Batch(uow_factory, handler, ledger_name, inbound_topic, submitter, scoped)
    try:
        results.update(await retry_transient(partial(batch.apply, submitted), "ingest batch"))
        return [results[i] for i in sorted(results)]
    except ConcurrencyError:
        pass  # another writer touched one of these accounts: event by event, with retries
    for index, env in submitted:
        for attempt in range(3):
            try:
                one = partial(
                    _apply, env, uow_factory, handler, ledger_name, inbound_topic, submitter, scoped
                )
                status = await retry_transient(one, "ingest of one event")
                results[index] = IngestResult(index, str(env.id), status)
                break
            except Rejected as exc:
                results[index] = IngestResult(index, str(env.id), "rejected", exc.reason)
                break
            except ConcurrencyError:
                # Someone else wrote this account meanwhile; reload and decide again.
                if attempt == 2:
                    results[index] = IngestResult(
                        index, str(env.id), "rejected", "the account changed concurrently; retry"
                    )
    ordered = [results[i] for i in sorted(results)]
    # Refusals and duplicates changed nothing, so they are recorded together at the end.
    unapplied = [
        (r.event_id, r.status, r.reason)
        for r in ordered
        if r.status != "accepted" and r.event_id and _is_uuid(r.event_id)
    ]
    if unapplied:

        async def record() -> None:
            async with uow_factory() as uow:
                await uow.submissions.record(submitter, unapplied)
                await uow.commit()

        await retry_transient(record, "ingest's submission record")
    return ordered


@dataclass(frozen=True)
class _Batch:
    """A whole batch in one unit of work: one ledger read, one owner read, one load of the
    accounts it names, one commit."""

    uow_factory: Callable[[], AccountsUnitOfWork]
    handler: InboundHandler
    ledger_name: str
    inbound_topic: str
    submitter: str
    scoped: bool

    async def apply(self, batch: Sequence[tuple[int, Envelope]]) -> dict[int, IngestResult]:
        results: dict[int, IngestResult] = {}
        if not batch:
            return results
        async with self.uow_factory() as uow:
            ids = [str(env.id) for _, env in batch]
            done = await uow.processed.seen_many(self.ledger_name, ids)
            named = [env.account_id for _, env in batch if env.account_id != "*"]
            owners = await uow.accounts.owners(named) if self.scoped else {}
            await uow.prefetch([env for _, env in batch if str(env.id) not in done])
            applied: list[Envelope] = []
            for index, env in batch:
                event_id = str(env.id)
                if event_id in done:
                    results[index] = IngestResult(index, event_id, "duplicate")
                    continue
                try:
                    if self._foreign(env, owners):
                        # Word for word what an unknown account gets: nothing tells it exists.
                        raise Rejected(f"unknown account {env.account_id}")
                    fact = env.recorded(uow.now)
                    await self.handler(uow, fact)
                except Rejected as exc:
                    results[index] = IngestResult(index, event_id, "rejected", exc.reason)
                    continue
                # Queued as the one-by-one path queues it: after what its handling emitted.
                await uow.outbox.add(self.inbound_topic, [fact])
                done.add(event_id)
                applied.append(fact)
                results[index] = IngestResult(index, event_id, "accepted")
            await uow.processed.add_many(self.ledger_name, [str(e.id) for e in applied])
            outcomes = [
                (r.event_id, r.status, r.reason)
                for r in results.values()
                if r.event_id and _is_uuid(r.event_id)
            ]
            await uow.submissions.record(self.submitter, outcomes)
            await uow.commit()
        return results

    def _foreign(self, env: Envelope, owners: dict[str, str | None]) -> bool:
        """Whether the event names an account another integrator opened."""
        if not self.scoped or env.type == AccountOpened.event_type or env.account_id == "*":
            return False
        owner = owners.get(env.account_id)
        return owner is not None and owner != self.submitter


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _as_submitted_by(
    env: Envelope, principal: Principal, correlation_id: uuid.UUID | None = None
) -> Envelope:
    """Server-owned fields (OWASP API3): the source and actor are the token's, not the body's."""
    metadata = {**env.metadata, "actor": principal.actor()}
    update: dict[str, Any] = {"source": principal.subject, "metadata": metadata}
    if env.correlation_id is None and correlation_id is not None:
        update["correlation_id"] = correlation_id
    return env.model_copy(update=update)


async def _apply(
    env: Envelope,
    uow_factory: Callable[[], AccountsUnitOfWork],
    handler: InboundHandler,
    ledger_name: str,
    inbound_topic: str,
    submitter: str,
    scoped: bool,
) -> Status:
    async with uow_factory() as uow:
        if scoped and env.type != AccountOpened.event_type and env.account_id != "*":
            owner = await uow.accounts.opened_by(env.account_id)
            if owner is not None and owner != submitter:
                # Word for word what an unknown account gets: nothing tells it exists.
                raise Rejected(f"unknown account {env.account_id}")
        if await uow.processed.seen(ledger_name, str(env.id)):
            return "duplicate"
        # recorded_at is the server's to set, whatever the client sent.
        fact = env.recorded(uow.now)
        await handler(uow, fact)
        await uow.outbox.add(inbound_topic, [fact])
        await uow.processed.add(ledger_name, str(env.id))
        await uow.submissions.record(submitter, [(str(env.id), "accepted", None)])
        await uow.commit()
    return "accepted"
