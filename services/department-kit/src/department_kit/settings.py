"""One frozen settings object per department service, read from the environment.

Shared variables (``KAFKA_BOOTSTRAP_SERVERS``, ``LIFECYCLE_TOPIC_PREFIX``, ``DEPARTMENT_*``)
have no prefix; the listening address is per department (``MARKETING_PORT``,
``SALES_HOST``, ...) so that the three services can run side by side on one machine.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from department_kit.inbox_db import InboxUrlError, parse_inbox_url
from lifecycle_schemas.access import department_group
from lifecycle_schemas.departments import Department
from lifecycle_schemas.vocabulary import ContactPurpose
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
# Contact requests (docs/departments.md): how long to wait for the orchestrator, and which
# purposes go ahead when it does not answer (promotional ones do not).
DEFAULT_CONTACT_TIMEOUT_S = 2.0
DEFAULT_CONTACT_FAIL_OPEN = "service,transactional,legal"


def fail_open_purposes(text: str) -> frozenset[ContactPurpose]:
    """The purposes of a ``DEPARTMENT_CONTACT_FAIL_OPEN`` list (``""``: none fails open)."""
    try:
        return frozenset(ContactPurpose(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        known = ", ".join(p.value for p in ContactPurpose)
        raise ValueError(f"not a list of contact purposes ({known}): {text!r}") from None


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
    # The department's own variables (``SALES_HOST``, ...): named per department by
    # :func:`settings_class`; given by name in code.
    host: str = Field(default="127.0.0.1", description="HTTP address the service listens on")
    port: int = Field(ge=1, le=65535, description="HTTP port")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka cluster (host:port, comma-separated)",
    )
    topic_prefix: str = Field(
        default="",
        validation_alias="LIFECYCLE_TOPIC_PREFIX",
        description="namespace prepended to every topic name and to the consumer group",
    )
    # KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (service_kit.kafka_security).
    kafka_security: KafkaSecurity = Field(default_factory=kafka_security_from_environment)
    data_dir: Path | None = Field(
        default=None,
        validation_alias="DEPARTMENT_DATA_DIR",
        description="where the SQLite inbox lives (default .cache/<department>)",
    )
    inbox_url: str | None = Field(
        default=None,
        validation_alias="DEPARTMENT_INBOX_URL",
        description="sqlite:///<path> (one process) or postgresql://user:password@host/db "
        "(replicas) of the action inbox and idempotency log (default: a SQLite file in the "
        "data directory)",
    )
    consumer_group: str | None = Field(
        default=None,
        validation_alias="DEPARTMENT_CONSUMER_GROUP",
        description="consumer group of the action topic "
        "(default <prefix>lifecycle.<department>-service)",
    )
    # One key file for every service (service_kit.api_keys); the older names are still read.
    api_keys_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LIFECYCLE_API_KEYS_FILE", "DEPARTMENT_API_KEYS_FILE"),
        description="the key file (hashed keys; lifecycle-admin keys create adds to it)",
    )
    api_keys_json: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LIFECYCLE_API_KEYS", "DEPARTMENT_API_KEYS"),
        description="the same JSON inline, added to the file's keys; no key at all: every "
        "request is refused (401)",
    )
    rate_limit: str = Field(
        default=DEFAULT_RATE_LIMIT,
        validation_alias="DEPARTMENT_RATE_LIMIT",
        description="requests per key, in the limits notation (50/second;1000/minute)",
    )
    max_streams_per_key: int = Field(
        default=4,
        ge=1,
        le=1000,
        validation_alias="DEPARTMENT_MAX_STREAMS_PER_KEY",
        description="concurrent action streams per key; one more is 429",
    )
    webhook_url: str | None = Field(
        default=None, description="push actions to this URL (needs the secret too)"
    )
    webhook_secret: str | None = Field(
        default=None, description="HMAC secret of the push signature"
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        validation_alias="DEPARTMENT_WEBHOOK_MAX_ATTEMPTS",
        description="push attempts per action",
    )
    webhook_backoff_initial_s: float = Field(
        default=0.5,
        gt=0,
        validation_alias="DEPARTMENT_WEBHOOK_BACKOFF_INITIAL_S",
        description="first push retry delay in seconds (doubles each time)",
    )
    webhook_backoff_max_s: float = Field(
        default=60.0,
        gt=0,
        validation_alias="DEPARTMENT_WEBHOOK_BACKOFF_MAX_S",
        description="longest push retry delay in seconds",
    )
    webhook_timeout_s: float = Field(
        default=5.0,
        gt=0,
        validation_alias="DEPARTMENT_WEBHOOK_TIMEOUT_S",
        description="timeout of one push in seconds",
    )
    publish_timeout_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias="DEPARTMENT_PUBLISH_TIMEOUT_S",
        description="longest wait in seconds for Kafka's acknowledgement before answering 503",
    )
    max_batch_events: int = Field(
        default=DEFAULT_MAX_BATCH_EVENTS,
        ge=1,
        validation_alias="DEPARTMENT_MAX_BATCH_EVENTS",
        description="events per request",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        validation_alias="DEPARTMENT_MAX_BODY_BYTES",
        description="request body size in bytes",
    )
    idempotency_window_s: int = Field(
        default=DEFAULT_IDEMPOTENCY_WINDOW_S,
        ge=60,
        validation_alias="DEPARTMENT_IDEMPOTENCY_WINDOW_S",
        description="how long in seconds an accepted event id is remembered",
    )
    expiry_sweep_interval_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias="DEPARTMENT_EXPIRY_SWEEP_S",
        description="how often in seconds expired actions are reported (outcome.expired)",
    )
    log_level: str = Field(
        default="INFO", validation_alias="DEPARTMENT_LOG_LEVEL", description="log level"
    )
    contact_timeout_s: float = Field(
        default=DEFAULT_CONTACT_TIMEOUT_S,
        gt=0,
        le=60,
        validation_alias="DEPARTMENT_CONTACT_TIMEOUT_S",
        description="how long a contact request waits for the orchestrator's answer",
    )
    contact_fail_open: str = Field(
        default=DEFAULT_CONTACT_FAIL_OPEN,
        validation_alias="DEPARTMENT_CONTACT_FAIL_OPEN",
        description="purposes allowed when the orchestrator does not answer (comma list); "
        "the others are denied",
    )
    # Crypto-shredding (docs/reliability.md): seal every event with a key of its subject.
    shredding: bool = Field(
        default=False,
        validation_alias="LIFECYCLE_SHREDDING",
        description="seal every published event with a key of its subject (crypto-shredding)",
    )
    shredding_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        validation_alias="LIFECYCLE_SHREDDING_SECRET",
        description="HMAC key of the subjects' pseudonyms, at least 16 characters, the same on "
        "every service (needed with LIFECYCLE_SHREDDING)",
    )
    # Test-only fault switch (docs/configuration.md): hold an ingest request this long after
    # Kafka acknowledged its events and before the service records and answers them, so a
    # chaos test can kill the process inside that window. 0 (the default) means off.
    fault_pause_after_produce_s: float = Field(
        default=0.0,
        ge=0,
        le=300,
        validation_alias="LIFECYCLE_FAULT_PAUSE_AFTER_PRODUCE_S",
        description="test only: seconds an ingest request is held after Kafka acknowledged it",
    )
    # Test-only, like the one above: the action consumer waits this long after it stored a batch
    # and before it commits the batch's offsets, so a chaos test can kill it inside that window.
    fault_pause_before_commit_s: float = Field(
        default=0.0,
        ge=0,
        le=300,
        validation_alias="LIFECYCLE_FAULT_PAUSE_BEFORE_COMMIT_S",
        description="test only: seconds the action consumer waits between storing a batch and "
        "committing it",
    )

    @field_validator("contact_fail_open")
    @classmethod
    def _purposes(cls, value: str) -> str:
        fail_open_purposes(value)
        return value

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
    def contact_fail_open_purposes(self) -> frozenset[ContactPurpose]:
        """The purposes allowed when the orchestrator does not answer a contact request."""
        return fail_open_purposes(self.contact_fail_open)

    @property
    def group_id(self) -> str:
        """The consumer group of this department's service (one per department)."""
        return self.consumer_group or department_group(self.department, self.topic_prefix)


@functools.cache
def settings_class(department: Department) -> type[DepartmentSettings]:
    """The settings of ``department``: the shared ones, and its own variables under its prefix
    (``SALES_HOST``, ``SALES_PORT``, ``SALES_WEBHOOK_URL``, ``SALES_WEBHOOK_SECRET``), so that a
    bad value is reported, and listed in ``serve --help``, by the variable's name."""
    own = env_prefix(department)

    def own_variable(name: str, annotation: Any, default: Any, **limits: Any) -> tuple[Any, Any]:
        inherited = DepartmentSettings.model_fields[name].description
        variable = f"{own}{name.upper()}"
        return annotation, Field(
            default=default, validation_alias=variable, description=inherited, **limits
        )

    return create_model(
        f"{department.value.title().replace('-', '')}Settings",
        __base__=DepartmentSettings,
        host=own_variable("host", str, "127.0.0.1"),
        port=own_variable("port", int, DEFAULT_PORTS[department], ge=1, le=65535),
        webhook_url=own_variable("webhook_url", str | None, None),
        webhook_secret=own_variable("webhook_secret", str | None, None),
    )


def load_settings(department: Department) -> DepartmentSettings:
    """Build the frozen settings of ``department`` from the environment (pydantic's
    ValidationError names the variable of each problem)."""
    return settings_class(department)(department=department)
