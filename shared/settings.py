"""Settings from the environment, validated at start: a bad value stops the process at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ArrearsError, describe_validation_error
from shared.topics import Topics

ServiceName = Literal["accounts", "plans", "contact", "audit"]
SERVICES: tuple[ServiceName, ...] = ("accounts", "plans", "contact", "audit")
_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class SettingsError(ArrearsError):
    """The configuration is wrong; the message names every bad setting."""


class Settings(BaseSettings):
    """One service's settings; `DATABASE_URL` may be set per service, e.g. `PLANS_DATABASE_URL`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service: ServiceName
    database_url: str = ""
    event_log: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap_servers: str = ""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    topic_prefix: str = Field(default="arrears", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=4, ge=1, le=1000)
    data_dir: Path = Path("var")
    embedded_log_path: Path | None = None
    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_retry_backoff: float = Field(default=0.2, ge=0, le=60)
    consumer_max_batch: int = Field(default=500, ge=1, le=10_000)
    aggregate_cache_size: int = Field(default=10_000, ge=0, le=10_000_000)
    snapshot_every: int = Field(
        default=50,
        ge=0,
        le=1_000_000,
        description="accounts: snapshot an account's state each time its stream passes a "
        "multiple of this many events (0: never); a load reads the snapshot and the events "
        "after it",
    )
    ingest_max_batch: int = Field(default=500, ge=1, le=10_000)
    ingest_max_body_bytes: int = Field(default=5_000_000, ge=1024)
    relay_batch: int = Field(default=500, ge=1, le=10_000)
    startup_retry_initial_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="the wait after the first failed attempt to reach the event log at "
        "startup; it doubles each attempt (with jitter) up to STARTUP_RETRY_MAX_S",
    )
    startup_retry_max_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="the longest wait between attempts to reach the event log at startup",
    )
    policy_file: Path | None = Field(
        default=None,
        description="the service's policy (JSON: accounts' servicing policy, plans' relief "
        "policy); <SERVICE>_POLICY_FILE beats it",
    )
    day_close_at: str | None = Field(
        default=None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="accounts: close each business day itself at this local time (HH:MM)",
    )
    day_close_time_zone: str = "Asia/Shanghai"
    integrator_account_scoping: bool = Field(
        default=False,
        description="accounts: an integrator may post events only for the accounts it opened "
        "(another's account is answered as an unknown one), and its `*` close covers only those",
    )
    day_close_future_days: int = Field(
        default=1,
        ge=0,
        le=31,
        description="accounts: a BusinessDayClosed may name at most this many days after "
        "today in the account's time zone (integrators whose batch runs ahead of midnight)",
    )
    day_close_max_catch_up_days: int = Field(
        default=31,
        ge=1,
        le=3660,
        description="accounts: one transaction closes at most this many business dates of an "
        "account; a longer catch-up continues in further transactions until done",
    )
    audit_signing_key_file: Path | None = Field(
        default=None, description="audit: Ed25519 private key (PEM) that signs checkpoints"
    )
    audit_checkpoint_seconds: int = Field(default=3600, ge=0, description="0: on demand only")
    audit_published_file: Path | None = Field(
        default=None,
        description="audit: the append-only file signed checkpoints are published to, outside "
        "the database (default DATA_DIR/audit-published/checkpoints.jsonl); put it where the "
        "database's administrators cannot rewrite it",
    )
    audit_checkpoints_per_minute: int = Field(
        default=6,
        ge=1,
        le=10_000,
        description="audit: at most this many POST /checkpoints a minute, for the whole "
        "service (every checkpoint is kept and published for ever)",
    )
    audit_retention_days: int = Field(
        default=1095,
        ge=1,
        le=36_500,
        description="audit: days after an account's last event before its personal data "
        "may be erased",
    )
    audit_view_cache_lines: int = Field(
        default=200_000,
        ge=0,
        le=100_000_000,
        description="audit: story and state views kept in memory, in lines (0: none); a "
        "view is reused until the account's next entry",
    )
    metrics_enabled: bool = Field(
        default=True, description="serve Prometheus metrics at /metrics (no token needed)"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve /metrics on this port of METRICS_HOST instead of the API's port",
    )
    metrics_host: str = "127.0.0.1"
    ready_max_lag: int | None = Field(
        default=None,
        ge=0,
        description="/readyz fails while any consumer partition lags by more than this many "
        "records (unset: lag is reported, never fails readiness)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, for log collectors"
    )
    log_account_key: SecretStr | None = Field(
        default=None,
        description="JSON logs carry an account as HMAC-SHA256(key, id) (first 16 hex digits); "
        "unset: no account at all",
    )
    auth_mode: Literal["development", "production"] = "production"
    auth_dev_secret_file: Path | None = None
    auth_public_key_file: Path | None = None
    auth_jwks_file: Path | None = None
    auth_issuer: str = ""
    auth_audience: str = "arrears"
    auth_algorithms: list[Literal["RS256", "ES256", "RS384", "ES384", "RS512", "EdDSA"]] = [
        "RS256",
        "ES256",
    ]
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    borrower_requests_per_minute: int = Field(default=60, ge=1, le=100_000)
    rate_limit_store: Literal["database", "memory"] = Field(
        default="database",
        description="where borrowers' request budgets live: the service's database, shared "
        "by every replica, or this process's memory (each replica allows the whole rate)",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if not self.database_url:
            path = (self.data_dir / f"{self.service}.sqlite3").resolve()
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{path}")
        if not self.database_url.startswith(_DB_SCHEMES):
            raise ValueError(f"DATABASE_URL must start with one of {', '.join(_DB_SCHEMES)}")
        try:
            ZoneInfo(self.day_close_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"DAY_CLOSE_TIME_ZONE {self.day_close_time_zone!r} is unknown"
            ) from None
        if self.startup_retry_initial_s > self.startup_retry_max_s:
            raise ValueError(
                f"STARTUP_RETRY_INITIAL_S ({self.startup_retry_initial_s}) must not exceed "
                f"STARTUP_RETRY_MAX_S ({self.startup_retry_max_s})"
            )
        if self.event_log == "kafka" and not self.kafka_bootstrap_servers:
            raise ValueError("EVENT_LOG=kafka needs KAFKA_BOOTSTRAP_SERVERS")
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError("SASL needs KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD")
        return self

    @property
    def topics(self) -> Topics:
        """The topic names under this deployment's prefix."""
        return Topics(self.topic_prefix)

    @property
    def dev_secret_path(self) -> Path:
        """Where the development signing secret lives (one per install)."""
        return self.auth_dev_secret_file or self.data_dir / "dev-secret"

    @property
    def signing_key_path(self) -> Path:
        """Where audit's checkpoint signing key lives (development creates it)."""
        return self.audit_signing_key_file or self.data_dir / "audit-signing-key.pem"

    @property
    def issuer(self) -> str:
        """The token issuer to require; development has its own."""
        return self.auth_issuer or "arrears-dev"

    @property
    def log_path(self) -> Path:
        """Where the embedded event log lives (shared by every service of one install)."""
        return self.embedded_log_path or self.data_dir / "eventlog.sqlite3"

    @classmethod
    def load(cls, service: str, **overrides: Any) -> Settings:
        """Read the environment for `service` or raise SettingsError naming each bad setting."""
        # <SERVICE>_DATABASE_URL beats DATABASE_URL (and <SERVICE>_POLICY_FILE beats
        # POLICY_FILE): one environment can hold all four
        # (make run); init values beat the environment in pydantic-settings.
        for name in ("database_url", "policy_file"):
            per_service = os.environ.get(f"{service.upper()}_{name.upper()}")
            if per_service and name not in overrides:
                overrides = {**overrides, name: per_service}
        try:
            return cls(service=service, **overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SettingsError(
                f"invalid settings for {service}: {describe_validation_error(exc, prefix='')}"
            ) from exc
