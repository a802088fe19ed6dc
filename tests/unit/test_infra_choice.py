"""Which Kafka and PostgreSQL a run uses (tests/infra_choice.py), and the apache/kafka
container it would start, checked without Docker, Java, PostgreSQL or a network."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from tests import infra_start
from tests.infra_choice import Choice, Lookups, select_kafka, select_postgres
from tests.infra_start import (
    KAFKA_POM,
    KAFKA_STARTER,
    KAFKA_STARTER_READY,
    asyncpg_url,
    kafka_container,
    kafka_container_spec,
    kafka_starter_archive,
    kafka_version,
    local_port,
)

Select = Callable[[Lookups], Choice]
KAFKA = (select_kafka, "KAFKA_BOOTSTRAP_SERVERS", ("java", "mvn"))
POSTGRES = (select_postgres, "ARREARS_TEST_PG_URL", ("pg_ctl",))
BOTH = pytest.mark.parametrize(
    ("select", "env_var", "tools"), [KAFKA, POSTGRES], ids=["kafka", "postgresql"]
)
NO_DOCKER = "Docker does not answer (test)"


def lookups(
    env: Mapping[str, str] | None = None,
    on_path: Iterable[str] = (),
    globbed: Iterable[str] = (),
    importable: bool = True,
    docker: bool = True,
) -> Lookups:
    """Lookups of a machine with these tools, these globbed files, testcontainers and Docker."""
    tools, found = set(on_path), list(globbed)
    return Lookups(
        env=env or {},
        which=lambda name: f"/usr/bin/{name}" if name in tools else None,
        glob=lambda pattern: found,
        testcontainers=lambda: None if importable else "testcontainers not importable (test)",
        docker=lambda: None if docker else NO_DOCKER,
    )


def probe_must_not_run() -> str | None:
    raise AssertionError("a later path's probe ran although an earlier path was taken")


@BOTH
def test_the_env_var_wins_over_every_other_path(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    look = lookups({env_var: "somewhere"}, on_path=tools)
    choice = select(
        Lookups(look.env, look.which, look.glob, probe_must_not_run, probe_must_not_run)
    )
    assert (choice.path, choice.fail) == ("env", False)


@BOTH
def test_local_script_when_its_binaries_are_on_path(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    look = lookups(on_path=tools)
    choice = select(
        Lookups(look.env, look.which, look.glob, probe_must_not_run, probe_must_not_run)
    )
    assert choice.path == "local"
    assert choice.reasons == (f"{env_var} not set",)


def test_kafka_local_needs_both_java_and_mvn() -> None:
    choice = select_kafka(lookups(on_path=["java"], docker=False))
    assert choice.path == "missing"
    assert "mvn not on PATH" in choice.why


def test_postgres_local_also_finds_pg_ctl_in_the_debian_layout() -> None:
    choice = select_postgres(lookups(globbed=["/usr/lib/postgresql/16/bin/pg_ctl"]))
    assert choice.path == "local"


@BOTH
def test_testcontainers_when_it_imports_and_docker_answers(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    choice = select(lookups())
    assert choice.path == "testcontainers"
    assert choice.reasons[0] == f"{env_var} not set"
    assert len(choice.reasons) == 2  # and why the local script was not used


@BOTH
@pytest.mark.parametrize(
    ("importable", "docker", "why"),
    [(False, True, "not importable"), (True, False, "does not answer")],
)
def test_missing_skips_outside_ci_naming_every_reason(
    select: Select,
    env_var: str,
    tools: tuple[str, ...],
    importable: bool,
    docker: bool,
    why: str,
) -> None:
    choice = select(lookups({"CI": "false"}, importable=importable, docker=docker))
    assert (choice.path, choice.fail) == ("missing", False)
    assert len(choice.reasons) == 3
    assert choice.reasons[0] == f"{env_var} not set"
    assert why in choice.reasons[2]
    assert "skip" in choice.header()


@BOTH
@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_missing_fails_in_ci(select: Select, env_var: str, tools: tuple[str, ...], ci: str) -> None:
    choice = select(lookups({"CI": ci}, docker=False))
    assert (choice.path, choice.fail) == ("missing", True)
    assert "fail" in choice.header()


@BOTH
def test_a_found_server_that_then_does_not_start_fails_in_ci(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    assert select(lookups({"CI": "true"}, on_path=tools)).fail
    assert not select(lookups({}, on_path=tools)).fail


@BOTH
def test_forcing_testcontainers_passes_over_env_and_local(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    env = {env_var: "somewhere", "ARREARS_TEST_INFRA": "testcontainers"}
    choice = select(lookups(env, on_path=tools))
    assert choice.path == "testcontainers"
    assert choice.fail  # forced: a container that then does not start fails, never skips


@BOTH
def test_forcing_local_passes_over_env(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    choice = select(lookups({env_var: "x", "ARREARS_TEST_INFRA": "local"}, on_path=tools))
    assert choice.path == "local"


@BOTH
@pytest.mark.parametrize(
    ("forced", "importable", "docker", "why"),
    [
        ("testcontainers", True, False, NO_DOCKER),
        ("testcontainers", False, True, "not importable"),
        ("local", True, True, "on PATH"),
    ],
)
def test_a_forced_path_that_is_unavailable_fails_even_outside_ci(
    select: Select,
    env_var: str,
    tools: tuple[str, ...],
    forced: str,
    importable: bool,
    docker: bool,
    why: str,
) -> None:
    env = {"ARREARS_TEST_INFRA": forced, env_var: "set but not forced"}
    choice = select(lookups(env, importable=importable, docker=docker))
    assert (choice.path, choice.fail) == ("missing", True)
    assert choice.why.startswith(f"ARREARS_TEST_INFRA={forced} but ")
    assert why in choice.why


@BOTH
def test_a_bad_forced_value_fails_naming_the_allowed_values(
    select: Select, env_var: str, tools: tuple[str, ...]
) -> None:
    choice = select(lookups({"ARREARS_TEST_INFRA": "docker"}, on_path=tools))
    assert (choice.path, choice.fail) == ("missing", True)
    assert "'docker'" in choice.why
    assert "local or testcontainers" in choice.why


def test_local_ports_default_and_can_be_moved_off_a_shared_server() -> None:
    assert local_port({}, "ARREARS_TEST_KAFKA_PORT", "19192") == "19192"
    assert (
        local_port({"ARREARS_TEST_KAFKA_PORT": "19492"}, "ARREARS_TEST_KAFKA_PORT", "1") == "19492"
    )
    with pytest.raises(ValueError, match="ARREARS_TEST_PG_PORT"):
        local_port({"ARREARS_TEST_PG_PORT": "15533x"}, "ARREARS_TEST_PG_PORT", "15433")


def test_the_container_runs_the_kafka_version_deploy_local_fetches() -> None:
    version = kafka_version(KAFKA_POM.read_text())
    assert version.split(".")[0] == "4"
    assert kafka_container_spec(version).image == f"apache/kafka:{version}"
    with pytest.raises(ValueError):
        kafka_version("<project></project>")


def test_the_kafka_container_is_a_single_kraft_node_like_the_local_broker() -> None:
    env = kafka_container_spec("4.1.1").env
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(env)
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@localhost:9094"
    assert "CONTROLLER://:9094" in env["KAFKA_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    # Formatting KRaft storage needs a cluster id: 16 bytes, base64url without padding.
    assert len(env["CLUSTER_ID"]) == 22
    # One broker: internal topics must fit on it, as in server.properties.template.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_NUM_PARTITIONS"] == "4"


def test_the_starter_advertises_the_mapped_port_and_is_complete_before_its_flag() -> None:
    with tarfile.open(fileobj=io.BytesIO(kafka_starter_archive("127.0.0.1:32771"))) as tar:
        names = tar.getnames()
        script_file = tar.extractfile(KAFKA_STARTER.lstrip("/"))
        assert script_file is not None
        script = script_file.read().decode()
    assert names == [KAFKA_STARTER.lstrip("/"), KAFKA_STARTER_READY.lstrip("/")]
    assert "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:32771," in script
    assert script.rstrip().endswith("exec /etc/kafka/docker/run")
    assert KAFKA_STARTER_READY in kafka_container_spec("4.1.1").command


class _NoDaemon:
    """Stands in for testcontainers' DockerClient, whose constructor asks the daemon."""

    def __init__(self, **kwargs: Any) -> None:
        pass


def test_the_testcontainers_object_carries_the_apache_image_and_kraft_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container_module = pytest.importorskip("testcontainers.core.container")
    monkeypatch.setattr(container_module, "DockerClient", _NoDaemon)
    spec = kafka_container_spec("4.1.1")
    container = kafka_container("4.1.1")
    assert container.image.endswith("apache/kafka:4.1.1")
    assert container.env == spec.env
    assert container._command == spec.command
    assert "9092" in {str(port).split("/")[0] for port in container.ports}


def test_the_postgres_container_is_postgres_16_with_an_asyncpg_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container_module = pytest.importorskip("testcontainers.core.container")
    monkeypatch.setattr(container_module, "DockerClient", _NoDaemon)
    container = infra_start.postgres_container()
    assert container.image.endswith("postgres:16")
    assert (container.username, container.dbname) == ("arrears", "arrears_test")
    url = "postgresql+psycopg2://arrears:arrears@localhost:32772/arrears_test"
    assert asyncpg_url(url) == "postgresql+asyncpg://arrears:arrears@localhost:32772/arrears_test"
