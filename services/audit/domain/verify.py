"""Recomputing an account's hash chain and naming the first link that does not hold. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from services.audit.domain.chain import GENESIS, link_canonical


class StoredEntry(NamedTuple):
    """One trail row as stored: the hashed event text and the columns copied out of it.

    A tuple, so a page of rows becomes entries without a constructor call per row."""

    seq: int
    event_id: str
    type: str
    source: str
    event_text: str
    hash: str
    prev_hash: str


@dataclass(frozen=True)
class BrokenLink:
    """The first entry of an account whose link does not hold, and how."""

    account_id: str
    seq: int
    problem: str
    expected: str
    found: str


def verify_chain(account_id: str, entries: Iterable[StoredEntry]) -> BrokenLink | None:
    """None if every entry, in seq order, links to the one before; else the first break.

    Catches an edited event or hash, a deleted, inserted or reordered row, and a
    copied-out column (type, source, event id) that no longer matches the hashed event.
    Deleting the newest entries is only caught against a signed checkpoint.
    """
    prev, expected_seq = GENESIS, 1
    for e in entries:
        if e.seq != expected_seq:
            problem = "an entry is missing" if e.seq > expected_seq else "a sequence repeats"
            return BrokenLink(account_id, expected_seq, problem, str(expected_seq), str(e.seq))
        if e.prev_hash != prev:
            return BrokenLink(
                account_id, e.seq, "prev_hash is not the previous entry's hash", prev, e.prev_hash
            )
        body = e.event_text.encode()
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return BrokenLink(account_id, e.seq, "the stored event is not JSON", "JSON", "text")
        # The stored text is the canonical bytes that were hashed, so it is hashed as
        # stored: any change to it, even one that means the same JSON, breaks the link.
        recomputed = link_canonical(prev, body)
        if recomputed != e.hash:
            return BrokenLink(
                account_id, e.seq, "the hash does not match the entry's event", recomputed, e.hash
            )
        for column, value in (("event_id", e.event_id), ("type", e.type), ("source", e.source)):
            hashed = str(event.get("id" if column == "event_id" else column))
            if hashed != value:
                return BrokenLink(
                    account_id,
                    e.seq,
                    f"column {column} differs from the hashed event",
                    hashed,
                    value,
                )
        prev, expected_seq = e.hash, expected_seq + 1
    return None
