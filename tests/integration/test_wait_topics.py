"""Given a namespace on the real broker, `lifecycle-admin wait-topics` waits for every topic.

The orchestrator's pods run it before the worker starts (the Helm chart's init container), so a
worker never starts on a cluster where the topic operator has not made its topics yet.
"""

from __future__ import annotations

import uuid

import pytest

from lifecycle_admin.cli import main
from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.kafka import KafkaNamespace

pytestmark = pytest.mark.kafka


def test_it_returns_once_every_registry_topic_exists(
    kafka: KafkaNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["wait-topics", "--bootstrap", kafka.bootstrap_servers, "--prefix", kafka.prefix])
    assert status == 0
    assert f"all {len(TOPICS.all())} registry topics exist" in capsys.readouterr().out


def test_it_names_the_missing_topics_when_time_runs_out(
    kafka: KafkaNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"partial-{uuid.uuid4().hex[:8]}."
    all_but_last = TOPICS.all()[:-1]
    create_topics(kafka.bootstrap_servers, prefix=prefix, topics=all_but_last)
    arguments = ["--bootstrap", kafka.bootstrap_servers, "--prefix", prefix, "--timeout", "2"]
    assert main(["wait-topics", *arguments]) == 1
    error = capsys.readouterr().err
    assert "1 registry topics missing" in error
    assert TOPICS.all()[-1].name_in(prefix) in error
