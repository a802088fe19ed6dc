"""The order a trail is chained in, as a rebuild reproduces it. Pure: no I/O.

An account's events arrive on several topics and partitions, so which one audit chains
first depends on how the records happened to be batched. Audit therefore logs the order
it chained in (`TrailChained` on its own topic, with each entry's seq and hash), and a
rebuild replays the sources in that logged order. Records the log does not cover (never
chained, or chained after the log's end) follow, per account, in an order that is a
function of the records alone: publish time, then topic, partition and offset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

Position = tuple[int, int, int]
"""Where a logged entry is on the order log: partition, offset, index within the fact."""

FallbackKey = tuple[int, str, int, int]
"""How a record the log does not cover is ordered: publish time, topic, partition, offset."""


@dataclass(frozen=True)
class Logged:
    """One entry of the order log: where audit chained an event, and the hash it got."""

    account_id: str
    seq: int
    event_id: str
    hash: str
    position: Position


@dataclass
class OrderLog:
    """The order log read back: per account its event ids in chain order."""

    by_account: dict[str, list[Logged]] = field(default_factory=dict)
    by_event: dict[str, Logged] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[Logged]) -> OrderLog:
        """From the log's entries in any order: an event logged twice (a fact published
        twice, or logged again) counts where the log first says it; an account's events
        go by seq, then by position (two histories that both chained a seq)."""
        log = cls()
        for e in sorted(entries, key=lambda e: e.position):
            if e.event_id not in log.by_event:
                log.by_event[e.event_id] = e
                log.by_account.setdefault(e.account_id, []).append(e)
        for chain in log.by_account.values():
            chain.sort(key=lambda e: (e.seq, e.position))
        return log


class Replay(Generic[T]):
    """Releases records in chain order as they arrive, whatever order they arrive in.

    `offer` each decoded record (any partition, any batching); it returns the records
    that may be chained now: an account's logged records once every one before them
    arrived (or is `present` on the trail already). `finish` returns the rest: logged
    records behind one no topic holds any more, then, per account, the records the log
    does not cover in their fallback order.
    """

    def __init__(self, log: OrderLog, present: Iterable[str] = ()) -> None:
        self._queues = {a: deque(e.event_id for e in chain) for a, chain in log.by_account.items()}
        self._owner = {event_id: e.account_id for event_id, e in log.by_event.items()}
        self._present = set(present)
        self._waiting: dict[str, T] = {}
        self._unlisted: dict[str, tuple[FallbackKey, T]] = {}
        self._offered: set[str] = set()
        self.missing = 0
        """Logged events no topic held (audit's own entries, kept on the trail, aside)."""

    def offer(self, event_id: str, key: FallbackKey, item: T) -> list[T]:
        """A record read from a source; the records that may be chained now."""
        owner = self._owner.get(event_id)
        if owner is None:
            # Not logged: a copy published twice sorts where its first copy is.
            known = self._unlisted.get(event_id)
            if known is None or key < known[0]:
                self._unlisted[event_id] = (key, item)
            return []
        if event_id in self._offered:
            return []  # another copy of a record already offered
        self._offered.add(event_id)
        self._waiting[event_id] = item
        return self._advance(owner, final=False)

    def _advance(self, account: str, *, final: bool) -> list[T]:
        queue, out = self._queues[account], []
        while queue:
            head = queue[0]
            if head in self._waiting:
                out.append(self._waiting.pop(head))
            elif head in self._present:
                pass  # on the trail already (restored): nothing to chain
            elif final:
                self.missing += 1
            else:
                break
            queue.popleft()
        return out

    def finish(self) -> list[T]:
        """Once every source was read: everything not released yet, in chain order."""
        out: list[T] = []
        for account in sorted(self._queues):
            out.extend(self._advance(account, final=True))
        for _, item in sorted(self._unlisted.values(), key=lambda ki: ki[0]):
            out.append(item)
        self._unlisted.clear()
        return out


def fallback_key(timestamp_ms: int, topic: str, partition: int, offset: int) -> FallbackKey:
    """The order of records the log does not cover: what the topics hold, nothing else."""
    return (timestamp_ms, topic, partition, offset)
