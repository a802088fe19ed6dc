"""The platform's stores in memory, for the services' fake units of work."""

from __future__ import annotations

from collections.abc import Sequence

from shared.envelope import Envelope


class FakeOutbox:
    """The outbox in memory: messages staged for a topic, kept in the store at commit."""

    def __init__(self) -> None:
        self.staged: list[tuple[str, Envelope]] = []

    async def add(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        """Queue `envelopes` for `topic`."""
        self.staged.extend((topic, env) for env in envelopes)

    async def flush(self) -> None:
        """Nothing to write before commit."""
