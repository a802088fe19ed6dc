"""A bounded in-process cache of read views, keyed by the account's head.

A view of an account's trail (its story, its state as of a point) depends only on the
entries up to the head and on who reads it, so a view computed for (account, head seq,
head hash, parameters) stays right until the next entry moves the head: a new entry
gives a new key and the old view is never read again. One indexed query for the head
replaces re-reading and re-telling 10k entries per page.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ViewCache:
    """Least recently used views, holding at most `capacity` lines (entries) in all."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any | None:
        """The view kept under `key`, or None."""
        found = self._items.get(key)
        if found is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: Hashable, view: Any, size: int) -> None:
        """Keep a view of `size` lines, evicting the least recently used beyond capacity.

        A view bigger than the whole cache is not kept (it would evict everything)."""
        if size > self.capacity:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= old[0]
        self._items[key] = (size, view)
        self._size += size
        while self._size > self.capacity:
            dropped, _ = self._items.popitem(last=False)[1]
            self._size -= dropped

    def clear(self) -> None:
        """Forget every view (after a rebuild rewrote trails in this process)."""
        self._items.clear()
        self._size = 0
