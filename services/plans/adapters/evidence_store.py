"""Where hardship documents' bytes live: content-addressed by SHA-256, written once."""

from __future__ import annotations

import abc
import hashlib
import os
import tempfile
from pathlib import Path


class EvidenceStore(abc.ABC):
    """Stores documents by their SHA-256; storing the same bytes twice is one document."""

    def put(self, content: bytes) -> str:
        """Keep `content` and return its SHA-256 (hex)."""
        digest = hashlib.sha256(content).hexdigest()
        if not self.has(digest):
            self._write(digest, content)
        return digest

    @abc.abstractmethod
    def has(self, sha256: str) -> bool:
        """Whether the document is stored."""

    @abc.abstractmethod
    def get(self, sha256: str) -> bytes:
        """The document's bytes; KeyError if it is not stored."""

    @abc.abstractmethod
    def _write(self, sha256: str, content: bytes) -> None: ...


class FileEvidenceStore(EvidenceStore):
    """Documents as files under a directory, fanned out by the first two hex digits."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, sha256: str) -> Path:
        return self._root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def get(self, sha256: str) -> bytes:
        try:
            content = self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None
        # A file edited on disk is not the evidence the events refer to.
        if hashlib.sha256(content).hexdigest() != sha256:
            raise KeyError(f"{sha256}: stored bytes no longer match their hash")
        return content

    def _write(self, sha256: str, content: bytes) -> None:
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename, so a reader never sees half a document.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o440)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class InMemoryEvidenceStore(EvidenceStore):
    """A fake for tests: documents in a dict."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}

    def has(self, sha256: str) -> bool:
        return sha256 in self.documents

    def get(self, sha256: str) -> bytes:
        return self.documents[sha256]

    def _write(self, sha256: str, content: bytes) -> None:
        self.documents[sha256] = content
