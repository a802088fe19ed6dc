"""Receiving hardship evidence: check it, keep its bytes, note it, and say so in an event."""

from __future__ import annotations

import asyncio

from services.plans.adapters.evidence_store import EvidenceStore
from services.plans.domain.evidence import received
from services.plans.domain.plan import Actor, Evidence
from services.plans.service_layer.lifecycle import SOURCE, NotQuotable
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from shared.catalogue import new_envelope
from shared.events.plans import HardshipEvidenceReceived
from shared.topics import Topics


def evidence_stream(account_id: str) -> str:
    """The event stream of the documents received for one account."""
    return f"evidence-{account_id}"


async def receive_evidence(
    uow: PlansUnitOfWork,
    topics: Topics,
    store: EvidenceStore,
    account_id: str,
    content: bytes,
    media_type: str,
    kind: str,
    by: Actor,
) -> tuple[Evidence, bool]:
    """Keep a document for the account; (the evidence, whether it was new). The caller
    commits. The bytes are stored before the transaction: content-addressed, a store
    that outlives a failed commit holds a harmless orphan, never a dangling reference."""
    if await uow.account_currency(account_id) is None:
        raise NotQuotable(f"no account {account_id}")
    doc = received(content, media_type, kind, uow.policy)
    await asyncio.to_thread(store.put, content)
    if not await uow.remember_evidence(account_id, doc, by.id):
        return doc, False
    _, version = await uow.events.load(evidence_stream(account_id))
    event = new_envelope(
        HardshipEvidenceReceived(evidence=doc.ref(), received_by=by.id, role=by.role),
        account_id=account_id,
        occurred_at=uow.now,
        recorded_at=uow.now,
        source=SOURCE,
        metadata={"actor": {"subject": by.id, "role": by.role}},
    )
    await uow.record(evidence_stream(account_id), version, [event], topics.plans)
    return doc, True
