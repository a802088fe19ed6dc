"""Plans over HTTP as an attacker drives it: every malformed input is a 4xx naming what is
wrong, and changes nothing; never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from services.plans.entrypoints.bodies import JSON_MAX_BODY_BYTES
from tests.support import auth, ingest, opened, overdue_account, plans_stack, running_stack
from tests.unit.test_plans_http import PDF, upload

OVER = JSON_MAX_BODY_BYTES + 1


def padded(size: int, **fields: Any) -> bytes:
    """A JSON object of `fields` padded with spaces to `size` bytes."""
    body = json.dumps(fields).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    """`body` streamed without a declared length (chunked)."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


def too_large(r: httpx.Response) -> bool:
    return (
        r.status_code == 413
        and r.headers["content-type"] == "application/problem+json"
        and f"{JSON_MAX_BODY_BYTES} bytes" in r.json()["detail"]
    )


async def test_json_bodies_are_capped_per_route_declared_or_chunked(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await overdue_account(http, "A1")
        json_type = {"Content-Type": "application/json"}
        request = {"plan_type": "deferral", "channel": "agent"}
        for url in ("/v1/accounts/A1/plans", "/v1/accounts/A1/plans/quote"):
            big = padded(OVER, **request)
            declared = await http["plans"].post(url, content=big, headers=json_type)
            assert too_large(declared), declared.text
            chunked = await http["plans"].post(url, content=chunks(big), headers=json_type)
            assert "content-length" not in chunked.request.headers
            assert too_large(chunked), chunked.text
        # ...and nothing was requested. A body at the cap is parsed as usual.
        assert (await http["plans"].get("/v1/accounts/A1/plans")).json()["plans"] == []
        r = await http["plans"].post(
            "/v1/accounts/A1/plans",
            content=padded(JSON_MAX_BODY_BYTES, **request),
            headers=json_type,
        )
        assert r.status_code == 201, r.text
        plan = f"/v1/accounts/A1/plans/{r.json()['plan_id']}"
        # A route without a body is capped too.
        r = await http["plans"].post(
            f"{plan}/approve", content=b"x" * OVER, headers=auth(s["plans"], "supervisor")
        )
        assert too_large(r)


async def test_the_evidence_upload_keeps_the_evidence_limit(tmp_path: Path) -> None:
    s = plans_stack(tmp_path)
    async with running_stack(s) as http:
        await ingest(http, opened("A1"))
        document = PDF + b"\0" * OVER
        r = await upload(http, document, {"Content-Type": "application/pdf"})
        assert r.status_code == 201, r.text
        assert r.json()["size"] == len(document)
