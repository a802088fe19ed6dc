"""Starts what tests/infra_choice.py chose for a tier, records the path actually taken, and
turns a missing dependency into a skip (or, in CI or when forced, a failure).

The kafka and integration tiers use `session_dependency`; the fault tier does not, since it
restarts its broker and PostgreSQL on the same data dirs (see tests/faults/conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.infra_choice import Choice, Lookups, select_kafka, select_postgres

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "deploy/local/kafka.sh"
POSTGRES_SH = ROOT / "deploy/local/postgres.sh"
KAFKA_POM = ROOT / "deploy/local/kafka/pom.xml"
# Not kafka.sh's default 19092, so a developer's own broker there is left alone.
KAFKA_PORT_VAR, KAFKA_DEFAULT_PORT = "ARREARS_TEST_KAFKA_PORT", "19192"
PG_PORT_VAR, PG_DEFAULT_PORT = "ARREARS_TEST_PG_PORT", "15433"
# First run: Maven fetches the broker's jars; afterwards a start takes a few seconds.
SCRIPT_TIMEOUT_S = 900
CONTAINER_TIMEOUT_S = 180
PG_IMAGE = "postgres:16"

# Inside the container: clients on 9092 (mapped to a host port), the broker's own
# inter-broker listener on 9093 and the KRaft controller on 9094.
KAFKA_CONTAINER_PORT = 9092
KAFKA_STARTER = "/tmp/arrears-kafka-start.sh"
KAFKA_STARTER_READY = "/tmp/arrears-kafka-start.ready"

CHOICES = pytest.StashKey[dict[str, Choice]]()
STARTED = pytest.StashKey[list[str]]()


class StartFailed(RuntimeError):
    """A server whose binaries (or Docker) are there did not start."""


@dataclass
class Started:
    """A running server: its address, how it was started, and how to stop it."""

    address: str
    detail: str
    stop: Callable[[], None]


def choices(config: pytest.Config) -> dict[str, Choice]:
    """Both dependencies' choices, decided once per run (header and fixtures agree)."""
    if CHOICES not in config.stash:
        look = Lookups.real(os.environ)
        config.stash[CHOICES] = {"kafka": select_kafka(look), "postgresql": select_postgres(look)}
    return config.stash[CHOICES]


def local_port(env: Mapping[str, str], var: str, default: str) -> str:
    """The local server's port: `var` when set (another engineer may hold the default)."""
    port = env.get(var, "").strip() or default
    if not port.isdigit():
        raise ValueError(f"{var} must be a port number, got {port!r}")
    return port


def kafka_version(pom_text: str) -> str:
    """The Kafka version deploy/local/kafka/pom.xml fetches (the container runs the same)."""
    found = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom_text)
    if found is None:
        raise ValueError("no <kafka.version> in deploy/local/kafka/pom.xml")
    return found.group(1)


@dataclass(frozen=True)
class ContainerSpec:
    """Image, environment and command of a container, before anything talks to Docker."""

    image: str
    env: dict[str, str]
    command: str


def kafka_container_spec(version: str) -> ContainerSpec:
    """Apache Kafka's official image as a single KRaft node (broker and controller in one),
    configured like deploy/local/kafka/server.properties.template."""
    env = {
        "CLUSTER_ID": "YXJyZWFycy10ZXN0LWthZg",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        "KAFKA_NUM_PARTITIONS": "4",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    # The advertised address holds the host port Docker maps 9092 to, known only once the
    # container runs: so it waits for a starter script written after start (the approach of
    # testcontainers-java's KafkaContainer for this image; testcontainers-python's
    # KafkaContainer drives Confluent's image scripts and cannot run apache/kafka).
    command = (
        f"sh -c 'while [ ! -f {KAFKA_STARTER_READY} ]; do sleep 0.1; done; exec sh {KAFKA_STARTER}'"
    )
    return ContainerSpec(f"apache/kafka:{version}", env, command)


def kafka_starter_archive(advertised: str) -> bytes:
    """A tar of the starter script (advertising `advertised` to clients), then its ready flag."""
    script = (
        f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{advertised},BROKER://$(hostname):9093\n"
        "exec /etc/kafka/docker/run\n"
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        # The flag comes second, so the container never runs a half-written script.
        for path, data in ((KAFKA_STARTER, script), (KAFKA_STARTER_READY, b"")):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def kafka_container(version: str) -> Any:
    """An unstarted testcontainers DockerContainer running `kafka_container_spec(version)`."""
    from testcontainers.core.container import DockerContainer

    spec = kafka_container_spec(version)
    container = DockerContainer(spec.image)
    for key, value in spec.env.items():
        container.with_env(key, value)
    return container.with_exposed_ports(KAFKA_CONTAINER_PORT).with_command(spec.command)


def postgres_container() -> Any:
    """An unstarted testcontainers postgres:16 with deploy/local/postgres.sh's role and db."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community package split
        from testcontainers.postgres import PostgresContainer
    container = PostgresContainer(
        PG_IMAGE, username="arrears", password="arrears", dbname="arrears_test"
    )
    # postgres.sh's test-only speed settings: nothing in a test database must survive a crash.
    return container.with_command(
        "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )


def asyncpg_url(url: str) -> str:
    """`url` with the asyncpg driver the services use (testcontainers names psycopg2)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def run_script(script: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run a deploy/local script (with `env` over ours); its stdout, the `NAME=value` line."""
    what = f"deploy/local/{script.name} {' '.join(args)}"
    try:
        out = subprocess.run(
            [str(script), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=SCRIPT_TIMEOUT_S,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        raise StartFailed(f"{what} took over {SCRIPT_TIMEOUT_S}s") from exc
    if out.returncode != 0:
        raise StartFailed(f"{what} failed: {out.stderr[-1500:]}")
    return out.stdout.strip()


def _stopper(script: Path, port: str, env: Mapping[str, str]) -> Callable[[], None]:
    def stop() -> None:
        # Idempotent, and a failed stop must not hide the test's own outcome.
        with contextlib.suppress(StartFailed):
            run_script(script, "stop", port, env=env)

    return stop


def _local(script: Path, port: str, env: Mapping[str, str]) -> Started:
    stop = _stopper(script, port, env)
    try:
        address = run_script(script, "start", port, env=env).split("=", 1)[1]
    except StartFailed:
        stop()  # a half-started server must not outlive the run
        raise
    return Started(address, f"local deploy/local/{script.name}", stop)


def _container(container: Any, address: Callable[[Any], str], what: str) -> Started:
    try:
        container.start()
        return Started(address(container), f"testcontainers {what}", container.stop)
    except Exception as exc:
        with contextlib.suppress(Exception):
            container.stop()
        raise StartFailed(f"testcontainers {what} did not start: {exc}") from exc


def _kafka_address(container: Any) -> str:
    from testcontainers.core.waiting_utils import wait_for_logs

    host = container.get_container_host_ip()
    address = f"{host}:{container.get_exposed_port(KAFKA_CONTAINER_PORT)}"
    container.get_wrapped_container().put_archive("/", kafka_starter_archive(address))
    wait_for_logs(container, "Kafka Server started", timeout=CONTAINER_TIMEOUT_S)
    return address


def start_kafka(choice: Choice, env: Mapping[str, str]) -> Started:
    """Start (or, for `env`, just name) the broker `choice` picked."""
    if choice.path == "env":
        return Started(env["KAFKA_BOOTSTRAP_SERVERS"], "env KAFKA_BOOTSTRAP_SERVERS", lambda: None)
    if choice.path == "local":
        return _local(KAFKA_SH, local_port(env, KAFKA_PORT_VAR, KAFKA_DEFAULT_PORT), env)
    version = kafka_version(KAFKA_POM.read_text())
    return _container(kafka_container(version), _kafka_address, f"apache/kafka:{version}")


def start_postgres(choice: Choice, env: Mapping[str, str]) -> Started:
    """Start (or, for `env`, just name) the PostgreSQL server `choice` picked."""
    if choice.path == "env":
        return Started(env["ARREARS_TEST_PG_URL"], "env ARREARS_TEST_PG_URL", lambda: None)
    if choice.path == "local":
        return _local(POSTGRES_SH, local_port(env, PG_PORT_VAR, PG_DEFAULT_PORT), env)
    return _container(postgres_container(), lambda c: asyncpg_url(c.get_connection_url()), PG_IMAGE)


STARTERS: dict[str, Callable[[Choice, Mapping[str, str]], Started]] = {
    "kafka": start_kafka,
    "postgresql": start_postgres,
}


def _missing(choice: Choice, why: str) -> NoReturn:
    if choice.fail:
        pytest.fail(f"{choice.dependency} is required (CI=true, or a forced path): {why}")
    pytest.skip(f"no {choice.dependency}: {why}")


def session_dependency(config: pytest.Config, dependency: str) -> Iterator[str]:
    """A session fixture's body: the address of a running server, stopped afterwards if we
    started it; skips or fails (CI, forced path) when there is none."""
    choice = choices(config)[dependency]
    if choice.path == "missing":
        _missing(choice, choice.why)
    env = dict(os.environ)
    try:
        started = STARTERS[dependency](choice, env)
    except StartFailed as exc:
        _missing(choice, f"{choice.why}; {exc}")
    config.stash.setdefault(STARTED, []).append(
        f"{dependency}: {started.detail} at {started.address.split('@')[-1]}"
    )
    try:
        yield started.address
    finally:
        started.stop()
