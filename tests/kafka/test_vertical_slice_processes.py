"""The vertical slice on a real Kafka broker, each service its own OS process and database.

An integrator publishes straight to `<prefix>.inbound`; the audit history must show the
bill, the overdue event, the collection case and the plan agreement, in that order.
A malformed message on the same partition goes to the DLQ and does not stop the flow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.settings import SERVICES, Settings
from tests.support import auth, bill, day_closed, eventually, opened

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(
    kafka_bootstrap: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], dict[str, dict[str, str]]]]:
    """Four `python -m services.X` processes on Kafka, each with its own SQLite database."""
    prefix = f"slice{uuid.uuid4().hex[:8]}"
    dev = Settings.load(
        "accounts", auth_mode="development", auth_dev_secret_file=tmp_path / "dev-secret"
    )
    tokens = {role: auth(dev, role) for role in ("agent", "compliance")}
    tokens["borrower"] = auth(dev, "borrower", "borrower-k1", ["K1"])
    urls, procs = {}, []
    for service in SERVICES:
        port = free_port()
        env = {
            **os.environ,
            "EVENT_LOG": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "TOPIC_PREFIX": prefix,
            "DATA_DIR": str(tmp_path / service),
            "CONSUMER_MAX_ATTEMPTS": "2",
            "AUTH_MODE": "development",
            "AUTH_DEV_SECRET_FILE": str(tmp_path / "dev-secret"),
        }
        env.pop("DATABASE_URL", None)
        log = (tmp_path / f"{service}.log").open("w")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    f"services.{service}",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls[service] = f"http://127.0.0.1:{port}"
    try:
        yield prefix, urls, tokens
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for service in SERVICES:
            print(f"--- {service} log ---\n" + (tmp_path / f"{service}.log").read_text()[-3000:])


async def test_integrator_events_flow_through_four_processes_into_the_audit_trail(
    stack: tuple[str, dict[str, str], dict[str, dict[str, str]]], kafka_bootstrap: str
) -> None:
    prefix, urls, tokens = stack
    async with httpx.AsyncClient(timeout=5) as http:
        for url in urls.values():

            async def ready(url: str = url) -> int:
                try:
                    return (await http.get(f"{url}/readyz")).status_code
                except httpx.TransportError:
                    return 0

            await eventually(ready, lambda code: code == 200, timeout=60)

        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            inbound = f"{prefix}.inbound"
            await producer.send_and_wait(inbound, b"{not json", key=b"K1")
            for env in (opened("K1"), bill("K1", "B1", due="2026-03-10")):
                await producer.send_and_wait(inbound, json.dumps(env).encode(), key=b"K1")
            # The close of the day after the due date: one day past due opens the case.
            closed = day_closed("2026-03-11", account_id="K1")
            await producer.send_and_wait(inbound, json.dumps(closed).encode(), key=b"K1")
        finally:
            await producer.stop()

        await eventually(
            lambda: http.get(f"{urls['contact']}/v1/accounts/K1/case", headers=tokens["agent"]),
            lambda r: r.status_code == 200,
            timeout=60,
        )
        # The agent agrees a plan once the case is on record; only then is the order causal.
        await eventually(
            lambda: http.get(
                f"{urls['audit']}/v1/accounts/K1/history?purpose=slice-test",
                headers=tokens["compliance"],
            ),
            lambda r: "CollectionCaseOpened" in [e["type"] for e in r.json()["entries"]],
            timeout=60,
        )
        # The agent requests a deferral and offers it; the borrower accepts its disclosure.
        plans = f"{urls['plans']}/v1/accounts/K1/plans"
        await eventually(
            lambda: http.post(f"{plans}/quote", json={}, headers=tokens["agent"]),
            lambda r: "deferral-1" in [o["option_id"] for o in r.json().get("options", [])],
            timeout=60,
        )
        requested = await http.post(
            plans, json={"plan_type": "deferral", "channel": "phone"}, headers=tokens["agent"]
        )
        assert requested.status_code == 201, requested.text
        plan_id = requested.json()["plan_id"]
        offered = await http.post(
            f"{plans}/{plan_id}/offer", json={"option_id": "deferral-1"}, headers=tokens["agent"]
        )
        assert offered.status_code == 200, offered.text
        accepted = await http.post(
            f"{plans}/{plan_id}/accept",
            json={
                "channel": "app",
                "disclosure_sha256": offered.json()["offer"]["disclosure_sha256"],
            },
            headers=tokens["borrower"],
        )
        assert accepted.json()["state"] == "active", accepted.text
        history = await eventually(
            lambda: http.get(
                f"{urls['audit']}/v1/accounts/K1/history?purpose=slice-test",
                headers=tokens["compliance"],
            ),
            lambda r: "DueDatesDeferred" in [e["type"] for e in r.json()["entries"]],
            timeout=60,
        )
    types = [e["type"] for e in history.json()["entries"]]
    wanted = [
        "BillIssued",
        "BillBecameOverdue",
        "CollectionCaseOpened",
        "PlanOffered",
        "PlanAccepted",
        "PlanActivated",
        "DueDatesDeferred",
    ]
    assert [t for t in types if t in wanted] == wanted, types

    dlq = AIOKafkaConsumer(
        f"{prefix}.dlq",
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dlq.start()
    try:
        batches = await dlq.getmany(timeout_ms=10_000)
        records = [json.loads(r.value) for rs in batches.values() for r in rs]
    finally:
        await dlq.stop()
    assert any(
        r["kind"] == "invalid"
        and "malformed JSON" in r["reason"]
        and r["original"] == "{not json"
        and r["source_topic"] == f"{prefix}.inbound"
        for r in records
    ), records
