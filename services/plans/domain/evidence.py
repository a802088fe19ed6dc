"""Checking an uploaded hardship document before it is kept. Pure: no I/O."""

from __future__ import annotations

import hashlib

from services.plans.domain.plan import Evidence, InvalidEvidence
from services.plans.domain.policy import PlansPolicy

# The first bytes each accepted type starts with: a declared type the bytes contradict
# is refused, so a renamed executable cannot pass as a medical certificate.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
}

EXTENSIONS: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
}


def file_name(doc: Evidence) -> str:
    """The name a download of `doc` is saved under: its kind and hash, which the service
    checked, never anything an uploader wrote."""
    return f"{doc.kind}-{doc.sha256}.{EXTENSIONS.get(doc.media_type, 'bin')}"


class EvidenceTooLarge(InvalidEvidence):
    """A document larger than policy's evidence_max_bytes (HTTP 413)."""


class UnsupportedEvidenceType(InvalidEvidence):
    """A document of a type policy does not accept, or not of its declared type (HTTP 415)."""


def received(content: bytes, media_type: str, kind: str, policy: PlansPolicy) -> Evidence:
    """The evidence `content` is, if policy accepts its type, size and kind and the bytes
    are of the declared type; InvalidEvidence names what is wrong."""
    media_type = media_type.split(";")[0].strip().lower()
    if not content:
        raise InvalidEvidence("the upload is empty")
    if len(content) > policy.evidence_max_bytes:
        raise EvidenceTooLarge(
            f"evidence of {len(content)} bytes is larger than the {policy.evidence_max_bytes} "
            "allowed (evidence_max_bytes)"
        )
    if media_type not in policy.evidence_media_types:
        raise UnsupportedEvidenceType(
            f"evidence media type {media_type!r} is not accepted "
            f"(evidence_media_types: {list(policy.evidence_media_types)})"
        )
    evidence = Evidence.of(
        hashlib.sha256(content).hexdigest(), media_type, len(content), kind, policy
    )
    signatures = SIGNATURES.get(media_type)
    if signatures is not None and not content.startswith(signatures):
        raise UnsupportedEvidenceType(
            f"the content is not {media_type}: its first bytes do not match"
        )
    return evidence
