"""The orchestrator's settings: one frozen object read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle_schemas.access import ORCHESTRATOR_APP_ID
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR
from service_kit.kafka_security import KafkaSecurity, kafka_security_from_environment
from service_kit.rate_limits import check_rate_limit


class OrchestratorSettings(BaseSettings):
    """Every knob, with safe local defaults (docs/orchestrator.md has the table)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    lifecycle_topic_prefix: str = Field(default="", alias="LIFECYCLE_TOPIC_PREFIX")
    # KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* (service_kit.kafka_security).
    kafka_security: KafkaSecurity = Field(default_factory=kafka_security_from_environment)
    host: str = Field(default="127.0.0.1", alias="ORCHESTRATOR_HOST")
    port: int = Field(default=8100, alias="ORCHESTRATOR_PORT")
    # The name other workers reach this one by, when it differs from the bind address (a
    # StatefulSet pod binds 0.0.0.0 and is reached by its name under the headless Service).
    advertised_host: str | None = Field(default=None, alias="ORCHESTRATOR_ADVERTISED_HOST")
    data_dir: Path = Field(default=Path(".cache/orchestrator"), alias="ORCHESTRATOR_DATA_DIR")
    playbook_dir: Path = Field(default=DEFAULT_PLAYBOOK_DIR, alias="ORCHESTRATOR_PLAYBOOK_DIR")
    deadline_check_interval_s: float = Field(
        default=5.0, gt=0, alias="ORCHESTRATOR_DEADLINE_CHECK_S"
    )
    # Simulated seconds per real second: the playbook's durations are divided by it, so deadlines
    # keep pace with a simulated company running faster than the wall clock (make run sets it).
    time_scale: float = Field(default=1.0, gt=0, alias="ORCHESTRATOR_TIME_SCALE")
    # A stop (SIGTERM) that takes longer exits the process anyway: with Kafka unreachable faust's
    # own stop can hang; below Kubernetes' default 30 s grace, so the exit is ours and logged.
    stop_timeout_s: float = Field(default=20.0, gt=0, alias="ORCHESTRATOR_STOP_TIMEOUT_S")
    replication_factor: int | None = Field(
        default=None, ge=1, alias="ORCHESTRATOR_REPLICATION_FACTOR"
    )
    # Where the simulator writes its run summaries (coordinated.json, siloed.json) for the report.
    simulation_dir: Path | None = Field(default=None, alias="ORCHESTRATOR_SIMULATION_DIR")
    log_level: str = Field(default="INFO", alias="ORCHESTRATOR_LOG_LEVEL")
    # Crypto-shredding (docs/reliability.md): unseal department events with their subject keys,
    # tombstone the keys on erasure. Same variables as the department services.
    shredding: bool = Field(default=False, alias="LIFECYCLE_SHREDDING")
    shredding_secret: SecretStr | None = Field(
        default=None, min_length=16, alias="LIFECYCLE_SHREDDING_SECRET"
    )

    # Access (docs/security.md): one key file for every service, a cluster secret between
    # workers, the Host names this API answers to, the dashboard's session and rate limits.
    api_keys_file: Path | None = Field(default=None, alias="LIFECYCLE_API_KEYS_FILE")
    api_keys_json: str | None = Field(default=None, alias="LIFECYCLE_API_KEYS")
    cluster_secret: SecretStr | None = Field(
        default=None, min_length=16, alias="ORCHESTRATOR_CLUSTER_SECRET"
    )
    allowed_hosts: str | None = Field(default=None, alias="ORCHESTRATOR_ALLOWED_HOSTS")
    session_ttl_s: int = Field(
        default=8 * 3600, ge=60, le=30 * 86400, alias="ORCHESTRATOR_SESSION_TTL_S"
    )
    rate_limit: str = Field(default="50/second;1000/minute", alias="ORCHESTRATOR_RATE_LIMIT")

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
