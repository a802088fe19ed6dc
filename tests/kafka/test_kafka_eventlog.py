"""The Kafka adapter passes the same event-log contract as the embedded log."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.eventlog.kafka import KafkaEventLog
from shared.eventlog.port import Unpublishable
from tests.contract.eventlog_contract import EventLogContract

pytestmark = pytest.mark.kafka


class TestKafkaEventLog(EventLogContract):
    @pytest.fixture
    def log(self, kafka_event_log: KafkaEventLog) -> KafkaEventLog:
        return kafka_event_log


async def test_a_message_over_the_brokers_limit_is_unpublishable_and_the_log_goes_on(
    kafka_event_log: KafkaEventLog, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("big")
    await kafka_event_log.ensure_topics([topic], 1)
    with pytest.raises(Unpublishable, match="TooLarge"):
        await kafka_event_log.publish_batch(topic, [(b"k", b"x" * 2_000_000)])
    # The producer is not wedged: the next message goes.
    (ok,) = await kafka_event_log.publish_batch(topic, [(b"k", b"small")])
    assert ok.offset == 0
