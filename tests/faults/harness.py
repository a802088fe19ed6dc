"""Fault injection on the real thing: the four services as OS processes on a real Kafka
broker and PostgreSQL, a seeded workload published straight onto `<prefix>.inbound` with a
plain producer as an integrator would, and borrowers and agents at work through the plans
and contact APIs (tests/faults/actors.py), faults injected at seeded points meanwhile (kill
-9 of every service, accounts more often, during a day-close fan-out and during an outbox
relay batch, a second copy of accounts in its group, a second copy of a service stalled
past its session timeout so its group rebalances, a broker stop/start, a PostgreSQL crash),
then the books checked.

Used by tests/faults (a bounded run) and bench/soak.py (a long one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.auth import mint_dev_token
from shared.settings import SERVICES, Settings
from tests.faults import checks
from tests.faults.actors import Pace, Relief, act, origin_of
from tests.faults.checks import Findings, Published
from tests.faults.groups import Members, held, wait_members
from tests.faults.infra import (
    Broker,
    Postgres,
    ServiceProcess,
    asyncpg_dsn,
    migrate,
    service_env,
)
from tests.faults.workload import Step, Workload

PUBLISH_RETRY_S = 180
SETTLE_TIMEOUT_S = 300
# aiokafka's session.timeout.ms (10 s; shared/eventlog/kafka.py leaves the default): a
# member silent that long is dropped and its partitions go to the others.
SESSION_TIMEOUT_S = 10
RELAY_WATCH_S = 20
# The services the actors call: a kill of one releases work the actors hold for it, then
# waits (this long at most) for a write of theirs in flight, so that write is lost to the
# kill and retried.
ACTOR_SERVICES = ("plans", "contact")
BUSY_WATCH_S = 10
UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


@dataclass(frozen=True)
class Fault:
    """One fault: what (`kill`, `relay`, `twin`, `stall`, `broker`, `postgres`), to whom,
    and when (this many seconds after the workload's step `after_step` was published)."""

    kind: str
    after_step: int
    delay: float
    service: str | None = None

    def describe(self) -> str:
        """E.g. `kill -9 accounts`."""
        what = {
            "kill": f"kill -9 {self.service}",
            "relay": f"kill -9 {self.service} while its outbox holds unpublished rows",
            "twin": f"second {self.service} in its group, then kill -9 it",
            "stall": f"second {self.service} in its group, SIGSTOP past its session timeout",
            "broker": "broker stop/start on the same data",
            "postgres": "PostgreSQL crash (immediate stop) and start",
        }[self.kind]
        return f"{what} after step {self.after_step} +{self.delay:.1f}s"


@dataclass(frozen=True)
class Injected:
    """A fault as it happened: seconds since the first publish, how long it took, what
    was seen (`note`), and whether it struck as meant (`landed`: the relay kill found the
    outbox holding rows, the stalled copy was dropped from its groups)."""

    fault: Fault
    at_s: float
    took_s: float
    note: str = ""
    landed: bool = True


def plan_faults(seed: int, workload: Workload, rounds: int = 1) -> list[Fault]:
    """`rounds` times every fault kind: kill -9 of each service (accounts three times, once
    during a `*` close's fan-out, once while its outbox relays), a second accounts, a
    stalled second copy of a service the seed picks, a broker stop/start, a PostgreSQL
    crash (during a fan-out too); at steps after the openings chosen by the seed."""
    rng = random.Random(seed + 2)
    steps = workload.steps()
    closes = [i for i, s in enumerate(steps) if s.name.startswith("close")]
    later = list(range(1, len(steps)))
    kinds: list[tuple[str, str | None]] = [("kill", s) for s in SERVICES]
    kinds += [("twin", "accounts"), ("broker", None)]
    faults = []
    for _ in range(rounds):
        # Right after a close is published, accounts is fanning it out into one per account
        # and every service is writing: the moment a crash costs the most.
        faults.append(Fault("kill", rng.choice(closes), rng.uniform(0.0, 0.5), "accounts"))
        faults.append(Fault("postgres", rng.choice(closes), rng.uniform(0.5, 2.0)))
        # A close fills accounts' outbox with one AccountDayClosed per account: watched
        # from its publication on, the kill lands while the relay is publishing them.
        unwatched = [c for c in closes if c not in {f.after_step for f in faults}] or closes
        faults.append(Fault("relay", rng.choice(unwatched), 0.0, "accounts"))
        faults.append(Fault("stall", rng.choice(later), rng.uniform(0.0, 3.0), _pick(rng)))
        faults += [Fault(k, rng.choice(later), rng.uniform(0.0, 3.0), s) for k, s in kinds]
    return sorted(faults, key=lambda f: (f.after_step, f.delay))


def _pick(rng: random.Random) -> str:
    return rng.choice(SERVICES)


@dataclass
class Stack:
    """A broker, a durable PostgreSQL, and one process per service (each its own database)."""

    workdir: Path
    prefix: str = field(default_factory=lambda: f"faults{uuid.uuid4().hex[:8]}")
    broker: Broker = field(default_factory=Broker)
    postgres: Postgres = field(default_factory=Postgres)
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    # What the actors keep pace with (set while a run publishes).
    pace: Pace | None = None

    async def start(self) -> None:
        """Start everything and wait until every service is ready."""
        Broker.check_available()
        Postgres.check_available()
        await asyncio.gather(
            asyncio.to_thread(self.broker.start), asyncio.to_thread(self.postgres.start)
        )
        for service in SERVICES:
            db = f"{self.prefix}_{service}"
            self.database_urls[service] = await self.postgres.create_database(db)
        await asyncio.gather(*(asyncio.to_thread(self._migrate, s) for s in SERVICES))
        for service in SERVICES:
            self.processes[service] = [self._process(service, 0)]
            self.processes[service][0].start()
        await asyncio.gather(*(ps[0].wait_ready() for ps in self.processes.values()))

    def _env(self, service: str) -> dict[str, str]:
        return service_env(
            service,
            bootstrap=self.broker.bootstrap,
            prefix=self.prefix,
            database_url=self.database_urls[service],
            workdir=self.workdir,
        )

    def _process(self, service: str, copy: int) -> ServiceProcess:
        return ServiceProcess(service, self._env(service), self.workdir / f"{service}-{copy}.log")

    def _migrate(self, service: str) -> None:
        migrate(service, self._env(service))

    def url(self, service: str) -> str:
        """The HTTP origin of the service's first process."""
        return self.processes[service][0].url

    def token(
        self, role: str, subject: str = "faults", accounts: list[str] | None = None
    ) -> dict[str, str]:
        """An Authorization header with a development token of `role` for `subject` (a
        borrower's names their `accounts`)."""
        settings = Settings.load(
            "accounts", auth_mode="development", auth_dev_secret_file=self.workdir / "dev-secret"
        )
        jwt = mint_dev_token(settings, role=role, subject=subject, accounts=accounts)
        return {"Authorization": f"Bearer {jwt}"}

    def dsns(self) -> dict[str, str]:
        """Each service's database as a plain asyncpg DSN."""
        return {s: asyncpg_dsn(u) for s, u in self.database_urls.items()}

    async def kill_and_restart(self, service: str, busy_s: float = 0) -> str:
        """kill -9 the service's first process (within `busy_s`, as soon as an actor's
        write to it is in flight, having released the work they hold for it), then start
        it again on the same port."""
        proc = self.processes[service][0]
        origin = origin_of(proc.url)
        writing: Counter[str] = self.pace.writing if self.pace else Counter()
        if self.pace is not None:
            self.pace.released[service] += 1
        deadline = time.monotonic() + busy_s
        while time.monotonic() < deadline:
            if writing[origin]:
                break
            await asyncio.sleep(0.005)
        busy = writing[origin]
        proc.kill()
        proc.start()
        await proc.wait_ready()
        return f"{busy} actor writes in flight" if busy_s else ""

    async def kill_during_relay(self, service: str) -> tuple[str, bool]:
        """kill -9 the service's first process as soon as its outbox holds unpublished
        rows (the relay's batch in flight), then start it again; what the outbox held
        before the kill and after it, and whether rows were left (the kill landed)."""
        proc = self.processes[service][0]
        conn = await asyncpg.connect(self.dsns()[service])
        try:
            deadline = time.monotonic() + RELAY_WATCH_S
            before = 0
            while time.monotonic() < deadline and not before:
                before = await conn.fetchval(UNPUBLISHED)
                await asyncio.sleep(0 if before else 0.005)
            proc.kill()
            # Nobody publishes now: what is still unpublished is what the relay left.
            left = await conn.fetchval(UNPUBLISHED)
        finally:
            await conn.close()
        proc.start()
        await proc.wait_ready()
        return f"outbox held {before} unpublished rows, {left} left at the kill", left > 0

    async def stall(self, service: str) -> tuple[str, bool]:
        """A second copy joins the service's groups, is SIGSTOPped until the coordinator
        drops it (its session timed out: the first copy takes its partitions), then is
        SIGCONTed: it must rejoin, or exit and start again cleanly; then it stops."""
        bootstrap, prefix = self.broker.bootstrap, self.prefix
        before = await wait_members(bootstrap, prefix, service, lambda m: all(m.values()), 30)
        assert before is not None, f"no settled group of {service} found"
        first = before[0]
        copy = self._process(service, len(self.processes[service]))
        self.processes[service].append(copy)
        copy.start()
        try:
            await copy.wait_ready()
            joined = await wait_members(
                bootstrap, prefix, service, lambda m: _newcomer(first, m), 30
            )
            if joined is None:
                return f"the second {service} never joined every group", False
            theirs = {g: joined[0][g] - ids for g, ids in first.items()}
            holding = await held(bootstrap, prefix, service, theirs)
            copy.freeze()
            dropped = await wait_members(
                bootstrap, prefix, service, lambda m: _without(theirs, m), SESSION_TIMEOUT_S + 30
            )
            copy.freeze(False)
            if dropped is None:
                return f"the stalled {service} was never dropped from its groups", False
            back = await wait_members(
                bootstrap,
                prefix,
                service,
                lambda m: _newcomer(_union(first, theirs), m) or not copy.alive(),
                60,
            )
            if copy.alive() and back is not None:
                woke = f"rejoined {back[1]}s after SIGCONT"
            else:
                copy.kill()
                copy.start()
                await copy.wait_ready()
                woke = "exited after SIGCONT and was started again"
            await asyncio.sleep(2)
            return (
                f"{sum(map(len, theirs.values()))} members holding {holding} partitions "
                f"stalled, dropped after "
                f"{dropped[1]}s (rebalance), {woke}",
                True,
            )
        finally:
            copy.freeze(False)
            copy.stop()

    async def twin(self, service: str, hold_s: float) -> None:
        """A second copy in the service's group for `hold_s` seconds, then kill -9 it."""
        copy = self._process(service, len(self.processes[service]))
        self.processes[service].append(copy)
        copy.start()
        try:
            await copy.wait_ready()
            await asyncio.sleep(hold_s)
        finally:
            copy.kill()

    async def restart_broker(self, down_s: float) -> None:
        """Stop the broker, leave it down `down_s` seconds, start it on the same data."""
        await asyncio.to_thread(self.broker.stop)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.broker.restart)

    async def restart_postgres(self) -> None:
        """Crash PostgreSQL and start it again on the same data."""
        await asyncio.to_thread(self.postgres.restart)

    def logs(self, chars: int = 2000) -> str:
        """The tail of every process's log, for a failure's report."""
        return "\n".join(
            f"--- {p.log_path.name} ---\n{p.log_tail(chars)}"
            for ps in self.processes.values()
            for p in ps
        )

    def teardown(self) -> None:
        """Kill every process, then remove the broker and the cluster with their data."""
        for ps in self.processes.values():
            for p in ps:
                with contextlib.suppress(Exception):
                    p.kill()
        self.broker.remove()
        self.postgres.remove()


def _newcomer(known: Members, now: Members) -> bool:
    """Every group of `known` holds a member now that it did not (a copy joined it)."""
    return all(now.get(g, set()) - ids for g, ids in known.items())


def _union(a: Members, b: Members) -> Members:
    return {g: a.get(g, set()) | b.get(g, set()) for g in a.keys() | b.keys()}


def _without(theirs: Members, now: Members) -> bool:
    """Every group has settled with members, and none of `theirs` among them."""
    return all(now.get(g) and not (now[g] & ids) for g, ids in theirs.items())


async def inject(stack: Stack, fault: Fault) -> tuple[str, bool]:
    """Cause one fault and wait until the system is whole again; what was seen, and
    whether the fault struck as meant."""
    if fault.kind == "kill":
        assert fault.service is not None
        busy_s = BUSY_WATCH_S if fault.service in ACTOR_SERVICES else 0
        return await stack.kill_and_restart(fault.service, busy_s), True
    elif fault.kind == "relay":
        assert fault.service is not None
        return await stack.kill_during_relay(fault.service)
    elif fault.kind == "twin":
        assert fault.service is not None
        await stack.twin(fault.service, hold_s=5)
    elif fault.kind == "stall":
        assert fault.service is not None
        return await stack.stall(fault.service)
    elif fault.kind == "broker":
        await stack.restart_broker(down_s=3)
    elif fault.kind == "postgres":
        await stack.restart_postgres()
    else:
        raise ValueError(f"unknown fault kind {fault.kind}")
    return "", True


@dataclass
class RunReport:
    """What a run published, which faults it injected, and what the checks found."""

    seed: int
    published: int
    injected: list[Injected]
    publish_s: float
    settle_s: float
    settle_after_last_fault_s: float
    findings: Findings
    poison: dict[tuple[str, int, int], str]
    relief: Relief = field(default_factory=Relief)

    @property
    def entries_per_s(self) -> float:
        """Audit entries chained per second, first publish to settled."""
        return round(self.findings.audit_entries / max(self.settle_s, 1e-9), 1)


class Publisher:
    """A plain idempotent Kafka producer, as an integrator would run one, that keeps trying
    through a broker outage and remembers where each record landed."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        self._topic = topic
        self.published: list[Published] = []

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, key: str, value: bytes) -> tuple[int, int]:
        """Publish until the broker acknowledges; the (partition, offset) it was given."""
        deadline = time.monotonic() + PUBLISH_RETRY_S
        while True:
            try:
                md = await self._producer.send_and_wait(self._topic, value, key=key.encode())
                return md.partition, md.offset
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def envelope(self, env: dict[str, Any]) -> None:
        """Publish one inbound envelope keyed by its account."""
        partition, offset = await self.send(env["account_id"], json.dumps(env).encode())
        self.published.append(
            Published(env["id"], env["account_id"], env["type"], partition, offset)
        )


async def until(probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `probe` (its transport errors count as not yet) until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, KafkaError):
            if await probe():
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s")


async def backlog(stack: Stack) -> list[str]:
    """What is still behind: groups of the run with uncommitted records, unpublished outboxes."""
    lag = await checks.consumer_lag(stack.broker.bootstrap, stack.prefix)
    outboxes = await checks.unpublished(stack.dsns())
    behind = [f"group {g} lags by {n}" for g, n in lag.items() if n]
    behind += [f"{s} outbox holds {n} unpublished" for s, n in outboxes.items() if n]
    return behind if lag else ["no consumer group of this run"]


async def settled(stack: Stack, timeout: float = SETTLE_TIMEOUT_S) -> list[str]:
    """Until nothing is behind (every group consumed everything, every outbox empty); what
    still was when `timeout` ran out, or []. The services' own timers (reminders) queue
    messages at any time, so an empty outbox holds for a moment, not for good."""
    deadline = time.monotonic() + timeout
    behind = ["not probed"]
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, KafkaError):
            if not (behind := await backlog(stack)):
                return []
        await asyncio.sleep(0.5)
    return behind


class Clock:
    """Seconds since the run's first publish."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Seconds elapsed."""
        return time.monotonic() - self._t0


async def publish_with_faults(
    stack: Stack,
    publisher: Publisher,
    workload: Workload,
    faults: list[Fault],
    pace_s: float,
    clock: Clock,
) -> tuple[list[Injected], dict[tuple[str, int, int], str], Relief]:
    """Publish the steps `pace_s` apart while the faults run one after another beside them,
    and the actors work through the HTTP APIs from the openings on.

    A relay kill's step waits to be published until the faults before it are done and
    the kill is watching accounts' outbox: the close it publishes then fills the outbox
    under the watcher's eyes, however long the earlier faults took.
    """
    injected: list[Injected] = []
    chain: asyncio.Task[None] | None = None
    urls = {s: stack.url(s) for s in SERVICES}
    armed = {f.after_step: asyncio.Event() for f in faults if f.kind == "relay"}

    async def after(prev: asyncio.Task[None] | None, fault: Fault) -> None:
        if prev is not None:
            await prev
        if fault.kind == "relay":
            armed[fault.after_step].set()
        await asyncio.sleep(fault.delay)
        at = clock.now()
        note, landed = await inject(stack, fault)
        injected.append(Injected(fault, round(at, 1), round(clock.now() - at, 1), note, landed))

    poison: dict[tuple[str, int, int], str] = {}
    steps: list[Step] = workload.steps()
    done = 0
    chained = not faults
    stack.pace = Pace(len(steps), lambda: done, lambda: chained)
    actors = asyncio.create_task(_act(urls, stack, workload))
    for i, step in enumerate(steps):
        if i in armed:
            for fault in (f for f in faults if f.after_step == i and f.kind == "relay"):
                chain = asyncio.create_task(after(chain, fault))
            await armed[i].wait()
        for env in step.envelopes:
            await publisher.envelope(env)
        if i == len(steps) // 2:
            for key, value in workload.poison:
                partition, offset = await publisher.send(key, value)
                poison[(f"{stack.prefix}.inbound", partition, offset)] = key
        for fault in (f for f in faults if f.after_step == i and f.kind != "relay"):
            chain = asyncio.create_task(after(chain, fault))
        done = i + 1
        await asyncio.sleep(pace_s)
    if chain is not None:
        await chain
    chained = True
    return injected, poison, await actors


async def _act(urls: dict[str, str], stack: Stack, workload: Workload) -> Relief:
    assert stack.pace is not None
    async with httpx.AsyncClient(timeout=30) as http:
        return await act(http, urls, stack.token, workload, stack.pace)


async def check_books(
    stack: Stack,
    http: httpx.AsyncClient,
    workload: Workload,
    publisher: Publisher,
    poison: dict[tuple[str, int, int], str],
    sample: int,
    relief: Relief,
) -> Findings:
    """Every check of the end state."""
    findings = Findings()
    by_account: dict[str, list[Published]] = {}
    for p in publisher.published:
        by_account.setdefault(p.account_id, []).append(p)
    audit = stack.url("audit")
    trails = {}
    for a in workload.accounts:
        entries = await checks.audit_history(http, audit, a.account_id)
        findings.audit_entries += len(entries)
        checks.check_trail(findings, workload, a.account_id, entries, by_account[a.account_id])
        trails[a.account_id] = entries
    checks.check_relief(findings, relief, trails)
    await checks.check_plans_applied(findings, http, stack.url("accounts"), relief, trails)
    await checks.check_account_state(findings, http, stack.url("accounts"), workload, sample)
    await checks.check_chains(findings, http, audit, set(poison.values()))
    findings.backlog += await settled(stack, timeout=60)
    await checks.check_rebuilds(findings, stack.database_urls)
    dlq = await checks.dead_letters(stack.broker.bootstrap, f"{stack.prefix}.dlq")
    checks.check_dlq(findings, dlq, poison)
    return findings


async def run(
    stack: Stack,
    workload: Workload,
    faults: list[Fault],
    *,
    pace_s: float = 1.0,
    sample: int = 30,
    earlier_poison: dict[tuple[str, int, int], str] | None = None,
) -> RunReport:
    """Publish the workload with the faults, wait until settled, check the books
    (`earlier_poison`: what earlier runs on this stack poisoned, allowed in the DLQ)."""
    headers = stack.token("compliance")
    async with (
        httpx.AsyncClient(timeout=30, headers=headers) as http,
        Publisher(stack.broker.bootstrap, f"{stack.prefix}.inbound") as publisher,
    ):
        clock = Clock()
        injected, poison, relief = await publish_with_faults(
            stack, publisher, workload, faults, pace_s, clock
        )
        publish_s = clock.now()
        last_fault = max((i.at_s + i.took_s for i in injected), default=0.0)
        behind = await settled(stack)
        settle_s = clock.now()
        poison |= earlier_poison or {}
        findings = await check_books(stack, http, workload, publisher, poison, sample, relief)
        findings.backlog += [f"not settled after {SETTLE_TIMEOUT_S}s: {b}" for b in behind]
    return RunReport(
        seed=workload.seed,
        published=len(publisher.published) + len(workload.poison),
        injected=injected,
        publish_s=round(publish_s, 1),
        settle_s=round(settle_s, 1),
        settle_after_last_fault_s=round(settle_s - last_fault, 1),
        findings=findings,
        poison=poison,
        relief=relief,
    )
