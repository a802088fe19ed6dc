"""One contract every EventLog adapter must pass; subclass it with a `log` fixture."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

from shared.eventlog import EventLog, Record, Subscription, TopicPartition

PARTITIONS = 4


async def drain(sub: Subscription, want: int, timeout: float = 30.0) -> list[Record]:
    """Poll until `want` records arrived or the timeout passed."""
    got: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.extend(await sub.poll(timeout=0.5))
    return got


async def commit_all(sub: Subscription, records: list[Record]) -> None:
    """Commit past every record given."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        offsets[r.tp] = max(offsets.get(r.tp, 0), r.offset + 1)
    await sub.commit(offsets)


class EventLogContract:
    """Kafka's semantics as arrears relies on them."""

    def topic(self) -> str:
        return f"contract-{uuid.uuid4().hex[:10]}"

    def group(self) -> str:
        return f"group-{uuid.uuid4().hex[:10]}"

    async def _publish_keys(self, log: EventLog, topic: str, keys: int, per_key: int) -> None:
        await log.ensure_topics([topic], PARTITIONS)
        messages = [
            (f"acct-{k}".encode(), f"acct-{k}:{i}".encode())
            for i in range(per_key)
            for k in range(keys)
        ]
        published = await log.publish_batch(topic, messages)
        assert len(published) == len(messages)

    async def test_every_acknowledged_message_is_consumed_in_key_order(self, log: EventLog) -> None:
        topic = self.topic()
        await self._publish_keys(log, topic, keys=10, per_key=20)
        sub = log.subscribe(self.group(), [topic], max_batch=50)
        await sub.start()
        try:
            got = await drain(sub, 200)
        finally:
            await sub.close()
        assert len(got) == 200
        assert len({(r.topic, r.partition, r.offset) for r in got}) == 200
        by_key: dict[bytes | None, list[int]] = defaultdict(list)
        for r in got:
            by_key[r.key].append(int(r.value.decode().split(":")[1]))
        assert all(seq == list(range(20)) for seq in by_key.values())

    async def test_one_key_always_lands_in_one_partition_with_gapless_offsets(
        self, log: EventLog
    ) -> None:
        topic = self.topic()
        await log.ensure_topics([topic], PARTITIONS)
        first = await log.publish_batch(topic, [(b"k", b"1"), (b"k", b"2")])
        second = await log.publish(topic, b"k", b"3")
        assert {p.partition for p in [*first, second]} == {second.partition}
        assert [p.offset for p in [*first, second]] == [
            first[0].offset,
            first[0].offset + 1,
            first[0].offset + 2,
        ]

    async def test_batches_respect_max_batch(self, log: EventLog) -> None:
        topic = self.topic()
        await self._publish_keys(log, topic, keys=5, per_key=10)
        sub = log.subscribe(self.group(), [topic], max_batch=7)
        await sub.start()
        try:
            deadline = time.monotonic() + 30
            sizes: list[int] = []
            while sum(sizes) < 50 and time.monotonic() < deadline:
                batch = await sub.poll(timeout=0.5)
                sizes.append(len(batch))
        finally:
            await sub.close()
        assert sum(sizes) == 50
        assert max(sizes) <= 7

    async def test_a_new_member_resumes_from_committed_offsets(self, log: EventLog) -> None:
        topic, group = self.topic(), self.group()
        await self._publish_keys(log, topic, keys=4, per_key=5)
        sub = log.subscribe(group, [topic])
        await sub.start()
        try:
            got = await drain(sub, 20)
            await commit_all(sub, got)
        finally:
            await sub.close()
        await log.publish(topic, b"acct-0", b"acct-0:5")
        again = log.subscribe(group, [topic])
        await again.start()
        try:
            later = await drain(again, 1)
            assert [r.value for r in later] == [b"acct-0:5"]
            assert await again.poll(timeout=0.5) == []
        finally:
            await again.close()

    async def test_uncommitted_records_are_delivered_again(self, log: EventLog) -> None:
        topic, group = self.topic(), self.group()
        await self._publish_keys(log, topic, keys=2, per_key=3)
        sub = log.subscribe(group, [topic])
        await sub.start()
        try:
            assert len(await drain(sub, 6)) == 6
        finally:
            await sub.close()
        again = log.subscribe(group, [topic])
        await again.start()
        try:
            assert len(await drain(again, 6)) == 6
        finally:
            await again.close()

    async def test_groups_are_independent(self, log: EventLog) -> None:
        topic = self.topic()
        await self._publish_keys(log, topic, keys=3, per_key=2)
        for _ in range(2):
            sub = log.subscribe(self.group(), [topic])
            await sub.start()
            try:
                got = await drain(sub, 6)
                await commit_all(sub, got)
                assert len(got) == 6
            finally:
                await sub.close()

    async def test_seek_to_beginning_replays_everything(self, log: EventLog) -> None:
        topic = self.topic()
        await self._publish_keys(log, topic, keys=3, per_key=3)
        sub = log.subscribe(self.group(), [topic])
        await sub.start()
        try:
            first = await drain(sub, 9)
            await commit_all(sub, first)
            await sub.seek_to_beginning()
            replay = await drain(sub, 9)
        finally:
            await sub.close()
        assert sorted(r.value for r in replay) == sorted(r.value for r in first)

    async def test_seek_from_on_assigned_starts_each_partition_at_the_given_offset(
        self, log: EventLog
    ) -> None:
        topic, group = self.topic(), self.group()
        await self._publish_keys(log, topic, keys=3, per_key=4)
        first = log.subscribe(group, [topic])
        await first.start()
        try:
            everything = await drain(first, 12)
            await commit_all(first, everything)  # the group's committed offsets: the ends
        finally:
            await first.close()
        stored = {tp: 1 for tp in {r.tp for r in everything}}  # a position kept elsewhere
        sub: Subscription | None = None

        async def on_assigned(tps: set[TopicPartition]) -> None:
            assert sub is not None
            await sub.seek({tp: o for tp, o in stored.items() if tp in tps})

        sub = log.subscribe(group, [topic], on_assigned=on_assigned)
        await sub.start()
        try:
            again = await drain(sub, 12 - len(stored))
        finally:
            await sub.close()
        assert sorted((r.tp, r.offset) for r in again) == sorted(
            (r.tp, r.offset) for r in everything if r.offset >= 1
        )

    async def test_two_members_split_the_partitions_and_consume_each_record_once(
        self, log: EventLog
    ) -> None:
        topic, group = self.topic(), self.group()
        await self._publish_keys(log, topic, keys=16, per_key=5)
        revoked: list[set[TopicPartition]] = []

        async def on_revoked(tps: set[TopicPartition]) -> None:
            revoked.append(tps)

        a = log.subscribe(group, [topic], on_revoked=on_revoked)
        b = log.subscribe(group, [topic])
        await a.start()
        got: list[Record] = []
        try:
            # a owns everything until b joins; b's join makes a give partitions up.
            while not a.assignment():
                await a.poll(timeout=0.2)
            await b.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                polled = await asyncio.gather(a.poll(timeout=0.3), b.poll(timeout=0.3))
                for sub, batch in zip((a, b), polled, strict=True):
                    got.extend(batch)
                    if batch:
                        await commit_all(sub, batch)
                if a.assignment() and b.assignment() and len(got) >= 80:
                    break
            assert a.assignment() and b.assignment()
            assert not a.assignment() & b.assignment()
            assert a.assignment() | b.assignment() == {
                TopicPartition(topic, p) for p in range(PARTITIONS)
            }
        finally:
            await b.close()
            await a.close()
        assert revoked, "the first member was never told it lost partitions"
        assert sorted(r.value for r in got) == sorted(
            f"acct-{k}:{i}".encode() for k in range(16) for i in range(5)
        )

    async def test_end_offsets_count_what_was_published(self, log: EventLog) -> None:
        topic = self.topic()
        await self._publish_keys(log, topic, keys=8, per_key=2)
        ends = await log.end_offsets([topic])
        assert set(ends) == {TopicPartition(topic, p) for p in range(PARTITIONS)}
        assert sum(ends.values()) == 16
