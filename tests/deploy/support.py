"""What the deploy tier's tests share: the repository root and the dev tools' paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The path of a dev dependency's command; skipped without it, failed in CI."""
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} (a dev dependency) is required in CI: make install")
        pytest.skip(f"{name} not installed (make install)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output as text (the caller checks the exit code)."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
