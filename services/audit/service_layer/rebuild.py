"""Rebuilding the audit store from the topics: the trail is derived, the log is the source.

The chain's hash covers each event as produced (personal fields as commitments under
the account's key, which a rebuild keeps), never audit's own ingest time, so a rebuild
reproduces the same heads and the same checkpoint roots. A trail recorded before
commitments existed is re-chained with them: its heads change, once.

An erased account's trail up to its last `PersonalDataErased` entry is restored as it
was chained, not re-read: the topics may still hold the erased values, and audit's own
erasure entry is on no topic. Its later events are re-read as any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select

from services.audit.adapters.tables import (
    audit_entries,
    audit_frozen_entries,
    audit_personal_values,
)
from services.audit.domain.merkle import head_leaf, root
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.eventlog.port import TopicPartition
from shared.runtime import ServiceRuntime

Progress = Callable[[int, int], None]


async def rebuild(
    runtime: ServiceRuntime[AuditUnitOfWork], progress: Progress | None = None
) -> int:
    """Discard the trail and re-consume every topic from the beginning; returns records read.

    Run it with the audit service stopped. Signed checkpoints are kept: they are the
    evidence the rebuilt trail is checked against. Access logs, the accounts' commitment
    keys and erased trails are kept too.
    """
    consumer = runtime.consumers["trail"]
    topics = [t for t in runtime.settings.topics.all() if t != runtime.settings.topics.dlq]
    async with runtime.uow() as uow:
        await uow.session.execute(delete(audit_entries))
        await uow.session.execute(delete(audit_personal_values))
        frozen = audit_frozen_entries
        await uow.session.execute(
            insert(audit_entries).from_select([c.name for c in frozen.c], select(frozen))
        )
        platform = runtime.tables
        await uow.session.execute(
            delete(platform.processed).where(platform.processed.c.consumer == consumer.name)
        )
        # Re-read from the first record: the old positions and gaps describe the old trail.
        await uow.positions.forget(consumer.name)
        await uow.commit()
    ends = {tp: o for tp, o in (await runtime.log.end_offsets(topics)).items() if o > 0}
    total = sum(ends.values())
    # A throwaway group reads from the start without disturbing the service's offsets.
    sub = runtime.log.subscribe(f"{consumer.name}.rebuild-{uuid.uuid4().hex[:8]}", topics)
    await sub.start()
    done: dict[TopicPartition, int] = {}
    try:
        while any(done.get(tp, 0) < end for tp, end in ends.items()):
            records = await sub.poll(timeout=1.0)
            if not records:
                continue
            await consumer.process(records)
            for r in records:
                done[r.tp] = r.offset + 1
            if progress:
                progress(sum(min(done.get(tp, 0), end) for tp, end in ends.items()), total)
    finally:
        await sub.close()
    return sum(done.values())


async def heads_and_root(runtime: ServiceRuntime[AuditUnitOfWork]) -> dict[str, Any]:
    """Every account's head and the Merkle root a checkpoint would sign now."""
    async with runtime.uow() as uow:
        heads = await uow.heads()
    return {
        "heads": heads,
        "root": root([head_leaf(a, s, h) for a, s, h in heads]).hex(),
    }
