"""Personal data beside the hash chain: salted commitments in, values out. Pure: no I/O.

Each personal field of an event (as the catalogue declares it) is chained as a marker
`{"$personal": "<hex>", "kind": "<kind>"}` in place of its value, where

    salt       = HMAC-SHA256(account key, utf8(event_id + "/" + path))
    commitment = HMAC-SHA256(salt, utf8(value))

and the value itself is kept beside the chain, keyed by entry and path. A declared field
is always text, so an object in its place can only be a marker. Without the account key
a commitment cannot be brute-forced (a phone number alone could be); one field's salt,
handed out with its value so a reader can check it against the chain, says nothing about
another field's; and once the key and the values are deleted (erasure), the commitments
are random noise that still hash exactly as chained.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.catalogue import PersonalValue
from shared.pii import PLACEHOLDER, PersonalKind, mask, may_see

MARKER = "$personal"
ERASURE = "PersonalDataErased"
"""The type of audit's own entry recording an erasure."""
ERASED = PLACEHOLDER.format("erased")
"""What a reader sees where a value was erased."""

Shown = Literal["clear", "masked", "erased"]


def salt(key: bytes, event_id: str, path: str) -> bytes:
    """The salt of one field of one event, derived from the account's key."""
    return hmac.new(key, f"{event_id}/{path}".encode(), hashlib.sha256).digest()


def commitment(field_salt: bytes, value: str) -> str:
    """The hex commitment to a value under its salt."""
    return hmac.new(field_salt, value.encode(), hashlib.sha256).hexdigest()


def marker(hex_commitment: str, kind: PersonalKind) -> dict[str, str]:
    """What stands in the chained event where a personal value was."""
    return {MARKER: hex_commitment, "kind": kind}


def is_marker(node: Any) -> bool:
    """Whether a node of an event's data is a commitment marker."""
    return (
        isinstance(node, dict)
        and len(node) == 2
        and isinstance(node.get(MARKER), str)
        and isinstance(node.get("kind"), str)
    )


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def get_at(data: Any, path: str) -> Any:
    """The node at a dotted path ("reasons.0"), or None if there is none."""
    node = data
    for part in _parts(path):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _set_at(data: Any, path: str, value: Any) -> None:
    *parents, last = _parts(path)
    node = data
    for part in parents:
        node = node[part]
    node[last] = value


def commit(
    data: Mapping[str, Any], values: Iterable[PersonalValue], event_id: str, key: bytes
) -> dict[str, Any]:
    """A copy of `data` with each personal value replaced by its marker."""
    out = copy.deepcopy(dict(data))
    for v in values:
        _set_at(out, v.path, marker(commitment(salt(key, event_id, v.path), v.value), v.kind))
    return out


def markers(data: Any, prefix: str = "") -> Iterator[tuple[str, PersonalKind, str]]:
    """(path, kind, commitment) of every marker in `data`, in document order."""
    if is_marker(data):
        yield prefix, data["kind"], data[MARKER]
        return
    children: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        return
    for k, v in children:
        # Only containers can hold a marker: a scalar is not walked into (the hot case).
        if isinstance(v, dict | list):
            yield from markers(v, f"{prefix}.{k}" if prefix else str(k))


@dataclass(frozen=True)
class Reader:
    """Who reads the trail, and whether they asked to see what their role may see in clear."""

    role: str
    reveal: bool = False

    def may_see(self, kind: PersonalKind) -> bool:
        """Whether this reader is shown values of `kind` in clear."""
        return self.reveal and may_see(self.role, kind)

    def logged(self, revealed: int) -> dict[str, Any]:
        """What the access log records of a reveal: that it was asked, how many values it
        showed in clear."""
        return {"reveal": True, "revealed": revealed} if self.reveal else {}


@dataclass(frozen=True)
class ShownField:
    """How one personal field of an entry was shown to its reader."""

    path: str
    kind: PersonalKind
    shown: Shown


def show(
    data: Mapping[str, Any],
    values: Mapping[str, str],
    reader: Reader,
    unmarked: Sequence[PersonalValue] = (),
) -> tuple[dict[str, Any], list[ShownField]]:
    """An entry's data as the reader reads it, and how each personal field was shown.

    A marker becomes its value from `values` (path → value): in clear if the reader
    asked to see and the kind allows their role, else masked by kind; an erased one reads
    ERASED. `unmarked` are declared personal values still in clear in the chained event
    (a trail recorded before commitments, until it is rebuilt): masked the same way.
    """
    found = [(path, kind, values.get(path)) for path, kind, _ in markers(data)]
    found += [(v.path, v.kind, v.value) for v in unmarked]
    if not found:
        # Most entries carry nothing personal: a shallow copy is all the caller may change.
        return dict(data), []
    out = copy.deepcopy(dict(data))
    fields = []
    for path, kind, value in found:
        if value is None:
            _set_at(out, path, ERASED)
            fields.append(ShownField(path, kind, "erased"))
        elif reader.may_see(kind):
            _set_at(out, path, value)
            fields.append(ShownField(path, kind, "clear"))
        else:
            _set_at(out, path, mask(value, kind))
            fields.append(ShownField(path, kind, "masked"))
    return out, fields


def disclosure_problem(event: Mapping[str, Any], disclosure: Mapping[str, Any]) -> str | None:
    """Why a disclosed value does not check against its chained event; None when it does."""
    where = f"disclosure of seq {disclosure['seq']} {disclosure['path']}"
    node = get_at(event.get("data"), str(disclosure["path"]))
    if not is_marker(node):
        return f"{where}: that field is not committed in the entry"
    if node["kind"] != disclosure["kind"]:
        return f"{where}: the entry commits a {node['kind']}, not a {disclosure['kind']}"
    expected = commitment(bytes.fromhex(str(disclosure["salt"])), str(disclosure["value"]))
    if not hmac.compare_digest(expected, node[MARKER]):
        return f"{where}: the value and salt do not match the entry's commitment"
    return None
