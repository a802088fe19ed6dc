"""Property: however far each account's partition lags behind the closes of every account,
and whatever is redelivered, each account ends with exactly one close per date, at most
one day's late fee per bill per date, and the state it would have had if every event had
been applied the moment it was published (issue 13).

The model is the topics': an integrator publishes in time order (an account's opening,
its bill, its payment of day p before the `*` close of p); each account's partition and
the `*` partition are read in order, each at its own pace; a fan-out's and a catch-up's
closes join the end of their account's partition when accounts queues them. The `*`
partition is never behind an account's own events (an event of day x is read only once
the `*` closes of dates before x were): what no book can know, no catch-up can close.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.envelope import Envelope
from tests.support import bill, opened, payment
from tests.unit.book_kit import Book, at_day, contiguous, day, runtime_at, star

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Script:
    """One account's events: opened on `opens`, billed due three days later, paid on
    `pays` (if it pays)."""

    account_id: str
    opens: int
    pays: int | None
    amount: int


@st.composite
def workloads(draw: Any) -> tuple[list[Script], list[int], bool, int]:
    scripts = []
    for n in range(draw(st.integers(2, 4))):
        opens = draw(st.integers(1, 8))
        pays = draw(st.none() | st.integers(opens, 18))
        scripts.append(Script(f"A{n}", opens, pays, draw(st.sampled_from([300_00, 2000_00]))))
    closes = sorted(draw(st.sets(st.integers(2, 18), min_size=2, max_size=7)))
    twice = draw(st.booleans())  # every `*` close published twice, under two ids
    cap = draw(st.sampled_from([2, 31]))
    return scripts, closes, twice, cap


def publications(
    scripts: list[Script], closes: list[int], twice: bool
) -> list[tuple[int, dict[str, Any]]]:
    """(day, event) in the order an integrator publishes them."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    for s in scripts:
        due = f"2026-03-{s.opens + 3:02d}"
        issued = {"issued_on": day(s.opens).isoformat()}
        out.append((s.opens, 0, at_day(opened(s.account_id), s.opens, 9)))
        out.append(
            (s.opens, 1, at_day(bill(s.account_id, "B1", due, 1000_00, **issued), s.opens, 9))
        )
        if s.pays is not None:
            paid_at = f"{day(s.pays).isoformat()}T12:00:00+08:00"
            raw = payment(s.account_id, "P1", s.amount, paid_at=paid_at)
            out.append((s.pays, 2, at_day(raw, s.pays, 12)))
    for n in closes:
        out.append((n, 3, star(n)))
        if twice:
            out.append((n, 4, star(n)))
    out.sort(key=lambda x: (x[0], x[1]))
    return [(d, e) for d, _, e in out]


def occurred_day(env: Envelope) -> int:
    """The March day an integrator's event occurred on, in Shanghai."""
    return env.occurred_at.astimezone(SHANGHAI).day


async def ideal(book: Book, published: list[tuple[int, dict[str, Any]]]) -> None:
    """Every event applied the moment it is published, and everything it queued at once."""
    for _, event in published:
        await book.apply(event)
        await book.drain()


class Partitions:
    """The inbound topic as the test reads it: one queue per account and one for `*`."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.queues: dict[str, list[Envelope]] = {}
        self.read: dict[str, list[Envelope]] = {}
        self.star_days_read: set[int] = set()
        self.star_days: set[int] = set()

    def publish(self, event: dict[str, Any]) -> None:
        env = self.book.envelope(event)
        self.queues.setdefault(env.account_id, []).append(env)
        if env.account_id == "*":
            self.star_days.add(date_day(env))

    def ready(self, queue: str) -> bool:
        """Whether the queue's head may be read: the `*` closes before its day were."""
        pending = self.queues.get(queue)
        if not pending:
            return False
        head = pending[0]
        if head.account_id == "*" or head.source == "accounts":
            return True
        when = occurred_day(head)
        return all(d in self.star_days_read for d in self.star_days if d < when)

    async def read_head(self, queue: str) -> None:
        env = self.queues[queue].pop(0)
        await self.book.apply(env)
        self.read.setdefault(queue, []).append(env)
        if env.account_id == "*":
            self.star_days_read.add(date_day(env))
        for queued in await self.book.new_messages():
            self.queues.setdefault(queued.account_id, []).append(queued)

    async def redeliver(self, queue: str, bypass_ledger: bool) -> None:
        env = self.read[queue][-1]
        if bypass_ledger:
            await self.book.apply_bypassing_ledger(env)
        else:
            await self.book.apply(env)
        for queued in await self.book.new_messages():
            self.queues.setdefault(queued.account_id, []).append(queued)


def date_day(env: Envelope) -> int:
    return int(env.data["business_date"][-2:])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=workloads(), data=st.data())
async def test_every_lag_and_redelivery_ends_with_the_closes_and_state_of_no_lag(
    tmp_path_factory: Any, workload: tuple[list[Script], list[int], bool, int], data: Any
) -> None:
    scripts, closes, twice, cap = workload
    published = publications(scripts, closes, twice)
    base: Path = tmp_path_factory.mktemp("book")
    reference = Book(await runtime_at(base / "ideal", day_close_max_catch_up_days=cap))
    lagging = Book(await runtime_at(base / "lagging", day_close_max_catch_up_days=cap))
    try:
        await ideal(reference, published)
        topic = Partitions(lagging)
        queue = list(published)
        for _ in range(data.draw(st.integers(0, 60), label="steps")):
            readable = sorted(q for q in topic.queues if topic.ready(q))
            redeliverable = sorted(topic.read)
            moves = ["publish"] * bool(queue) + ["read"] * bool(readable)
            moves += ["redeliver"] * bool(redeliverable)
            if not moves:
                break
            move = data.draw(st.sampled_from(moves), label="move")
            if move == "publish":
                topic.publish(queue.pop(0)[1])
            elif move == "read":
                await topic.read_head(data.draw(st.sampled_from(readable), label="read"))
            else:
                which = data.draw(st.sampled_from(redeliverable), label="redeliver")
                await topic.redeliver(which, data.draw(st.booleans(), label="bypass"))
        for _, event in queue:
            topic.publish(event)
        while readable := sorted(q for q in topic.queues if topic.ready(q)):
            await topic.read_head("*" if "*" in readable else readable[0])
        assert not any(topic.queues.values())

        first_close = {
            s.account_id: next((n for n in closes if n >= s.opens), None) for s in scripts
        }
        for s in scripts:
            got = await lagging.closes(s.account_id)
            assert got == await reference.closes(s.account_id), s
            start = first_close[s.account_id]
            assert got == ([] if start is None else contiguous(day(start), day(closes[-1])))
            fees = await lagging.late_fee_days(s.account_id)
            assert len(fees) == len(set(fees))
            assert sorted(fees) == sorted(await reference.late_fee_days(s.account_id))
            assert await lagging.state(s.account_id) == await reference.state(s.account_id), s
        # The book holds each date once, under the first `*` close of it that was read.
        assert [d for _, d, _ in await lagging.book()] == [day(n) for n in closes]
    finally:
        for b in (reference, lagging):
            await b.runtime.engine.dispose()


def test_the_model_publishes_a_payment_before_the_close_of_its_day() -> None:
    script = Script("A0", 1, 4, 300_00)
    order = [(d, e["type"]) for d, e in publications([script], [3, 4], twice=False)]
    assert order.index((4, "PaymentReceived")) < order.index((4, "BusinessDayClosed"))
    assert uuid.UUID(publications([script], [3], twice=True)[-1][1]["id"])
