"""Signed checkpoints and the evidence bundle a verifier checks offline. Pure: no I/O.

A checkpoint signs, with Ed25519, the Merkle root over every account's head (RFC 9162
leaves and nodes). A bundle carries one account's entries up to its head in the
checkpoint (personal fields as salted commitments, no personal value), the inclusion
proof of that head, the checkpoint and the public key; and, for a reader allowed and
asking, `disclosures`: values with the salts that check them against the commitments.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.domain.merkle import head_leaf, root_from_proof
from services.audit.domain.personal import disclosure_problem
from services.audit.domain.verify import StoredEntry, verify_chain

FORMAT = "arrears-audit-bundle/2"
FORMATS = ("arrears-audit-bundle/1", FORMAT)
"""What this verifier reads: /1 bundles (no commitments, no disclosures) still verify."""


def checkpoint_message(root_hex: str, size: int, at: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return f"arrears-checkpoint/1\n{size}\n{root_hex}\n{at}".encode()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """A base64 Ed25519 signature."""
    return base64.b64encode(key.sign(message)).decode()


def public_pem(key: Ed25519PrivateKey) -> str:
    """The public half, PEM."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def verify_bundle(bundle: dict[str, Any], trusted_public_pem: str | None = None) -> list[str]:
    """Every reason the bundle does not prove its trail; an empty list means it does.

    Without `trusted_public_pem` the bundle's own key is used, which proves integrity
    but not origin: pass the key published by the operator to prove both.
    """
    try:
        return _verify(bundle, trusted_public_pem)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"malformed bundle: {type(exc).__name__}: {exc}"]


def _verify(bundle: dict[str, Any], trusted: str | None) -> list[str]:
    problems: list[str] = []
    if bundle.get("format") not in FORMATS:
        return [f"unknown bundle format {bundle.get('format')!r}"]
    account = bundle["account_id"]
    entries = [
        StoredEntry(
            e["seq"], e["event_id"], e["type"], e["source"], e["event"], e["hash"], e["prev_hash"]
        )
        for e in bundle["entries"]
    ]
    broken = verify_chain(account, entries)
    if broken is not None:
        problems.append(f"chain broken at seq {broken.seq}: {broken.problem}")
    cp = bundle["checkpoint"]
    head = cp["head"]
    if not entries or (entries[-1].seq, entries[-1].hash) != (head["seq"], head["hash"]):
        problems.append("the entries do not end at the account's head in the checkpoint")
    leaf = head_leaf(account, head["seq"], head["hash"])
    proof = [bytes.fromhex(p) for p in cp["proof"]]
    recomputed = root_from_proof(cp["leaf_index"], cp["size"], leaf, proof).hex()
    if recomputed != cp["root"]:
        problems.append("the inclusion proof does not lead to the checkpoint's root")
    key_pem = trusted or bundle["public_key"]
    if trusted is not None and trusted.strip() != bundle["public_key"].strip():
        problems.append("the bundle was not signed with the trusted key")
    public = serialization.load_pem_public_key(key_pem.encode())
    if not isinstance(public, Ed25519PublicKey):
        return [*problems, "the public key is not Ed25519"]
    try:
        public.verify(
            base64.b64decode(cp["signature"]),
            checkpoint_message(cp["root"], cp["size"], cp["at"]),
        )
    except InvalidSignature:
        problems.append("the checkpoint signature is not valid")
    return problems + _disclosure_problems(entries, bundle.get("disclosures") or [])


def _disclosure_problems(entries: list[StoredEntry], disclosures: list[Any]) -> list[str]:
    by_seq = {e.seq: e for e in entries}
    problems = []
    for d in disclosures:
        entry = by_seq.get(d["seq"])
        if entry is None:
            problems.append(
                f"disclosure of seq {d['seq']} {d['path']}: no such entry in the bundle"
            )
            continue
        problem = disclosure_problem(json.loads(entry.event_text), d)
        if problem is not None:
            problems.append(problem)
    return problems


def dumps(bundle: dict[str, Any]) -> str:
    """The bundle file's text."""
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
