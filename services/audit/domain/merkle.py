"""A Merkle tree over account heads, in the style of RFC 9162 (Certificate Transparency). Pure."""

from __future__ import annotations

import hashlib


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): leaves and nodes can never be confused."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    # The largest power of two smaller than n (RFC 9162, section 2.1.1).
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: list[bytes]) -> bytes:
    """The tree head of these leaf data; SHA-256 of nothing for an empty tree."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: list[bytes]) -> list[bytes]:
    """The audit path proving leaf `index` is in the tree of `leaves`."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def root_from_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """Recompute the tree head from one leaf and its audit path (what a verifier does)."""
    if size <= 1:
        if proof:
            raise ValueError("a one-leaf tree has an empty proof")
        return leaf_hash(leaf)
    if not proof:
        raise ValueError("the proof is too short")
    k = _split(size)
    *inner, sibling = proof
    if index < k:
        return node_hash(root_from_proof(index, k, leaf, inner), sibling)
    return node_hash(sibling, root_from_proof(index - k, size - k, leaf, inner))


def head_leaf(account_id: str, seq: int, head_hash: str) -> bytes:
    """The leaf data of one account's head."""
    return f"{account_id}\n{seq}\n{head_hash}".encode()
