"""One frozen settings object per department service, read from the environment.

Shared variables (``KAFKA_BOOTSTRAP_SERVERS``, ``LIFECYCLE_TOPIC_PREFIX``, ``DEPARTMENT_*``)
have no prefix; the listening address is per department (``MARKETING_PORT``,
``SALES_HOST``, ...) so that the three services can run side by side on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from department_kit.inbox_db import InboxUrlError, parse_inbox_url
from lifecycle_schemas.access import department_group
from lifecycle_schemas.departments import Department
from service_kit.kafka_security import KafkaSecurity, kafka_security_from_environment
from service_kit.rate_limits import check_rate_limit

DEFAULT_PORTS: dict[Department, int] = {
    Department.MARKETING: 8101,
    Department.SALES: 8102,
    Department.SERVICE_DESK: 8103,
}
# Ingest limits (documented in docs/departments.md).
DEFAULT_MAX_BATCH_EVENTS = 500
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# An event id accepted once is answered as a duplicate for this long (the topic's retention).
DEFAULT_IDEMPOTENCY_WINDOW_S = 7 * 24 * 60 * 60
# Per key: far above what a department's systems send (the simulator, the soak), low enough
# that one runaway client cannot take a service's whole CPU.
DEFAULT_RATE_LIMIT = "2000/second"


def env_prefix(department: Department) -> str:
    """The prefix of a department's own variables: ``MARKETING_``, ``SALES_``, ``SERVICE_DESK_``."""
    return department.value.upper().replace("-", "_") + "_"


class DepartmentSettings(BaseSettings):
    """Everything a department service is configured by (see docs/departments.md).

    Shared settings are read from their environment variables (the alias); the department's
    own (``department``, ``host``, ``port``, webhook target) are passed in by
    :func:`load_settings`, which reads the per-department variables.
    """

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    department: Department
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    topic_prefix: str = Field(default="", validation_alias="LIFECYCLE_TOPIC_PREFIX")
    # KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (service_kit.kafka_security).
    kafka_security: KafkaSecurity = Field(default_factory=kafka_security_from_environment)
    data_dir: Path | None = Field(default=None, validation_alias="DEPARTMENT_DATA_DIR")
    inbox_url: str | None = Field(
        default=None,
        validation_alias="DEPARTMENT_INBOX_URL",
        description="sqlite:///<path> (one process) or postgresql://user:password@host/db "
        "(replicas) of the action inbox and idempotency log",
    )
    consumer_group: str | None = Field(default=None, validation_alias="DEPARTMENT_CONSUMER_GROUP")
    # One key file for every service (service_kit.api_keys); the older names are still read.
    api_keys_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LIFECYCLE_API_KEYS_FILE", "DEPARTMENT_API_KEYS_FILE"),
    )
    api_keys_json: str | None = Field(
        default=None, validation_alias=AliasChoices("LIFECYCLE_API_KEYS", "DEPARTMENT_API_KEYS")
    )
    rate_limit: str = Field(
        default=DEFAULT_RATE_LIMIT,
        validation_alias="DEPARTMENT_RATE_LIMIT",
        description="requests per key, in the limits notation (50/second;1000/minute)",
    )
    max_streams_per_key: int = Field(
        default=4, ge=1, le=1000, validation_alias="DEPARTMENT_MAX_STREAMS_PER_KEY"
    )
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=100, validation_alias="DEPARTMENT_WEBHOOK_MAX_ATTEMPTS"
    )
    webhook_backoff_initial_s: float = Field(
        default=0.5, gt=0, validation_alias="DEPARTMENT_WEBHOOK_BACKOFF_INITIAL_S"
    )
    webhook_backoff_max_s: float = Field(
        default=60.0, gt=0, validation_alias="DEPARTMENT_WEBHOOK_BACKOFF_MAX_S"
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, validation_alias="DEPARTMENT_WEBHOOK_TIMEOUT_S"
    )
    publish_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias="DEPARTMENT_PUBLISH_TIMEOUT_S"
    )
    max_batch_events: int = Field(
        default=DEFAULT_MAX_BATCH_EVENTS, ge=1, validation_alias="DEPARTMENT_MAX_BATCH_EVENTS"
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1024, validation_alias="DEPARTMENT_MAX_BODY_BYTES"
    )
    idempotency_window_s: int = Field(
        default=DEFAULT_IDEMPOTENCY_WINDOW_S,
        ge=60,
        validation_alias="DEPARTMENT_IDEMPOTENCY_WINDOW_S",
    )
    expiry_sweep_interval_s: float = Field(
        default=30.0, gt=0, validation_alias="DEPARTMENT_EXPIRY_SWEEP_S"
    )
    log_level: str = Field(default="INFO", validation_alias="DEPARTMENT_LOG_LEVEL")
    # Crypto-shredding (docs/reliability.md): seal every event with a key of its subject.
    shredding: bool = Field(default=False, validation_alias="LIFECYCLE_SHREDDING")
    shredding_secret: SecretStr | None = Field(
        default=None, min_length=16, validation_alias="LIFECYCLE_SHREDDING_SECRET"
    )
    # Test-only fault switch (docs/configuration.md): hold an ingest request this long after
    # Kafka acknowledged its events and before the service records and answers them, so a
    # chaos test can kill the process inside that window. 0 (the default) means off.
    fault_pause_after_produce_s: float = Field(
        default=0.0, ge=0, le=300, validation_alias="LIFECYCLE_FAULT_PAUSE_AFTER_PRODUCE_S"
    )
    # Test-only, like the one above: the action consumer waits this long after it stored a batch
    # and before it commits the batch's offsets, so a chaos test can kill it inside that window.
    fault_pause_before_commit_s: float = Field(
        default=0.0, ge=0, le=300, validation_alias="LIFECYCLE_FAULT_PAUSE_BEFORE_COMMIT_S"
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        return check_rate_limit(value)

    @field_validator("inbox_url")
    @classmethod
    def _usable_database(cls, url: str | None) -> str | None:
        if url is not None:
            try:
                parse_inbox_url(url)
            except InboxUrlError as error:
                raise ValueError(str(error)) from None
        return url

    @model_validator(mode="after")
    def _shredding_needs_a_secret(self) -> DepartmentSettings:
        if self.shredding and self.shredding_secret is None:
            raise ValueError("LIFECYCLE_SHREDDING needs LIFECYCLE_SHREDDING_SECRET")
        return self

    @property
    def data_path(self) -> Path:
        """The data directory (default ``.cache/<department>``)."""
        return self.data_dir if self.data_dir is not None else Path(f".cache/{self.department}")

    @property
    def inbox_database(self) -> str:
        """The inbox database URL (default: a SQLite file in the data directory)."""
        return self.inbox_url or f"sqlite:///{self.data_path / 'inbox.sqlite3'}"

    @property
    def group_id(self) -> str:
        """The consumer group of this department's service (one per department)."""
        return self.consumer_group or department_group(self.department, self.topic_prefix)


def load_settings(department: Department) -> DepartmentSettings:
    """Build the frozen settings of ``department`` from the environment."""
    own = env_prefix(department)
    return DepartmentSettings(
        department=department,
        host=os.environ.get(f"{own}HOST", "127.0.0.1"),
        port=int(os.environ.get(f"{own}PORT", DEFAULT_PORTS[department])),
        webhook_url=os.environ.get(f"{own}WEBHOOK_URL") or None,
        webhook_secret=os.environ.get(f"{own}WEBHOOK_SECRET") or None,
    )
