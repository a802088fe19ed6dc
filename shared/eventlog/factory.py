"""Builds the event log the settings ask for."""

from __future__ import annotations

import ssl
from typing import Any

from shared.eventlog.port import EventLog
from shared.settings import Settings


def make_event_log(settings: Settings) -> EventLog:
    """The embedded SQLite log or a Kafka client, per `EVENT_LOG`."""
    if settings.event_log == "kafka":
        from shared.eventlog.kafka import KafkaEventLog

        return KafkaEventLog(
            settings.kafka_bootstrap_servers,
            client_id=f"arrears-{settings.service}",
            security=kafka_security(settings),
        )
    from shared.eventlog.embedded import EmbeddedEventLog

    return EmbeddedEventLog(settings.log_path, default_partitions=settings.topic_partitions)


def kafka_security(settings: Settings) -> dict[str, Any]:
    """aiokafka client security keyword arguments from the settings (plaintext by default)."""
    out: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        out["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        out["sasl_mechanism"] = settings.kafka_sasl_mechanism
        out["sasl_plain_username"] = settings.kafka_sasl_username
        out["sasl_plain_password"] = settings.kafka_sasl_password
    return out
