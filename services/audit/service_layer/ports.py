"""What the audit service layer needs of storage: the ports its repositories implement.

`services.audit.adapters` implements them on SQL; the tests' in-memory fakes implement
them too, and one contract suite per port runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.audit.domain.filters import HistoryFilters
from services.audit.domain.report import Report
from services.audit.domain.verify import BrokenLink
from shared.auth import Principal

Head = tuple[int, str]
"""An account's newest entry: (seq, hash)."""


class Trail(Protocol):
    """Each account's hash-chained entries, the personal values kept beside them and the
    accounts' commitment keys."""

    async def present(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these events are on the trail already."""
        ...

    async def contains(self, event_id: str) -> bool:
        """Whether this event is on the trail already."""
        ...

    async def heads_of(self, account_ids: Sequence[str]) -> dict[str, Head]:
        """Each account's newest entry; (0, GENESIS) for one without a trail."""
        ...

    async def subject_key(self, account_id: str, *, create: bool = False) -> bytes | None:
        """The account's commitment key; a new random one if `create` and there is none."""
        ...

    async def subject_keys(self, account_ids: Sequence[str]) -> dict[str, bytes]:
        """The accounts' commitment keys, creating the missing ones (first writer wins)."""
        ...

    def stage(self, entry: dict[str, Any], values: Sequence[dict[str, Any]]) -> None:
        """Stage one chained entry and the personal values kept beside it."""
        ...

    async def flush(self) -> None:
        """Write what is staged now (still inside the transaction)."""
        ...

    async def last_activity(self, account_id: str) -> tuple[int, datetime] | None:
        """The head seq and when the newest event (erasures aside) occurred; None without."""
        ...

    async def erase_personal_values(self, account_id: str) -> int:
        """Delete the account's personal values and its commitment key; how many values."""
        ...

    async def freeze(self, account_id: str) -> None:
        """Keep the account's trail as chained now, for a rebuild to restore."""
        ...

    async def restore_frozen(self) -> set[str]:
        """Replace the whole trail with the frozen (erased) trails; their event ids."""
        ...

    async def history(
        self, account_id: str, after_seq: int, limit: int, filters: HistoryFilters | None = None
    ) -> list[dict[str, Any]]:
        """Trail entries of an account after `after_seq`, in order, filtered."""
        ...

    async def personal_values(
        self, account_id: str, from_seq: int, to_seq: int
    ) -> dict[int, dict[str, str]]:
        """The values kept beside entries `from_seq`..`to_seq`: seq → path → value."""
        ...

    async def verify(self, account_id: str, batch: int = 5000) -> BrokenLink | None:
        """Recompute one account's chain from its first entry; the first break or None."""
        ...

    async def heads(self) -> list[tuple[str, int, str]]:
        """Every account's newest entry: (account id, seq, hash), by account id."""
        ...

    async def entry_hash(self, account_id: str, seq: int) -> str | None:
        """The stored hash of one entry, or None if there is no such entry."""
        ...

    async def stored_entries(self, account_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        """Entries exactly as stored (the hashed event text included), up to a seq."""
        ...

    async def links(self) -> list[tuple[str, int, str, str]]:
        """Every entry's place in its chain: (account, seq, event id, hash)."""
        ...

    async def all_entries(self) -> list[tuple[str, int, str, str, str, str]]:
        """Every entry of every account: (account, seq, event id, source, event, hash)."""
        ...

    async def head(self, account_id: str) -> Head | None:
        """The account's newest entry (seq, hash), or None without a trail."""
        ...

    async def has_trail(self, account_id: str) -> bool:
        """Whether any event of the account is on the trail."""
        ...

    async def accounts(self) -> list[str]:
        """Every account with a trail."""
        ...


class Checkpoints(Protocol):
    """Signed checkpoints of every head, and the last clean comparison with the published."""

    async def save(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint."""
        ...

    async def latest(self) -> dict[str, Any] | None:
        """The newest signed checkpoint, as it was signed."""
        ...

    async def all(self) -> list[dict[str, Any]]:
        """Every kept checkpoint's id, time and root, oldest first."""
        ...

    async def published_compare(self) -> dict[str, Any] | None:
        """The last clean comparison with the published checkpoints."""
        ...

    async def save_published_compare(self, state: dict[str, Any]) -> None:
        """Remember a clean comparison."""
        ...


class AccessLog(Protocol):
    """Who read, exported or verified what, and why."""

    async def log(
        self,
        principal: Principal,
        action: str,
        purpose: str,
        account_id: str | None,
        filters: dict[str, Any],
    ) -> None:
        """Record one access."""
        ...

    async def entries(
        self, after_id: int, limit: int, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The access log, oldest first."""
        ...


class Backlog(Protocol):
    """Records the trail consumer has not chained, and order facts not yet published."""

    async def missing_records(self, consumer: str, account_id: str | None = None) -> dict[str, str]:
        """Per account, why its trail lacks records."""
        ...

    async def gaps(self, consumer: str) -> set[tuple[str, int, int]]:
        """Where the consumer's unresolved dead letters and parked records came from."""
        ...

    async def unpublished(self, topic: str) -> int:
        """How many outbox messages for `topic` are not published yet."""
        ...

    async def forget_processed(self, consumer: str) -> None:
        """Drop the consumer's ledger of applied event ids."""
        ...


class ReportTypesetter(Protocol):
    """Turns a report's content into a printable file."""

    def render(self, report: Report) -> bytes:
        """The report as the bytes of a file (a PDF)."""
        ...
