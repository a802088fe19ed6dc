"""The browser tier: the real server in a subprocess and headless Debian Chromium on it.

Chromium and its driver come from Debian's packages (`deploy/local/browser.sh install`),
never a browser download. Without them the tier is skipped, or with CI=true failed, so a
CI run never passes by testing nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import mint_dev_token
from shared.settings import SERVICES, Settings
from tests.support import DEFAULT_ROLES

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("ARREARS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARREARS_CHROMEDRIVER", "/usr/bin/chromedriver")
START_TIMEOUT_S = 60


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser tier needs Chromium in CI: {reason}")
    pytest.skip(f"browser tier unavailable: {reason}")


@dataclass
class Server:
    """The one-origin server of `make run`, on a free port with its data under a tmp dir."""

    base: str
    data_dir: Path

    def settings(self, service: str) -> Settings:
        """The settings the server's `service` runs with (the dev secret is shared)."""
        return Settings.load(service, data_dir=self.data_dir, auth_mode="development")

    def token(self, role: str, sub: str = "browser-test", accounts: list[str] | None = None) -> str:
        """A development token the server accepts."""
        return mint_dev_token(self.settings("audit"), role=role, subject=sub, accounts=accounts)

    def clients(self) -> dict[str, httpx.AsyncClient]:
        """An HTTP client per service over real HTTP, as the tests' stacks give them."""
        return {
            name: httpx.AsyncClient(
                base_url=f"{self.base}/{name}",
                headers={"Authorization": f"Bearer {self.token(DEFAULT_ROLES[name])}"},
                timeout=30,
            )
            for name in SERVICES
        }


def _executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`arrears serve all` in development auth mode, embedded log and SQLite in a tmp dir."""
    data_dir = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("DATABASE_URL") and not k.startswith(("KAFKA_", "AUTH_"))
    }
    env |= {
        "DATA_DIR": str(data_dir),
        "AUTH_MODE": "development",
        "EVENT_LOG": "embedded",
        "CONSUMER_RETRY_BACKOFF": "0.01",
        "AUDIT_CHECKPOINT_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
    }
    log = (data_dir / "server.log").open("w")
    cmd = [sys.executable, "-m", "services.cli", "serve", "all", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited: {(data_dir / 'server.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/audit/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"the server was not ready in {START_TIMEOUT_S}s")
            time.sleep(0.2)
        yield Server(base, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Selenium; its console messages are kept for the tests."""
    if not (_executable(CHROMIUM) and _executable(CHROMEDRIVER)):
        _missing(
            f"{CHROMIUM} or {CHROMEDRIVER} missing; install them with "
            "deploy/local/browser.sh install (apt: chromium chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,2000",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
