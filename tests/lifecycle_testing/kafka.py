"""What the broker fixtures hand to tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lifecycle_schemas.topics import TopicSpec


@dataclass(frozen=True)
class KafkaBroker:
    bootstrap_servers: str
    data_dir: Path | None  # None when an external cluster is used


@dataclass(frozen=True)
class KafkaNamespace:
    """One test's private slice of the broker: prefixed topics and its own consumer group."""

    bootstrap_servers: str
    prefix: str
    group_id: str

    def topic(self, spec: TopicSpec) -> str:
        """The name of a registry topic inside this namespace."""
        return spec.name_in(self.prefix)
