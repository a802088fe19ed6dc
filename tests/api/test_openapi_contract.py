"""Each service's OpenAPI and its server cannot drift (issue 11): schemathesis generates
requests from the published schema, valid and invalid, sends them over real HTTP to the
service running under uvicorn with a token of a role the route admits, and runs every
check on each answer (no 5xx, status and content type and headers and body as
documented, invalid data refused, valid data not refused by the schema's own rules,
auth not ignored).

Bounded for CI (`ARREARS_API_EXAMPLES` examples per operation and mode, default 25); run it
longer with e.g. `ARREARS_API_EXAMPLES=200 pytest tests/api`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from services.registry import bootstrap_module, migrations_dir
from shared.migrations import upgrade
from shared.openapi import api_routes
from shared.settings import SERVICES
from tests.support import auth, settings_for

pytestmark = pytest.mark.api

EXAMPLES = int(os.environ.get("ARREARS_API_EXAMPLES", "25"))
# Which role's token a route is called with, most capable first: the run should reach
# each route's handler, not stop at its 403.
PREFERRED = ("ops", "compliance", "supervisor", "agent", "integrator", "borrower")
BORROWER_ACCOUNTS = ["ACC-1", "A1"]


@dataclass
class Served:
    """One service running under uvicorn on a local port, and a token per role."""

    app: FastAPI
    base_url: str
    tokens: dict[str, dict[str, str]]
    roles: dict[tuple[str, str], frozenset[str]]

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        roles = self.roles.get((method.upper(), path), frozenset())
        for role in PREFERRED:
            if role in roles:
                return self.tokens[role]
        return {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=SERVICES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    service = request.param
    data_dir: Path = tmp_path_factory.mktemp(service)
    cfg = settings_for(service, data_dir, borrower_requests_per_minute=100_000)
    upgrade(cfg, migrations_dir(service))
    app = bootstrap_module(service).create_app(cfg)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{service} did not start")
        time.sleep(0.05)
    tokens = {
        role: auth(
            cfg, role, sub=f"{role}-api", accounts=BORROWER_ACCOUNTS if role == "borrower" else None
        )
        for role in PREFERRED
    }
    roles = {
        (method, route.path_format): getattr(route, "allowed_roles", frozenset())
        for route in api_routes(app)
        for method in route.methods or ()
    }
    try:
        yield Served(app, f"http://127.0.0.1:{port}", tokens, roles)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _exercise(operation: Any, mode: GenerationMode, served: Served) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=served.base_url, headers=served.headers_for(case.method, case.path)
        )

    run()


def _summary(exc: BaseException) -> str:
    # schemathesis' group message carries each answer and a curl line to reproduce it.
    return exc.message if isinstance(exc, BaseExceptionGroup) else str(exc)


# Every check runs with its defaults but one: a request the schema admits may still break
# a rule JSON Schema cannot state (two fields that exclude each other, a compliance
# refusal, printable text), and arrears answers that 422 with the reason.
CONFIG = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
        }
    }
}


def test_the_server_answers_as_its_openapi_says(served: Served) -> None:
    schema = schemathesis.openapi.from_dict(
        served.app.openapi(), config=SchemathesisConfig.from_dict(CONFIG)
    )
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in MODES:
            try:
                _exercise(operation, mode, served)
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (e.g. one free-text path
                # parameter): there is no negative case to send.
                assert mode is GenerationMode.NEGATIVE, operation.path
            except (Exception, BaseExceptionGroup) as exc:  # collect all: name every drift
                failures.append(
                    f"{operation.method.upper()} {operation.path} [{mode}]: {_summary(exc)}"
                )
    assert operations > 0
    assert not failures, "\n\n".join(failures)
