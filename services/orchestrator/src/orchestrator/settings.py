"""The orchestrator's settings: one frozen object read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle_schemas.access import ORCHESTRATOR_APP_ID
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR
from orchestrator.stored import KEPT_VALUES
from service_kit.kafka_security import KafkaSecurity, kafka_security_from_environment
from service_kit.rate_limits import check_rate_limit


class OrchestratorSettings(BaseSettings):
    """Every knob, with safe local defaults (docs/orchestrator.md has the table)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka cluster (host:port, comma-separated)",
    )
    lifecycle_topic_prefix: str = Field(
        default="",
        alias="LIFECYCLE_TOPIC_PREFIX",
        description="prefix of every topic name and of the faust app id (consumer group, "
        "changelogs)",
    )
    # KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (service_kit.kafka_security).
    kafka_security: KafkaSecurity = Field(default_factory=kafka_security_from_environment)
    host: str = Field(
        default="127.0.0.1",
        alias="ORCHESTRATOR_HOST",
        description="HTTP bind address, and (unless ORCHESTRATOR_ADVERTISED_HOST) the host other "
        "workers use to reach this one",
    )
    port: int = Field(default=8100, alias="ORCHESTRATOR_PORT", description="HTTP port")
    # The name other workers reach this one by, when it differs from the bind address (a
    # StatefulSet pod binds 0.0.0.0 and is reached by its name under the headless Service).
    advertised_host: str | None = Field(
        default=None,
        alias="ORCHESTRATOR_ADVERTISED_HOST",
        description="the host other workers reach this one by, when the bind address is no "
        "name (0.0.0.0); also answered beside ORCHESTRATOR_ALLOWED_HOSTS",
    )
    data_dir: Path = Field(
        default=Path(".cache/orchestrator"),
        alias="ORCHESTRATOR_DATA_DIR",
        description="RocksDB tables (one sub-directory per app id)",
    )
    playbook_dir: Path = Field(
        default=DEFAULT_PLAYBOOK_DIR,
        alias="ORCHESTRATOR_PLAYBOOK_DIR",
        description="segments, plays, policy and owners (default: the package's playbook/)",
    )
    deadline_check_interval_s: float = Field(
        default=5.0,
        gt=0,
        alias="ORCHESTRATOR_DEADLINE_CHECK_S",
        description="how often in seconds overdue actions are looked for",
    )
    # Simulated seconds per real second: the playbook's durations are divided by it, so deadlines
    # keep pace with a simulated company running faster than the wall clock (make run sets it).
    time_scale: float = Field(
        default=1.0,
        gt=0,
        alias="ORCHESTRATOR_TIME_SCALE",
        description="simulated seconds per real second, for simulations only: every duration "
        "of the playbook is divided by it",
    )
    # A stop (SIGTERM) that takes longer exits the process anyway: with Kafka unreachable faust's
    # own stop can hang; below Kubernetes' default 30 s grace, so the exit is ours and logged.
    stop_timeout_s: float = Field(
        default=20.0,
        gt=0,
        alias="ORCHESTRATOR_STOP_TIMEOUT_S",
        description="seconds a stop (SIGTERM, SIGINT) may take before the worker exits with "
        "status 70",
    )
    # Memory for speed: a kept value is not parsed again (orchestrator.stored.RecentValues).
    kept_values: int = Field(
        default=KEPT_VALUES,
        ge=0,
        alias="ORCHESTRATOR_KEPT_VALUES",
        description="returning customers whose last written table value the worker keeps as "
        "objects, so their next record does not parse it (0: none)",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        alias="ORCHESTRATOR_REPLICATION_FACTOR",
        description="replication of internal and changelog topics (default: min(3, brokers))",
    )
    # Where the simulator writes its run summaries (coordinated.json, siloed.json) for the report.
    simulation_dir: Path | None = Field(
        default=None,
        alias="ORCHESTRATOR_SIMULATION_DIR",
        description="where the simulator's run summaries are read for the dashboard",
    )
    log_level: str = Field(
        default="INFO",
        alias="ORCHESTRATOR_LOG_LEVEL",
        description="JSON log level (personal data masked)",
    )
    # Crypto-shredding (docs/reliability.md): unseal department events with their subject keys,
    # tombstone the keys on erasure. Same variables as the department services.
    shredding: bool = Field(
        default=False,
        alias="LIFECYCLE_SHREDDING",
        description="unseal department events with their subjects' keys; tombstone the keys "
        "on erasure (crypto-shredding)",
    )
    shredding_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        alias="LIFECYCLE_SHREDDING_SECRET",
        description="HMAC key of the subjects' pseudonyms, at least 16 characters, the same on "
        "every service (needed with LIFECYCLE_SHREDDING)",
    )

    # Access (docs/security.md): one key file for every service, a cluster secret between
    # workers, the Host names this API answers to, the dashboard's session and rate limits.
    api_keys_file: Path | None = Field(
        default=None,
        alias="LIFECYCLE_API_KEYS_FILE",
        description="the key file (hashed keys; lifecycle-admin keys create adds to it)",
    )
    api_keys_json: str | None = Field(
        default=None,
        alias="LIFECYCLE_API_KEYS",
        description="the same JSON inline; no key at all: every read is refused (401)",
    )
    cluster_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        alias="ORCHESTRATOR_CLUSTER_SECRET",
        description="shared by the workers of a group, at least 16 characters (default: a "
        "random one per process)",
    )
    allowed_hosts: str | None = Field(
        default=None,
        alias="ORCHESTRATOR_ALLOWED_HOSTS",
        description="comma-separated Host names answered, else 400 (default: localhost, "
        "127.0.0.1, ::1; ORCHESTRATOR_HOST and ORCHESTRATOR_ADVERTISED_HOST always)",
    )
    session_ttl_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 86400,
        alias="ORCHESTRATOR_SESSION_TTL_S",
        description="lifetime in seconds of the dashboard's session cookie",
    )
    rate_limit: str = Field(
        default="50/second;1000/minute",
        alias="ORCHESTRATOR_RATE_LIMIT",
        description="requests per key (or per address without one), in the limits notation",
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        return check_rate_limit(value)

    @model_validator(mode="after")
    def _shredding_needs_a_secret(self) -> OrchestratorSettings:
        if self.shredding and self.shredding_secret is None:
            raise ValueError("LIFECYCLE_SHREDDING needs LIFECYCLE_SHREDDING_SECRET")
        return self

    @property
    def app_id(self) -> str:
        """The faust app id (consumer group, changelog topic names): namespaced by the prefix."""
        return f"{self.lifecycle_topic_prefix}{ORCHESTRATOR_APP_ID}"

    @property
    def host_allow_list(self) -> list[str]:
        """Host names the API answers to: the setting (else the local names), and always this
        worker's own names, which other workers use to reach it (its bind address, or the
        advertised name when it binds every interface)."""
        if self.allowed_hosts is not None:
            names = [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        else:
            names = ["localhost", "127.0.0.1", "::1"]
        for own in (self.host, self.advertised_host):
            if own is not None and own not in ("0.0.0.0", "::", *names):
                names.append(own)
        return names

    @property
    def canonical_url(self) -> str:
        """Where other workers reach this worker's HTTP API."""
        return f"http://{self.advertised_host or self.host}:{self.port}"


def load_settings() -> OrchestratorSettings:
    """Read the settings from the environment."""
    return OrchestratorSettings()
