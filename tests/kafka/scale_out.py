"""Copies of accounts and audit as OS processes in one consumer group each, on a real
Kafka broker and PostgreSQL; what each copy applied, read from its own `/metrics`.

Used by tests/kafka/test_scale_out.py and bench/scale_out.py. The processes, the
environment and the integrator's producer are the fault tier's (tests/faults).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import mint_dev_token
from shared.settings import Settings
from tests.faults.harness import until
from tests.faults.infra import ServiceProcess, asyncpg_dsn, migrate, service_env
from tests.support import bill, create_database, opened, payment

SERVICES = ("accounts", "audit")
SETTLE_TIMEOUT_S = 600


def workload(accounts: int, bills: int = 3) -> list[dict[str, Any]]:
    """Every account opened, then per account `bills` bills and a payment for each."""
    ids = [f"so-{i:05d}" for i in range(accounts)]
    events = [opened(a) for a in ids]
    for n in range(bills):
        events += [bill(a, f"{a}-b{n}", principal=100_00) for a in ids]
        events += [payment(a, f"{a}-p{n}", 10_00) for a in ids]
    return events


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


@dataclass
class ScaleOut:
    """`copies` processes each of accounts and audit, each service its own database."""

    workdir: Path
    bootstrap: str
    pg_url: str
    copies: int = 2
    prefix: str = field(default_factory=lambda: f"scale{uuid.uuid4().hex[:8]}")
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)

    def group(self, service: str) -> str:
        """The consumer group of the service's consumer of the inbound topic."""
        return f"{self.prefix}.{service}.{'inbound' if service == 'accounts' else 'trail'}"

    def _env(self, service: str) -> dict[str, str]:
        env = service_env(
            service,
            bootstrap=self.bootstrap,
            prefix=self.prefix,
            database_url=self.database_urls[service],
            workdir=self.workdir,
        )
        return {**env, "RATE_LIMIT_STORE": "memory"}

    async def start(self) -> None:
        """Create and migrate the databases, start every copy, wait until each is ready."""
        for service in SERVICES:
            self.database_urls[service] = await create_database(
                self.pg_url, f"{self.prefix}_{service}"
            )
            await asyncio.to_thread(migrate, service, self._env(service))
        for service in SERVICES:
            self.processes[service] = [
                ServiceProcess(service, self._env(service), self.workdir / f"{service}-{n}.log")
                for n in range(self.copies)
            ]
            for p in self.processes[service]:
                p.start()
        await asyncio.gather(*(p.wait_ready() for ps in self.processes.values() for p in ps))

    def token(self, role: str) -> dict[str, str]:
        """An Authorization header with a development token of `role`."""
        settings = Settings.load(
            "accounts", auth_mode="development", auth_dev_secret_file=self.workdir / "dev-secret"
        )
        return {"Authorization": f"Bearer {mint_dev_token(settings, role=role, subject='scale')}"}

    async def publish(self, events: list[dict[str, Any]]) -> None:
        """Publish onto the inbound topic as an integrator would, keyed by account (sent
        without waiting for each acknowledgement, then all awaited: the producer keeps each
        key's order)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            topic = f"{self.prefix}.inbound"
            sent = [
                await producer.send(topic, json.dumps(e).encode(), key=e["account_id"].encode())
                for e in events
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def scrape(self, proc: ServiceProcess) -> str:
        """The copy's /metrics."""
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"{proc.url}/metrics")
            r.raise_for_status()
            return r.text

    async def applied(self, service: str) -> list[float]:
        """Per live copy: the inbound events it applied itself (from its own metrics)."""
        consumer = self.group(service)
        return [
            metric(await self.scrape(p), "arrears_events_applied_total", consumer=consumer)
            for p in self.processes[service]
            if p.proc is not None and p.proc.poll() is None
        ]

    def alive(self, service: str) -> ServiceProcess:
        """A copy of the service still running."""
        return next(p for p in self.processes[service] if p.proc and p.proc.poll() is None)

    async def settled(self, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Until every consumer of both services has no lag (as their metrics say)."""

        async def caught_up() -> bool:
            for service in SERVICES:
                text = await self.scrape(self.alive(service))
                families = {f.name for f in text_string_to_metric_families(text)}
                if "arrears_consumer_lag" not in families:
                    return False
                if metric(text, "arrears_consumer_lag") != 0:
                    return False
                if metric(text, "arrears_outbox_backlog") != 0:
                    return False
            return True

        await until(caught_up, timeout, "every consumer caught up")

    def dsn(self, service: str) -> str:
        """The service's database as a plain asyncpg DSN."""
        return asyncpg_dsn(self.database_urls[service])

    def logs(self, chars: int = 2000) -> str:
        """The tail of every process's log."""
        return "\n".join(
            f"--- {p.log_path.name} ---\n{p.log_tail(chars)}"
            for ps in self.processes.values()
            for p in ps
        )

    async def drop_databases(self) -> None:
        """Drop the run's databases (the server is shared with other tests)."""
        conn = await asyncpg.connect(asyncpg_dsn(self.pg_url))
        try:
            for service in self.database_urls:
                await conn.execute(
                    f'DROP DATABASE IF EXISTS "{self.prefix}_{service}" WITH (FORCE)'
                )
        finally:
            await conn.close()

    def stop(self) -> None:
        """Stop every copy (kill what does not stop)."""
        for ps in self.processes.values():
            for p in ps:
                p.stop()
