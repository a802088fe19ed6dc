"""The books at the end of a fault run, checked from outside: the audit and accounts APIs,
the Kafka topics and consumer groups, and each service's outbox table.

Each check returns findings (one sentence each, naming the account, event and offset);
no findings means the run lost, duplicated and left behind nothing.
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events import default_catalogue
from shared.eventstore.rebuild import describe, rebuild
from tests.faults.actors import Relief
from tests.faults.workload import Workload

PURPOSE = "fault-injection-check"
PAGE = 1000


@dataclass(frozen=True)
class Published:
    """An inbound record the workload published, and where the broker put it."""

    event_id: str
    account_id: str
    type: str
    partition: int
    offset: int


@dataclass
class Findings:
    """What the checks found wrong, by kind."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    backlog: list[str] = field(default_factory=list)
    dlq: list[str] = field(default_factory=list)
    rebuilds: list[str] = field(default_factory=list)
    relief: list[str] = field(default_factory=list)
    audit_entries: int = 0

    def problems(self) -> list[str]:
        """Every finding, prefixed by its kind."""
        kinds = ("lost", "duplicated", "state", "chains", "backlog", "dlq", "rebuilds", "relief")
        return [f"{k}: {f}" for k in kinds for f in getattr(self, k)]


async def audit_history(
    http: httpx.AsyncClient, audit: str, account_id: str
) -> list[dict[str, Any]]:
    """Every audit entry of an account, in chain order."""
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await http.get(
            f"{audit}/v1/accounts/{account_id}/history",
            params={"purpose": PURPOSE, "after_seq": after, "limit": PAGE},
        )
        r.raise_for_status()
        body = r.json()
        entries.extend(body["entries"])
        if body["next_after_seq"] is None:
            return entries
        after = body["next_after_seq"]


def check_trail(
    findings: Findings,
    workload: Workload,
    account_id: str,
    entries: list[dict[str, Any]],
    published: list[Published],
) -> None:
    """Each published id exactly once; one close per date; at most one fee per bill per date."""
    ids = Counter(e["event_id"] for e in entries)
    for p in published:
        if ids[p.event_id] != 1:
            where = f"inbound partition {p.partition} offset {p.offset}"
            seen = f"{ids[p.event_id]} times" if ids[p.event_id] else "never"
            bucket = findings.lost if ids[p.event_id] == 0 else findings.duplicated
            bucket.append(f"{account_id}: {p.type} {p.event_id} ({where}) in audit {seen}")
    for event_id, n in ids.items():
        if n > 1 and event_id not in {p.event_id for p in published}:
            findings.duplicated.append(f"{account_id}: derived event {event_id} chained {n} times")
    closes = Counter(e["data"]["business_date"] for e in entries if e["type"] == "AccountDayClosed")
    for day in workload.business_dates:
        n = closes[day.isoformat()]
        if n == 0:
            findings.lost.append(f"{account_id}: no AccountDayClosed for {day}")
        elif n > 1:
            findings.duplicated.append(f"{account_id}: AccountDayClosed for {day} {n} times")
    fees = Counter(
        (e["data"]["bill_id"], e["data"]["business_date"])
        for e in entries
        if e["type"] == "LateFeeAccrued"
    )
    for (bill_id, day), n in fees.items():
        if n > 1:
            findings.duplicated.append(f"{account_id}: LateFeeAccrued {bill_id} {day} {n} times")


async def check_account_state(
    findings: Findings, http: httpx.AsyncClient, accounts: str, workload: Workload, sample: int
) -> None:
    """A sample of accounts (every kind) against the workload's own arithmetic; accounts
    with a relief plan follow its terms instead (check_plans_applied)."""
    planned = {a.account_id for a in workload.plan_accounts()}
    for a in workload.accounts[:sample]:
        if a.account_id in planned:
            continue
        r = await http.get(f"{accounts}/v1/accounts/{a.account_id}")
        if r.status_code != 200:
            findings.state.append(f"{a.account_id}: accounts API answered {r.status_code}")
            continue
        got = r.json()
        want = workload.expected(a)
        seen = {
            "days_past_due": got["days_past_due"],
            "bucket": got["bucket"],
            "late_fee": got["balances"].get("late_fee", 0),
            "outstanding": got["outstanding"],
            "last_closed": got["last_closed_business_date"],
        }
        wanted = {**want.__dict__, "last_closed": workload.business_dates[-1].isoformat()}
        if seen != wanted:
            findings.state.append(
                f"{a.account_id} ({a.kind}, due {a.due_date}): {seen} != {wanted}"
            )


async def check_chains(
    findings: Findings, http: httpx.AsyncClient, audit: str, poisoned: set[str]
) -> None:
    """Every chain verifies; only the poisoned accounts may be incomplete."""
    r = await http.get(f"{audit}/v1/verify", params={"purpose": PURPOSE})
    r.raise_for_status()
    body = r.json()
    for b in body["broken"]:
        findings.chains.append(f"broken chain: {b}")
    for inc in body["incomplete"]:
        if inc["account_id"] not in poisoned:
            findings.chains.append(f"incomplete trail: {inc}")


async def _partitions(admin: AIOKafkaAdminClient, topics: set[str]) -> list[TopicPartition]:
    # Metadata of every topic: asking for named ones would auto-create missing ones.
    return [
        TopicPartition(meta["topic"], part["partition"])
        for meta in await admin.describe_topics(None)
        if meta["topic"] in topics and meta["error_code"] == 0
        for part in meta["partitions"]
    ]


async def consumer_lag(bootstrap: str, prefix: str) -> dict[str, int]:
    """Per consumer group of this run: records on its topics not yet committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(f"{prefix}.")]
        lag: dict[str, int] = {}
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            partitions = await _partitions(admin, {tp.topic for tp in committed})
            ends = await consumer.end_offsets(partitions)
            lag[group] = sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def unpublished(database_urls: dict[str, str]) -> dict[str, int]:
    """Per service: outbox rows not yet published."""
    out: dict[str, int] = {}
    for service, dsn in database_urls.items():
        conn = await asyncpg.connect(dsn)
        try:
            out[service] = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
        finally:
            await conn.close()
    return out


REBUILT = ("accounts", "plans", "contact")
"""The services whose read models a rebuild from their own database must equal."""


async def check_rebuilds(findings: Findings, database_urls: dict[str, str]) -> None:
    """Each service's read models equal a rebuild from its own event store and inbox
    (`arrears rebuild <service> --check`: temporary tables, nothing changed)."""
    for service in REBUILT:
        projections = importlib.import_module(f"services.{service}.service_layer.projections")
        tables = importlib.import_module(f"services.{service}.adapters.tables")
        engine = create_async_engine(database_urls[service])
        try:
            report = await rebuild(
                engine,
                tables.platform.events,
                default_catalogue(),
                projections.PROJECTION,
                check=True,
            )
        finally:
            await engine.dispose()
        if not report.equal:
            samples = [x for d in report.tables.values() for x in d.samples]
            findings.rebuilds += [f"{service} {line}" for line in describe(report)]
            findings.rebuilds.append(f"{service} differing rows, e.g. {samples[:5]}")


async def dead_letters(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message on the DLQ topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        parts = await _partitions(admin, {topic})
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[dict[str, Any]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=2000)
            records += [json.loads(r.value) for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()
        await admin.close()


def check_dlq(
    findings: Findings, records: list[dict[str, Any]], poison: dict[tuple[str, int, int], str]
) -> None:
    """The DLQ holds the deliberately poisoned records, each at least once, and nothing else."""
    seen = set()
    for r in records:
        where = (r["source_topic"], r["source_partition"], r["source_offset"])
        seen.add(where)
        if where not in poison:
            findings.dlq.append(
                f"{r['consumer']} dead-lettered {where} ({r['kind']}: {r['reason'][:200]})"
            )
    for where, what in poison.items():
        if where not in seen:
            findings.dlq.append(f"poison {what} at {where} never reached the DLQ")


PLAN_ONCE = ("PlanRequested", "PlanAccepted", "PlanActivated")
"""Plan events that happen once in a plan's life (an offer may be made again)."""


def check_relief(
    findings: Findings, relief: Relief, entries: dict[str, list[dict[str, Any]]]
) -> None:
    """What the actors got done is in audit exactly once: per plan its request, acceptance
    and activation, and whatever accounts derived from the plan at most once per type; per
    recorded call one ContactAttemptRecorded, and one PromiseToPayMade for a promise."""
    findings.relief += relief.problems
    for account_id, plan_id in relief.plans.items():
        of_plan = Counter(
            (e["type"], e["source"])
            for e in entries.get(account_id, [])
            if e["data"].get("plan_id") == plan_id
        )
        for kind in PLAN_ONCE:
            n = sum(c for (t, _), c in of_plan.items() if t == kind)
            if n != 1:
                findings.relief.append(f"{account_id}: {kind} of plan {plan_id} {n} times")
        for (kind, source), n in of_plan.items():
            if source != "plans" and n > 1:
                findings.duplicated.append(
                    f"{account_id}: {source}'s {kind} of plan {plan_id} {n} times"
                )
    for account_id, attempts in relief.attempts.items():
        seen = entries.get(account_id, [])
        for attempt_id, promised in attempts.items():
            for kind, want in (("ContactAttemptRecorded", 1), ("PromiseToPayMade", int(promised))):
                n = sum(
                    1
                    for e in seen
                    if (e["type"], e["data"].get("attempt_id")) == (kind, attempt_id)
                )
                if n != want:
                    findings.relief.append(
                        f"{account_id}: {kind} of attempt {attempt_id} {n} times, not {want}"
                    )


PLAN_ENDINGS = frozenset({"PlanBroken", "PlanCompleted", "PlanCancelled"})


def plans_still_active(
    relief: Relief, entries: dict[str, list[dict[str, Any]]]
) -> dict[str, tuple[str, bool]]:
    """Per account with an activated plan: the plan, and whether it is active still (no
    ending of it in audit). A long run breaks or completes plans after they activated."""
    out = {}
    for account_id, plan_id in relief.plans.items():
        if relief.states[account_id] != "active":
            continue  # ended at once (a waiver): check_relief finds its events in audit
        ended = any(
            e["type"] in PLAN_ENDINGS and e["data"].get("plan_id") == plan_id
            for e in entries.get(account_id, [])
        )
        out[account_id] = (plan_id, not ended)
    return out


def compare_active_plans(
    findings: Findings, expected: dict[str, tuple[str, bool]], listed: dict[str, list[str]]
) -> None:
    """Accounts lists a plan as active exactly when audit holds no ending of it."""
    for account_id, (plan_id, active) in expected.items():
        shown = listed.get(account_id, [])
        if (plan_id in shown) != active:
            state = "active" if active else "ended"
            findings.relief.append(
                f"{account_id}: plan {plan_id} {state} in audit, accounts' active plans {shown}"
            )


async def check_plans_applied(
    findings: Findings,
    http: httpx.AsyncClient,
    accounts: str,
    relief: Relief,
    entries: dict[str, list[dict[str, Any]]],
) -> None:
    """Accounts applied every activated plan, and dropped those audit shows ended."""
    expected = plans_still_active(relief, entries)
    listed = {}
    for account_id in expected:
        r = await http.get(f"{accounts}/v1/accounts/{account_id}")
        listed[account_id] = r.json()["relief"]["active_plans"] if r.status_code == 200 else []
    compare_active_plans(findings, expected, listed)
