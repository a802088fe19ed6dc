"""Which Kafka broker and PostgreSQL server a test run uses, decided without side effects.

Kafka: KAFKA_BOOTSTRAP_SERVERS; else deploy/local/kafka.sh (java and mvn on PATH); else a
testcontainers apache/kafka (the package imports and Docker answers); else missing.
PostgreSQL: ARREARS_TEST_PG_URL; else deploy/local/postgres.sh (pg_ctl on PATH or under
/usr/lib/postgresql/*/bin); else a testcontainers postgres; else missing. Missing skips,
or fails with CI=true so a CI run never passes by testing nothing. ARREARS_TEST_INFRA=local
or =testcontainers forces that path for both (and fails when it is unavailable).

The selection functions take every lookup as an argument, so each branch is unit-tested
without Docker, Java or PostgreSQL on the machine; `Lookups.real()` wires in this one's.
"""

from __future__ import annotations

import glob
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Path = Literal["env", "local", "testcontainers", "missing"]
FORCE_VAR = "ARREARS_TEST_INFRA"
FORCEABLE: tuple[Path, ...] = ("local", "testcontainers")
KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
PG_ENV = "ARREARS_TEST_PG_URL"
PG_CTL_GLOB = "/usr/lib/postgresql/*/bin/pg_ctl"

# A probe answers None when the thing is usable, else why it is not.
Probe = Callable[[], str | None]


@dataclass(frozen=True)
class Choice:
    """The path one dependency takes, why the earlier paths were not taken, and the verdict."""

    dependency: str
    path: Path
    reasons: tuple[str, ...] = ()
    # A missing server (none found, or the chosen one did not start) fails the run rather
    # than skipping its tests: in CI, and when the path was forced.
    fail: bool = False

    @property
    def why(self) -> str:
        """The reasons as one line."""
        return "; ".join(self.reasons) or "first choice"

    def header(self) -> str:
        """One line for pytest's report header."""
        verdict = f" ({'fail' if self.fail else 'skip'})" if self.path == "missing" else ""
        return f"{self.dependency}: {self.path}{verdict} — {self.why}"


@dataclass(frozen=True)
class Lookups:
    """Everything the selection looks at: environment, PATH, testcontainers and Docker."""

    env: Mapping[str, str]
    which: Callable[[str], str | None]
    glob: Callable[[str], list[str]]
    testcontainers: Probe
    docker: Probe

    @classmethod
    def real(cls, env: Mapping[str, str]) -> Lookups:
        """This machine's lookups (the probes run only if the selection reaches them)."""
        return cls(env, shutil.which, glob.glob, _testcontainers_imports, _docker_answers)


def _testcontainers_imports() -> str | None:
    try:
        import docker  # noqa: F401
        import testcontainers.core.container  # noqa: F401
    except ImportError as exc:
        return f"testcontainers not importable ({exc})"
    return None


def _docker_answers() -> str | None:
    import docker

    try:
        # A short timeout: a DOCKER_HOST that does not answer must not stall the run.
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"Docker does not answer ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def _ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").lower() == "true"


def _local_kafka(look: Lookups) -> str | None:
    missing = [tool for tool in ("java", "mvn") if not look.which(tool)]
    if missing:
        return f"{' and '.join(missing)} not on PATH (deploy/local/kafka.sh needs java and mvn)"
    return None


def _local_postgres(look: Lookups) -> str | None:
    if look.which("pg_ctl") or look.glob(PG_CTL_GLOB):
        return None
    return f"pg_ctl neither on PATH nor at {PG_CTL_GLOB} (deploy/local/postgres.sh install)"


def _testcontainers(look: Lookups) -> str | None:
    return look.testcontainers() or look.docker()


def _select(dependency: str, env_var: str, local: Probe, look: Lookups) -> Choice:
    forced = look.env.get(FORCE_VAR, "").strip()
    probes: dict[Path, Probe] = {"local": local, "testcontainers": lambda: _testcontainers(look)}
    if forced:
        if forced not in FORCEABLE:
            allowed = " or ".join(FORCEABLE)
            why = f"{FORCE_VAR}={forced!r} is not a path: use {allowed} (or leave it unset)"
            return Choice(dependency, "missing", (why,), fail=True)
        path: Path = "local" if forced == "local" else "testcontainers"
        unavailable = probes[path]()
        if unavailable:
            why = f"{FORCE_VAR}={forced} but {unavailable}"
            return Choice(dependency, "missing", (why,), fail=True)
        return Choice(dependency, path, (f"forced by {FORCE_VAR}={forced}",), fail=True)
    ci = _ci(look.env)
    if look.env.get(env_var):
        return Choice(dependency, "env", (f"{env_var} is set",), fail=ci)
    reasons = [f"{env_var} not set"]
    for path, probe in probes.items():
        unavailable = probe()
        if unavailable is None:
            return Choice(dependency, path, tuple(reasons), fail=ci)
        reasons.append(unavailable)
    return Choice(dependency, "missing", tuple(reasons), fail=ci)


def select_kafka(look: Lookups) -> Choice:
    """Kafka: env, else deploy/local/kafka.sh, else testcontainers, else missing."""
    return _select("kafka", KAFKA_ENV, lambda: _local_kafka(look), look)


def select_postgres(look: Lookups) -> Choice:
    """PostgreSQL: env, else deploy/local/postgres.sh, else testcontainers, else missing."""
    return _select("postgresql", PG_ENV, lambda: _local_postgres(look), look)
