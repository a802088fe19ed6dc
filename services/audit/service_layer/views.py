"""Read views of one account's trail for compliance: the story, the state as of, the report.

Each reads through the unit of work and returns plain values; the caller records the
access and commits (a read is logged in the same transaction as it is served).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.bundle import public_pem, verify_bundle
from services.audit.domain.filters import HistoryFilters
from services.audit.domain.personal import Reader, show
from services.audit.domain.report import (
    Lang,
    ReportFacts,
    account_currency,
    account_zone,
    borrower_name,
    build_report,
    locale_for,
)
from services.audit.domain.series import series
from services.audit.domain.state import AccountState, over_time, reconstruct
from services.audit.domain.story import StoryLine, tell
from services.audit.domain.story_zh import tell_zh
from services.audit.service_layer.checkpoints import export_bundle
from services.audit.service_layer.ports import ReportTypesetter
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared import pii
from shared.auth import Principal

__all__ = [
    "Axis",
    "Reader",
    "report",
    "series_view",
    "shown",
    "state",
    "state_view",
    "story",
    "story_view",
    "whole_trail",
]

PAGE = 1000
Axis = Literal["recorded", "occurred", "now"]


async def whole_trail(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters | None = None
) -> list[dict[str, Any]]:
    """Every entry of the account (narrowed by `filters`), in seq order, read page by page."""
    out: list[dict[str, Any]] = []
    after = 0
    while page := await uow.trail.history(account_id, after, PAGE, filters):
        out.extend(page)
        if len(page) < PAGE:
            break
        after = page[-1]["seq"]
    return out


async def shown(
    uow: AuditUnitOfWork, account_id: str, entries: list[dict[str, Any]], reader: Reader
) -> tuple[list[dict[str, Any]], int]:
    """The entries as the reader may see them, and how many values were shown in clear.

    Each personal field (a commitment in the chained event) is joined with its value kept
    beside the chain and shown as its declared kind allows the reader's role; the entry
    lists its personal fields and how each was shown. The hashes cover the commitments.
    """
    if not entries:
        return [], 0
    values = await uow.trail.personal_values(account_id, entries[0]["seq"], entries[-1]["seq"])
    out, revealed = [], 0
    for e in entries:
        unmarked = uow.declared_personal(e["type"], e["schema_version"], e["data"])
        data, fields = show(e["data"], values.get(e["seq"], {}), reader, unmarked)
        revealed += sum(f.shown == "clear" for f in fields)
        out.append({**e, "data": data, "personal": [asdict(f) for f in fields]})
    return out, revealed


async def story(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters | None, reader: Reader
) -> tuple[list[StoryLine], int]:
    """The account's story as the reader may read it, and how many values it shows in clear."""
    # Shown before the sentences are written, so no sentence can carry a value unmasked.
    entries, revealed = await shown(
        uow, account_id, await whole_trail(uow, account_id, filters), reader
    )
    return tell(entries), revealed


async def state(
    uow: AuditUnitOfWork, account_id: str, axis: Axis, at: datetime, reader: Reader
) -> AccountState:
    """The account as the trail shows it at `at`, on the chosen time axis."""
    if axis == "recorded":
        filters = HistoryFilters(as_of_recorded=at)
    elif axis == "occurred":
        filters = HistoryFilters(as_of_occurred=at)
    else:
        filters = None
    entries, _ = await shown(uow, account_id, await whole_trail(uow, account_id, filters), reader)
    return reconstruct(entries, at)


async def story_view(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters, reader: Reader
) -> tuple[list[dict[str, Any]], int] | None:
    """The story's lines as JSON-ready rows and the count shown in clear; None without a
    trail. Reused from the view cache while the account's head has not moved."""
    head = await uow.trail.head(account_id)
    if head is None:
        return None
    key = ("story", account_id, head, filters, reader)
    view: tuple[list[dict[str, Any]], int] | None = uow.views.get(key)
    if view is None:
        lines, revealed = await story(uow, account_id, filters, reader)
        view = ([line.to_dict() for line in lines], revealed)
        uow.views.put(key, view, max(len(lines), 1))
    return view


async def state_view(
    uow: AuditUnitOfWork, account_id: str, axis: Axis, at: datetime, reader: Reader
) -> dict[str, Any] | None:
    """The state as of `at` as JSON-ready values; None without a trail. A state as of a
    fixed point is reused while the head has not moved (one as of now is not: now moves)."""
    head = await uow.trail.head(account_id)
    if head is None:
        return None
    key = ("state", account_id, head, axis, at, reader)
    view: dict[str, Any] | None = uow.views.get(key) if axis != "now" else None
    if view is None:
        view = (await state(uow, account_id, axis, at, reader)).to_dict()
        if axis != "now":
            uow.views.put(key, view, 1)
    return view


async def report(
    uow: AuditUnitOfWork,
    account_id: str,
    principal: Principal,
    purpose: str,
    key: Ed25519PrivateKey,
    typesetter: ReportTypesetter,
    reveal: bool = False,
    lang: Lang | None = None,
) -> tuple[bytes, int]:
    """The PDF report of the whole trail: provenance, integrity, checkpoint, figures over
    time, story; in `lang`, by default the account's (zh-CN for mainland China's zones)."""
    entries = await whole_trail(uow, account_id)
    # Only checked here, never handed out: a trail not yet rebuilt still verifies.
    bundle = await export_bundle(uow, account_id, leaves_the_service=False)
    checkpoint = bundle["checkpoint"] if bundle else None
    # Checked against this service's own key: the report states what this service can
    # prove; a reader who distrusts the service verifies the bundle with the published key.
    problems = verify_bundle(bundle, public_pem(key)) if bundle else []
    # Shown before anything is written from them, so no line can carry a value unmasked.
    readable, revealed = await shown(uow, account_id, entries, Reader(principal.role, reveal))
    zone = account_zone(readable)
    language = lang or locale_for(zone)
    facts = ReportFacts(
        account_id=account_id,
        generated_at=uow.now,
        generated_by=principal.subject,
        role=principal.role,
        purpose=pii.show(principal.role, purpose, "text"),
        entries=len(entries),
        head=(entries[-1]["seq"], entries[-1]["hash"]) if entries else None,
        broken=await uow.verify(account_id),
        checkpoint=checkpoint,
        checkpoint_problems=problems,
        borrower=borrower_name(readable),
        zone=zone,
        lang=language,
        currency=account_currency(readable),
    )
    story_lines = tell_zh(readable) if language == "zh-CN" else tell(readable)
    content = build_report(facts, story_lines, over_time(readable))
    # Typesetting a long trail takes a while and touches no session: off the event loop.
    return await asyncio.to_thread(typesetter.render, content), revealed


async def series_view(
    uow: AuditUnitOfWork, account_id: str, filters: HistoryFilters, reader: Reader
) -> dict[str, Any] | None:
    """The chart's series of the trail cut by `filters`; None without a trail."""
    head = await uow.trail.head(account_id)
    if head is None:
        return None
    key = ("series", account_id, head, filters, reader)
    view: dict[str, Any] | None = uow.views.get(key)
    if view is None:
        entries, _ = await shown(
            uow, account_id, await whole_trail(uow, account_id, filters), reader
        )
        view = series(entries, uow.now)
        uow.views.put(key, view, max(len(view["points"]), 1))
    return view
