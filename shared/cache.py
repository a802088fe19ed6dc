"""A bounded in-process cache of aggregates across transactions, checked against their
streams' versions so a cached aggregate another writer has moved on is never used."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    """An aggregate that knows the version of the stream it was built from."""

    version: int


A = TypeVar("A", bound=Versioned)


class AggregateCache(Generic[A]):
    """Least recently used aggregates, at most `capacity` of them.

    A transaction `take`s an aggregate (it leaves the cache, so a transaction that fails
    half-way can never leave a half-changed one behind) and `put`s it back once its
    transaction has committed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, A] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def take(self, key: str, version: int) -> A | None:
        """The cached aggregate if it is at `version` (the stream's now), else None."""
        item = self._items.pop(key, None)
        if item is None or item.version != version:
            self.misses += 1
            return None
        self.hits += 1
        return item

    def put(self, key: str, item: A) -> None:
        """Keep a committed aggregate, evicting the least recently used beyond capacity."""
        if self.capacity <= 0:
            return
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (e.g. after a rebuild)."""
        self._items.clear()
