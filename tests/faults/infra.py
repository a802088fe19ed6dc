"""The fault tier's moving parts as OS processes: a Kafka broker, a PostgreSQL cluster and
the four services, each started, killed and restarted the way an operator (or a power cut)
would, through deploy/local's scripts and `arrears serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tests.infra_start import run_script as _script
from tests.support import create_database

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy/local/kafka.sh"
POSTGRES_SH = ROOT / "deploy/local/postgres.sh"
READY_TIMEOUT_S = 120


class Unavailable(RuntimeError):
    """A piece the tier needs (java and mvn, PostgreSQL's binaries) is not on this machine."""


def free_port(pair: bool = False) -> int:
    """A TCP port free now on 127.0.0.1 (and, with `pair`, the one after it too)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not pair or _is_free(port + 1):
            return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Broker:
    """A single-node Kafka broker of deploy/local/kafka.sh on its own ports."""

    port: int = field(default_factory=lambda: free_port(pair=True))

    @property
    def bootstrap(self) -> str:
        """Its bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def check_available() -> None:
        """Raise Unavailable unless kafka.sh can run here."""
        if not (shutil.which("java") and shutil.which("mvn")):
            raise Unavailable("java and mvn not both on PATH (for deploy/local/kafka.sh)")

    def start(self) -> None:
        """A fresh broker (empty data directory)."""
        _script(KAFKA_SH, "start", str(self.port))

    def stop(self) -> None:
        """Stop it (a clean shutdown); its data stays for `restart`."""
        _script(KAFKA_SH, "stop", str(self.port))

    def restart(self) -> None:
        """Start it again on the same data directory (topics, records, offsets kept)."""
        _script(KAFKA_SH, "restart", str(self.port))

    def remove(self) -> None:
        """Stop it and delete its data."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(ROOT / f"deploy/local/.cache/kafka-run-{self.port}", ignore_errors=True)


@dataclass
class Postgres:
    """A PostgreSQL cluster of deploy/local/postgres.sh on its own port: durable unless told
    otherwise (non-durable, a crash loses acknowledged commits: issue 13's lost entries)."""

    port: int = field(default_factory=free_port)
    durable: bool = True
    url: str = ""

    @staticmethod
    def check_available() -> None:
        """Raise Unavailable unless postgres.sh finds the server binaries."""
        if not (shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))):
            raise Unavailable("PostgreSQL server not installed (deploy/local/postgres.sh install)")

    def start(self) -> None:
        """A fresh cluster (PG_DURABLE=1: its acknowledged commits survive a crash)."""
        durable = {"PG_DURABLE": "1" if self.durable else "0"}
        line = _script(POSTGRES_SH, "start", str(self.port), env=durable)
        self.url = line.split("=", 1)[1]

    def restart(self) -> None:
        """Crash it (immediate stop) and start it again on the same data."""
        _script(POSTGRES_SH, "restart", str(self.port))

    def remove(self) -> None:
        """Stop it and delete its data."""
        with contextlib.suppress(Exception):
            _script(POSTGRES_SH, "stop", str(self.port))
        for d in (
            ROOT / f"deploy/local/.cache/pg-{self.port}",
            Path(f"/tmp/arrears-pg-{self.port}"),
        ):
            shutil.rmtree(d, ignore_errors=True)

    async def create_database(self, name: str) -> str:
        """A new empty database on the cluster; its SQLAlchemy URL."""
        return await create_database(self.url, name)


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy asyncpg URL as a plain asyncpg DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class ServiceProcess:
    """One `arrears serve <service>` OS process in its own process group."""

    service: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its HTTP origin."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn it (migrations were run once beforehand, so copies never race on them)."""
        log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "services.cli", "serve", self.service]
        cmd += ["--port", str(self.port), "--no-migrate", "--log-level", "warning"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal its whole process group (SIGKILL: no shutdown code runs)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Ask it to stop cleanly; kill it if it does not within 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until `/readyz` answers 200 (database reachable, consumers joined)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.service} exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{self.service} not ready after {timeout}s")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of its log (stdout and stderr of every run)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def migrate(service: str, env: dict[str, str]) -> None:
    """`arrears migrate <service>` in its environment (once, before any copy starts)."""
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate", service],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def service_env(
    service: str, *, bootstrap: str, prefix: str, database_url: str, workdir: Path
) -> dict[str, str]:
    """The environment of one service's processes: Kafka, its own database, dev tokens."""
    env = {
        **os.environ,
        "EVENT_LOG": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TOPIC_PREFIX": prefix,
        "DATA_DIR": str(workdir / service),
        f"{service.upper()}_DATABASE_URL": database_url,
        "CONSUMER_MAX_ATTEMPTS": "3",
        "AUTH_MODE": "development",
        "AUTH_DEV_SECRET_FILE": str(workdir / "dev-secret"),
        # The services import from this tree, whichever tree the venv was installed from.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("DATABASE_URL", None)
    return env
