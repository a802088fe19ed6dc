"""deploy/Dockerfile: what hadolint and a reading can prove without a Docker engine, and the
image's entrypoint run the way the image runs it (an installed wheel, outside the tree)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.deploy.support import ROOT, run, tool

DOCKERFILE = ROOT / "deploy/Dockerfile"
# Seconds; a cold pip cache downloads every dependency once.
INSTALL_TIMEOUT_S = 600
READY_TIMEOUT_S = 60


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    joined = text.replace("\\\n", " ")
    out: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            out.append([])
        out[-1].append((instruction.upper(), args.strip()))
    return out


def test_hadolint_finds_nothing() -> None:
    out = run(tool("hadolint"), str(DOCKERFILE))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_final_stage_is_slim_non_root_and_checks_readiness() -> None:
    builder, final = stages(DOCKERFILE.read_text())
    assert builder[0][1].endswith(" AS builder")
    assert final[0] == ("FROM", "python:3.11-slim")
    final_args = dict(final)
    user = final_args["USER"].split(":")[0]
    assert user not in ("root", "0")
    assert "/readyz" in final_args["HEALTHCHECK"]
    assert final_args["ENTRYPOINT"] == '["arrears"]'
    assert final_args["CMD"].startswith('["serve", "accounts"')
    # Only the venv comes over from the builder, and nothing installs tools in the final stage.
    copies = [args for ins, args in final if ins == "COPY"]
    assert copies == ["--from=builder /opt/arrears /opt/arrears"]
    runs = " ".join(args for ins, args in final if ins == "RUN")
    for forbidden in ("apt-get", "apk", "pip", "gcc", "build-essential", "curl"):
        assert forbidden not in runs, forbidden


def test_the_reading_catches_a_root_final_stage() -> None:
    # The reading above must be able to fail: a root user is visible to it.
    text = DOCKERFILE.read_text().replace("USER 10001:10001", "USER root")
    assert dict(stages(text)[-1])["USER"] == "root"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_installed_wheel_serves_accounts_from_outside_the_tree(tmp_path: Path) -> None:
    # What the image does: a wheel built from the sources the Dockerfile copies, installed
    # with the pinned dependencies into a clean venv, run from elsewhere (no tree on sys.path).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, src / name)
    for package in ("shared", "services"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # Without PYTHONPATH: a tree on it makes pip take the tree's metadata for an install.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(tmp_path / "wheels"), str(src)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        env=clean,
    )
    (wheel,) = (tmp_path / "wheels").glob("arrears-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin/python"),
            *pip[1:],
            "install",
            "-c",
            str(ROOT / "constraints.txt"),
            str(wheel),
        ],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        env=clean,
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # No PYTHONPATH: the tree must not leak in.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(run_dir),
        "DATA_DIR": str(run_dir / "data"),
        "AUTH_MODE": "development",
    }
    port = _free_port()
    proc = subprocess.Popen(
        [str(venv / "bin/arrears"), "serve", "accounts", "--port", str(port)],
        cwd=run_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert answer is not None and answer.status_code == 200, answer and answer.text
        # Migrations and the servicing policy came from the wheel, not the tree.
        assert (run_dir / "data/accounts.sqlite3").exists()
        location = subprocess.run(
            [str(venv / "bin/python"), "-c", "import shared; print(shared.__file__)"],
            cwd=run_dir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert location.startswith(str(venv))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
