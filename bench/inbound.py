"""Integrator events the benchmarks send, as the inbound API takes them."""

from __future__ import annotations

import uuid
from typing import Any


def envelope(
    type_: str,
    account: str,
    data: dict[str, Any],
    version: int = 1,
    occurred_at: str = "2026-03-01T09:00:00+08:00",
) -> dict[str, Any]:
    """One inbound event with a fresh id."""
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": version,
        "account_id": account,
        "occurred_at": occurred_at,
        "source": "bench",
        "data": data,
    }
