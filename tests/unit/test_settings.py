"""Settings fail fast with the bad setting named; Kafka security settings reach the client."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from shared.eventlog.factory import kafka_security
from shared.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI exports KAFKA_BOOTSTRAP_SERVERS and friends; these tests start from nothing.
    for name in list(os.environ):
        if (
            name.startswith(("KAFKA_", "AUTH_", "TOPIC_"))
            or name.endswith("DATABASE_URL")
            or (name in ("EVENT_LOG", "DATA_DIR"))
        ):
            monkeypatch.delenv(name)


def test_database_url_can_be_set_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://h/shared")
    monkeypatch.setenv("PLANS_DATABASE_URL", "postgresql+asyncpg://h/plans")
    assert Settings.load("plans").database_url == "postgresql+asyncpg://h/plans"
    assert Settings.load("audit").database_url == "postgresql+asyncpg://h/shared"


def test_the_default_database_is_a_sqlite_file_per_service(tmp_path: Path) -> None:
    url = Settings.load("contact", data_dir=tmp_path).database_url
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/contact.sqlite3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EVENT_LOG": "rabbit"}, "event_log"),
        ({"EVENT_LOG": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must start with"),
        ({"TOPIC_PARTITIONS": "0"}, "topic_partitions"),
        ({"TOPIC_PREFIX": "bad prefix!"}, "topic_prefix"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
                "EVENT_LOG": "kafka",
            },
            "SASL needs",
        ),
        ({"AUTH_MODE": "maybe"}, "auth_mode"),
    ],
)
def test_bad_settings_stop_the_process_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=message):
        Settings.load("accounts")


def test_plaintext_is_the_kafka_default() -> None:
    assert kafka_security(Settings.load("accounts")) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_settings_reach_the_kafka_client() -> None:
    settings = Settings.load(
        "accounts",
        event_log="kafka",
        kafka_bootstrap_servers="b:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="arrears",
        kafka_sasl_password="s3cret",
    )
    security = kafka_security(settings)
    assert security["security_protocol"] == "SASL_SSL"
    assert security["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (security["sasl_plain_username"], security["sasl_plain_password"]) == (
        "arrears",
        "s3cret",
    )
    assert isinstance(security["ssl_context"], ssl.SSLContext)
