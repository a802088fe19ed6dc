"""Signing checkpoints over every account's head, and exporting one account's evidence."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.bundle import FORMAT, checkpoint_message, public_pem, sign
from services.audit.domain.merkle import head_leaf, inclusion_proof, root
from services.audit.domain.personal import Reader, markers, salt
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.errors import Rejected
from shared.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key from AUDIT_SIGNING_KEY_FILE; development creates one on first use."""
    path = settings.signing_key_path
    if not path.exists():
        if settings.auth_mode != "development":
            raise SettingsError("audit needs AUDIT_SIGNING_KEY_FILE (an Ed25519 private key, PEM)")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # processes starting together agree on the first key
        tmp.unlink()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise SettingsError(f"AUDIT_SIGNING_KEY_FILE {path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"AUDIT_SIGNING_KEY_FILE {path}: not an Ed25519 key")
    return key


async def make_checkpoint(uow: AuditUnitOfWork, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Sign the Merkle root over every account's current head (the caller commits)."""
    heads = await uow.trail.heads()
    tree_root = root([head_leaf(a, seq, h) for a, seq, h in heads]).hex()
    at = uow.now.isoformat()
    checkpoint = {
        "at": at,
        "size": len(heads),
        "root": tree_root,
        "heads": [[a, seq, h] for a, seq, h in heads],
        "signature": sign(key, checkpoint_message(tree_root, len(heads), at)),
        "public_key": public_pem(key),
    }
    await uow.checkpoints.save(checkpoint)
    return checkpoint


async def covering_checkpoint(
    uow: AuditUnitOfWork, account_id: str, key: Ed25519PrivateKey
) -> dict[str, Any] | None:
    """The latest checkpoint's word on the account: when, its root, the head it covers,
    and whether its signature and root check with this service's key; None when none
    covers the account yet."""
    checkpoint = await uow.checkpoints.latest()
    if checkpoint is None:
        return None
    heads = [tuple(h) for h in checkpoint["heads"]]
    covered = next((h for h in heads if h[0] == account_id), None)
    if covered is None:
        return None
    message = checkpoint_message(checkpoint["root"], checkpoint["size"], checkpoint["at"])
    leaves = [head_leaf(a, s, h) for a, s, h in heads]
    return {
        "at": checkpoint["at"],
        "size": checkpoint["size"],
        "root": checkpoint["root"],
        "head": {"seq": covered[1], "hash": covered[2]},
        "signed": _signed_by(key, message, checkpoint["signature"])
        and root(leaves).hex() == checkpoint["root"],
    }


class TrailNotCommitted(Rejected):
    """The trail was recorded before personal fields were committed: rebuild it first."""


async def export_bundle(
    uow: AuditUnitOfWork,
    account_id: str,
    reader: Reader | None = None,
    *,
    leaves_the_service: bool = True,
) -> dict[str, Any] | None:
    """One account's trail up to its head in the latest checkpoint, with the proof.

    The entries carry commitments, never personal values; a `reader` who asked to see
    gets, for each field their role may see in clear, its value and salt in
    `disclosures` (checked offline against the entry's commitment). None when no
    checkpoint covers the account yet (make one first). A bundle that `leaves_the_service`
    is refused while the trail still chains personal values in clear (before a rebuild).
    """
    checkpoint = await uow.checkpoints.latest()
    if checkpoint is None:
        return None
    heads = [tuple(h) for h in checkpoint["heads"]]
    index = next((i for i, h in enumerate(heads) if h[0] == account_id), None)
    if index is None:
        return None
    _, seq, head_hash = heads[index]
    leaves = [head_leaf(a, s, h) for a, s, h in heads]
    entries = await uow.trail.stored_entries(account_id, int(seq))
    events = [json.loads(e["event"]) for e in entries]
    for e, event in zip(entries, events, strict=True):
        if leaves_the_service and uow.declared_personal(
            event["type"], event["schema_version"], event["data"]
        ):
            raise TrailNotCommitted(
                f"entry {e['seq']} of account {account_id} holds personal data in its chained "
                "event (recorded before commitments): run `arrears audit rebuild` first"
            )
    return {
        "format": FORMAT,
        "account_id": account_id,
        "entries": entries,
        "disclosures": await _disclosures(uow, account_id, entries, events, reader),
        "checkpoint": {
            "at": checkpoint["at"],
            "size": checkpoint["size"],
            "root": checkpoint["root"],
            "signature": checkpoint["signature"],
            "leaf_index": index,
            "head": {"seq": seq, "hash": head_hash},
            "proof": [p.hex() for p in inclusion_proof(index, leaves)],
        },
        "public_key": checkpoint["public_key"],
    }


async def _disclosures(
    uow: AuditUnitOfWork,
    account_id: str,
    entries: list[dict[str, Any]],
    events: list[dict[str, Any]],
    reader: Reader | None,
) -> list[dict[str, Any]]:
    """Each value the reader may see in clear, with the salt that checks it against the chain."""
    if reader is None or not reader.reveal or not entries:
        return []
    key = await uow.trail.subject_key(account_id)
    if key is None:
        return []  # erased: no value is left to disclose
    values = await uow.trail.personal_values(account_id, 1, entries[-1]["seq"])
    out = []
    for e, event in zip(entries, events, strict=True):
        for path, kind, _ in markers(event["data"]):
            value = values.get(e["seq"], {}).get(path)
            if value is not None and reader.may_see(kind):
                field_salt = salt(key, e["event_id"], path).hex()
                out.append(
                    {
                        "seq": e["seq"],
                        "path": path,
                        "kind": kind,
                        "value": value,
                        "salt": field_salt,
                    }
                )
    return out


def published_path(settings: Settings) -> Path:
    """Where signed checkpoints are published outside the database, one JSON line each."""
    return settings.audit_published_file or (
        settings.data_dir / "audit-published" / "checkpoints.jsonl"
    )


def publish(path: Path, checkpoint: dict[str, Any]) -> None:
    """Append a committed checkpoint to the published file (append-only, flushed to disk).

    A checkpoint kept only in the database protects nothing against whoever can rewrite
    the database; a copy outside it (this file, shipped or mirrored elsewhere) does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {k: checkpoint[k] for k in ("at", "size", "root", "heads", "signature", "public_key")},
        sort_keys=True,
        separators=(",", ":"),
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_published(path: Path) -> list[str]:
    """The published file's lines (none when nothing was published yet)."""
    return path.read_text().splitlines() if path.exists() else []


@dataclass(frozen=True)
class Comparison:
    """What a comparison with the published checkpoints found, and how much it checked."""

    problems: list[str]
    checked: int
    """How many published checkpoints were checked against the trail this time."""
    since: int
    """How many, at the start of the file, an earlier clean comparison had already checked."""


def _digest(items: Iterable[str]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(item.encode() + b"\n")
    return h.hexdigest()


def _state_message(state: Mapping[str, Any]) -> bytes:
    fields = ("lines", "lines_sha256", "checkpoint_id", "rows_sha256", "verified_at")
    return ("arrears-published-compare/1\n" + "\n".join(str(state[f]) for f in fields)).encode()


async def compare_with_published(
    uow: AuditUnitOfWork,
    published_lines: list[str],
    key: Ed25519PrivateKey,
    *,
    full: bool = False,
) -> Comparison:
    """Every way the database disagrees with the published checkpoints; none if it agrees.

    Each published head (account, seq, hash) must still be on the trail with that hash,
    and each published checkpoint must still be in the database with the same root.

    Incremental: a clean comparison is remembered (signed with the checkpoint key, so
    whoever edits the database cannot forge it), and the next one checks only the lines
    published since, plus the heads of the newest line already checked: a trail rewritten
    and re-hashed since then changes those. The remembered prefix of the published file
    and the database's checkpoints up to then must be unchanged (else that is a problem
    and everything is checked). `full` checks everything; so does a first comparison.
    """
    stored = await uow.checkpoints.all()
    problems: list[str] = []
    since = 0
    state = None if full else await uow.checkpoints.published_compare()
    if state is not None:
        if not _signed_by(key, _state_message(state), state["signature"]):
            problems.append("the remembered comparison is not signed with this service's key")
        elif (
            len(published_lines) < state["lines"]
            or _digest(published_lines[: state["lines"]]) != state["lines_sha256"]
        ):
            problems.append(
                f"the first {state['lines']} published checkpoints changed since they were "
                f"compared at {state['verified_at']}"
            )
        elif _rows_digest(stored, state["checkpoint_id"]) != state["rows_sha256"]:
            problems.append(
                f"the database's checkpoints up to id {state['checkpoint_id']} changed since "
                f"they were compared at {state['verified_at']}"
            )
        else:
            since = state["lines"]
    roots = {(c["at"], c["root"]) for c in stored}
    first = max(since - 1, 0)  # the newest line already checked: only its heads again
    hashes: dict[tuple[str, int], str | None] = {}
    for number, line in enumerate(published_lines[first:], start=first + 1):
        try:
            published = json.loads(line)
            at, tree_root, heads = published["at"], published["root"], published["heads"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number}: not a published checkpoint")
            continue
        if number > since and (at, tree_root) not in roots:
            problems.append(f"checkpoint of {at} (root {tree_root}) is missing from the database")
        for account_id, seq, head_hash in heads:
            # Successive checkpoints share most heads: each entry is read once.
            where = (account_id, int(seq))
            if where not in hashes:
                hashes[where] = await uow.trail.entry_hash(account_id, int(seq))
            found = hashes[where]
            if found != head_hash:
                problems.append(
                    f"checkpoint of {at}: account {account_id} seq {seq} has hash {found} "
                    f"in the database, {head_hash} published"
                )
    if not problems and published_lines:
        last_id = stored[-1]["id"] if stored else 0
        state = {
            "lines": len(published_lines),
            "lines_sha256": _digest(published_lines),
            "checkpoint_id": last_id,
            "rows_sha256": _rows_digest(stored, last_id),
            "verified_at": uow.now.isoformat(),
        }
        await uow.checkpoints.save_published_compare(
            {**state, "signature": sign(key, _state_message(state))}
        )
    return Comparison(problems, len(published_lines) - since, since)


def _signed_by(key: Ed25519PrivateKey, message: bytes, signature: str) -> bool:
    try:
        key.public_key().verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _rows_digest(stored: list[dict[str, Any]], up_to_id: int) -> str:
    return _digest(f"{c['id']} {c['at']} {c['root']}" for c in stored if c["id"] <= up_to_id)


class CheckpointWorker:
    """Signs a checkpoint every `seconds` when the trail has changed since the last one."""

    def __init__(
        self,
        seconds: int,
        uow_factory: Callable[[], AuditUnitOfWork],
        key: Ed25519PrivateKey,
        publish_to: Path | None = None,
    ) -> None:
        self._seconds = seconds
        self._uow = uow_factory
        self._key = key
        self._publish_to = publish_to

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._seconds)
            if stop.is_set():
                return
            try:
                async with self._uow() as uow:
                    last = await uow.checkpoints.latest()
                    heads = await uow.trail.heads()
                    if last is None or [list(h) for h in heads] != last["heads"]:
                        checkpoint = await make_checkpoint(uow, self._key)
                        await uow.commit()
                        if self._publish_to is not None:
                            # Only after the commit: what is published is in the database.
                            await asyncio.to_thread(publish, self._publish_to, checkpoint)
            except Exception:
                log.exception("checkpoint failed; trying again next interval")
