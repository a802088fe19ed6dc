"""The trail for compliance: history with filters on both time axes, verification, access log.

Every read and verification is itself recorded (who, role, stated purpose, filters).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse

from services.audit.domain.filters import HistoryFilters
from services.audit.domain.verify import BrokenLink
from services.audit.entrypoints.dependencies import Purpose, Reveal, Runtime
from services.audit.entrypoints.downloads import attachment
from services.audit.service_layer.checkpoints import covering_checkpoint
from services.audit.service_layer.views import Reader, shown
from shared.bounds import Instant, QueryInt
from shared.eventstore.positions import Gap
from shared.security import CurrentPrincipal, secured

ACCESS = {
    "get_history": {"compliance"},
    "verify_account": {"compliance"},
    "verify_all": {"compliance"},
    "get_access_log": {"compliance"},
    "export_csv": {"compliance"},
}
CSV_COLUMNS = (
    "seq",
    "event_id",
    "type",
    "source",
    "occurred_at",
    "recorded_at",
    "hash",
    "prev_hash",
    "data",
)
MAX_PAGE = 1000

router = APIRouter(prefix="/v1", tags=["audit"], route_class=secured(ACCESS))


@router.get("/accounts/{account_id}/history")
async def get_history(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    after_seq: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 200,
    type: Annotated[list[str] | None, Query(max_length=50)] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    occurred_from: Instant | None = None,
    occurred_to: Instant | None = None,
    as_of_occurred: Instant | None = None,
    as_of_recorded: Instant | None = None,
    reveal: Reveal = False,
) -> dict[str, Any]:
    """Entries in order, narrowed by type, source, time range, and "as of" either axis.

    `as_of_occurred`: what had happened by then. `as_of_recorded`: what the system knew
    by then (a payment made on 1 March but posted on 5 March is absent as of 3 March).
    Personal fields are masked by their declared kind (`reveal` shows in clear what the
    role may see); each entry lists them under `personal`.
    """
    filters = HistoryFilters(
        tuple(type or ()), source, occurred_from, occurred_to, as_of_occurred, as_of_recorded
    )
    async with runtime.uow() as uow:
        entries = await uow.trail.history(account_id, after_seq, limit, filters)
        reader = Reader(principal.role, reveal)
        readable, revealed = await shown(uow, account_id, entries, reader)
        await uow.access.log(
            principal,
            "history",
            purpose,
            account_id,
            {**filters.describe(), "after_seq": after_seq, "limit": limit}
            | reader.logged(revealed),
        )
        await uow.commit()
    return {
        "account_id": account_id,
        # The hashes cover each personal field's commitment, never its value.
        "entries": readable,
        "next_after_seq": entries[-1]["seq"] if len(entries) == limit else None,
    }


@router.get("/accounts/{account_id}/export.csv", response_class=PlainTextResponse)
async def export_csv(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    reveal: Reveal = False,
) -> PlainTextResponse:
    """The whole trail as CSV for people (personal fields masked by kind), one row per entry;
    the export is logged."""
    rows: list[dict[str, Any]] = []
    reader, revealed = Reader(principal.role, reveal), 0
    async with runtime.uow() as uow:
        after = 0
        while page := await uow.trail.history(account_id, after, MAX_PAGE):
            readable, n = await shown(uow, account_id, page, reader)
            rows.extend(readable)
            revealed += n
            after = page[-1]["seq"]
        await uow.access.log(principal, "export-csv", purpose, account_id, reader.logged(revealed))
        await uow.commit()
    if not rows:
        raise HTTPException(404, f"no trail for account {account_id}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {**row, "data": json.dumps(row["data"], sort_keys=True, ensure_ascii=False)}
        )
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv",
        headers=attachment(account_id, "csv"),
    )


@router.get("/accounts/{account_id}/verify")
async def verify_account(
    account_id: str,
    request: Request,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
) -> dict[str, Any]:
    """Recompute the account's hash chain; names the first broken link, if any.

    `status`: `verified`, `broken` (the first break in `broken`), or `incomplete` when
    records of the account were dead-lettered or wait parked, or audit never read some
    offsets of a source partition (`gaps`), so the trail, however intact, may lack them
    (`reason` says which). `checkpoint`: the latest signed checkpoint covering the account
    (its time, root, the head it covers, and whether signature and root check), or null.
    """
    async with runtime.uow() as uow:
        broken = await uow.verify(account_id)
        checkpoint = await covering_checkpoint(uow, account_id, request.app.state.signing_key)
        missing = await uow.backlog.missing_records(_consumer(runtime), account_id)
        gaps = await uow.positions.gaps(_consumer(runtime))
        await uow.access.log(principal, "verify", purpose, account_id, {})
        await uow.commit()
    reason = missing.get(account_id)
    if gaps:
        reason = "; ".join(filter(None, [reason, _gaps_reason(gaps)]))
    return {
        "account_id": account_id,
        **_finding(broken, reason),
        "gaps": [_gap(g) for g in gaps],
        "checkpoint": checkpoint,
    }


@router.get("/verify")
async def verify_all(
    runtime: Runtime, principal: CurrentPrincipal, purpose: Purpose
) -> dict[str, Any]:
    """Recompute every account's chain; lists each account's first break, each account
    whose trail lacks dead-lettered or parked records, and every range of source offsets
    audit never read (`gaps`: records of any account may be missing from those)."""
    async with runtime.uow() as uow:
        missing = await uow.backlog.missing_records(_consumer(runtime))
        gaps = await uow.positions.gaps(_consumer(runtime))
        accounts = sorted(set(await uow.trail.accounts()) | set(missing))
        broken = [b for a in accounts if (b := await uow.verify(a)) is not None]
        await uow.access.log(principal, "verify-all", purpose, None, {})
        await uow.commit()
    status = "broken" if broken else "incomplete" if missing or gaps else "verified"
    return {
        "accounts": len(accounts),
        "status": status,
        "intact": status == "verified",
        "broken": [asdict(b) for b in broken],
        "incomplete": [{"account_id": a, "reason": r} for a, r in missing.items()],
        "gaps": [_gap(g) for g in gaps],
    }


def _gap(gap: Gap) -> dict[str, Any]:
    return {
        "topic": gap.topic,
        "partition": gap.partition,
        "from_offset": gap.from_offset,
        "to_offset": gap.to_offset,
        "detected_at": gap.detected_at.isoformat(),
    }


def _gaps_reason(gaps: list[Gap]) -> str:
    ranges = ", ".join(f"{g.topic}/{g.partition} {g.from_offset}-{g.to_offset - 1}" for g in gaps)
    return f"audit never read source offsets {ranges}; records of any account may be missing"


def _consumer(runtime: Runtime) -> str:
    return runtime.consumers["trail"].name


def _finding(broken: BrokenLink | None, missing: str | None) -> dict[str, Any]:
    status = "broken" if broken else "incomplete" if missing else "verified"
    reason = f"seq {broken.seq}: {broken.problem}" if broken else missing
    return {
        "status": status,
        "reason": reason,
        # Intact only when nothing is wrong with the trail and nothing is missing from it.
        "intact": status == "verified",
        "broken": asdict(broken) if broken else None,
        "incomplete": missing,
    }


@router.get("/access-log")
async def get_access_log(
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    account_id: str | None = None,
    after_id: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 200,
) -> dict[str, Any]:
    """Who read, verified or exported what, and why (reading it is logged too)."""
    async with runtime.uow() as uow:
        await uow.access.log(principal, "access-log", purpose, account_id, {"after_id": after_id})
        await uow.commit()
    async with runtime.uow() as uow:
        entries = await uow.access.entries(after_id, limit, account_id)
    return {
        "entries": entries,
        "next_after_id": entries[-1]["id"] if len(entries) == limit else None,
    }
