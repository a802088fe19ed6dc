"""The Kafka adapter passes the same event-log contract as the embedded log."""

from __future__ import annotations

import pytest

from shared.eventlog.kafka import KafkaEventLog
from tests.contract.eventlog_contract import EventLogContract

pytestmark = pytest.mark.kafka


class TestKafkaEventLog(EventLogContract):
    @pytest.fixture
    def log(self, kafka_event_log: KafkaEventLog) -> KafkaEventLog:
        return kafka_event_log
