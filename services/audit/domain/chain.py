"""The per-account hash chain. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, event: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical event."""
    return link_canonical(prev_hash, canonical(event))


def link_canonical(prev_hash: str, body: bytes) -> str:
    """SHA-256 over the previous hash and an event already in canonical bytes."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()
