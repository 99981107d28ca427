"""Every Kafka client of the project against a broker secured as a managed Kafka is.

One broker for the module (tests/lifecycle_testing/secure_kafka.py): SASL_SSL with SCRAM users
made at format time, an mTLS listener, the StandardAuthorizer with the registry's ACLs. A
department service runs over SASL_SSL, the orchestrator over mutual TLS, lifecycle-admin
creates topics and ACLs as the administrator; a department's credentials are refused every
topic but its own, and a wrong password or an untrusted CA stops a process with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from lifecycle_schemas.catalogue import event_types_for
from lifecycle_schemas.codec import encode_record, kafka_key
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from lifecycle_testing.department_services import (
    PACKAGES,
    ServiceProcess,
    fresh_action,
    poll_until,
)
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_worker import Worker
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.secure_kafka import ADMIN, SecureBroker, started_secure_broker
from lifecycle_testing.waiting import eventually
from service_kit.api_keys import PLAIN_KEYS_FILE_NAME, write_development_keys
from service_kit.kafka_security import KafkaSecurity

pytestmark = pytest.mark.kafka

PREFIX = "secured."
MARKETING = "lifecycle-marketing"
ORCHESTRATOR = "lifecycle-orchestrator"
DEADLINE_S = 30.0
PLAYBOOK = REPOSITORY_ROOT / "services" / "orchestrator" / "src" / "orchestrator" / "playbook"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with started_secure_broker(tmp_path_factory.mktemp("secure-kafka")) as running:
        running.prepare(PREFIX)
        yield running


def topic(spec: Any) -> str:
    return str(spec.name_in(PREFIX))


def produce(
    broker: SecureBroker, security: KafkaSecurity, name: str, value: bytes
) -> KafkaError | None:
    """Produce one record; the error the broker answered (None when acknowledged)."""
    answers: list[KafkaError | None] = []
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, **security.librdkafka_config()}
    )
    producer.produce(name, value, on_delivery=lambda error, _message: answers.append(error))
    producer.flush(DEADLINE_S)
    assert answers, "no delivery report"
    return answers[0]


def first_read_error(
    bootstrap: str, security: KafkaSecurity, name: str, group: str
) -> KafkaError | None:
    """Read a topic in ``group``: the first error, or None once it is readable (a record or
    the end of a partition)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **security.librdkafka_config(),
        }
    )
    seen: list[str] = []
    try:
        consumer.subscribe([name])

        def answer() -> tuple[bool, Any]:
            """(settled, the refusal or None): readable, refused, or not yet."""
            message = consumer.poll(0.5)
            if message is None:
                return False, None
            error = message.error()
            if error is None or error.code() == KafkaError._PARTITION_EOF:
                return True, None
            if error.retriable() or error.code() == KafkaError.NOT_COORDINATOR:
                seen.append(error.str())
                return False, None  # the group coordinator is still being elected
            return True, error

        _, refusal = eventually(
            answer,
            lambda settled_and_error: settled_and_error[0],
            timeout_s=DEADLINE_S,
            interval_s=0,  # the poll itself waits
            what=f"{name} readable or refused",
            describe=lambda _: f"retriable errors: {seen}",
        )
        return refusal
    finally:
        consumer.close()


def test_a_department_writes_only_its_own_events_and_reads_only_its_own_actions(
    broker: SecureBroker,
) -> None:
    marketing = broker.sasl(MARKETING)
    group = f"{PREFIX}lifecycle.marketing-service"
    own_events = topic(events_topic_for(Department.MARKETING))
    sales_events = topic(events_topic_for(Department.SALES))

    assert produce(broker, marketing, own_events, b"{}") is None
    refused = produce(broker, marketing, sales_events, b"{}")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    refused = produce(broker, marketing, topic(actions_topic_for(Department.MARKETING)), b"{}")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    produce(broker, broker.sasl(ADMIN), topic(actions_topic_for(Department.MARKETING)), b"{}")
    own_actions = topic(actions_topic_for(Department.MARKETING))
    assert first_read_error(broker.bootstrap_servers, marketing, own_actions, group) is None
    for other in (actions_topic_for(Department.SALES), events_topic_for(Department.SALES)):
        error = first_read_error(broker.bootstrap_servers, marketing, topic(other), group)
        assert error is not None
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    error = first_read_error(broker.bootstrap_servers, marketing, own_actions, "someone-else")
    assert error is not None
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_the_orchestrator_certificate_reads_department_events_but_writes_none(
    broker: SecureBroker,
) -> None:
    orchestrator = broker.mtls(ORCHESTRATOR)
    events = topic(events_topic_for(Department.SALES))
    produce(broker, broker.sasl(ADMIN), events, b"{}")
    group = f"{PREFIX}lifecycle-orchestrator"
    assert first_read_error(broker.mtls_bootstrap_servers, orchestrator, events, group) is None
    actions = topic(actions_topic_for(Department.SALES))
    answers: dict[str, KafkaError | None] = {}
    producer = Producer(
        {"bootstrap.servers": broker.mtls_bootstrap_servers, **orchestrator.librdkafka_config()}
    )
    for name in (actions, events):
        producer.produce(
            name, b"{}", on_delivery=lambda error, m: answers.__setitem__(m.topic(), error)
        )
    producer.flush(DEADLINE_S)
    assert answers[actions] is None
    refused = answers[events]
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("keys")
    hashed = write_development_keys(directory)
    plain = json.loads((directory / PLAIN_KEYS_FILE_NAME).read_text())["keys"]
    return hashed, plain["local-marketing"]


def test_a_department_service_over_sasl_ssl_and_the_orchestrator_over_mtls_work_together(
    broker: SecureBroker,
    keys: tuple[Path, str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hashed, key = keys
    headers = {"Authorization": f"Bearer {key}"}
    service = ServiceProcess(
        Department.MARKETING,
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "LIFECYCLE_TOPIC_PREFIX": PREFIX,
            "DEPARTMENT_DATA_DIR": str(tmp_path / "marketing"),
            "LIFECYCLE_API_KEYS_FILE": str(hashed),
            **broker.environment(broker.sasl(MARKETING)),
        },
        tmp_path / "marketing.log",
    ).start()
    namespace = KafkaNamespace(broker.mtls_bootstrap_servers, PREFIX, "unused")
    worker = Worker(
        namespace,
        tmp_path / "worker",
        tmp_path / "worker.log",
        PLAYBOOK,
        environment=broker.environment(broker.mtls(ORCHESTRATOR)),
    )
    try:
        service.wait_ready()
        worker.start()
        # Given an action from the orchestrator's principal: it reaches the inbox.
        action = fresh_action(Department.MARKETING)
        producer = Producer(
            {
                "bootstrap.servers": broker.mtls_bootstrap_servers,
                **broker.mtls(ORCHESTRATOR).librdkafka_config(),
            }
        )
        producer.produce(
            topic(actions_topic_for(Department.MARKETING)),
            encode_record(action),
            kafka_key(action).encode(),
        )
        assert producer.flush(DEADLINE_S) == 0
        poll_until(
            lambda: (
                httpx.get(f"{service.base_url}/v1/actions/{action.id}", headers=headers).status_code
                == 200
            ),
            DEADLINE_S,
        )
        outcome = httpx.post(
            f"{service.base_url}/v1/actions/{action.id}/outcome",
            json={"outcome": "accepted"},
            headers=headers,
            timeout=20,
        )
        assert outcome.status_code == 200, outcome.text

        # When an event is posted, the orchestrator resolves it onto its internal topic.
        new_id = str(uuid.uuid4())
        example = EXAMPLES[sorted(event_types_for(Department.MARKETING))[0]]
        event = json.loads(
            encode_record(example.model_copy(update={"id": new_id, "correlationid": new_id}))
        )
        posted = httpx.post(
            f"{service.base_url}/v1/events", json=event, headers=headers, timeout=20
        )
        assert posted.status_code == 202, posted.text
        by_customer = topic(TOPICS.events_by_customer)
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                **broker.sasl(ADMIN).librdkafka_config(),
            }
        )
        consumer.subscribe([by_customer])
        try:

            def resolved() -> bool:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None or not message.value():
                    return False
                return bool(json.loads(message.value()).get("id") == new_id)

            eventually(
                resolved,
                timeout_s=60,
                interval_s=0,  # the poll itself waits
                what="the orchestrator resolving the event over mTLS",
            )
        finally:
            consumer.close()
    finally:
        worker.stop()
        service.stop()


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return subprocess.run(
        command,
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("mistake", ["wrong password", "untrusted CA"])
def test_refused_credentials_stop_each_command_with_one_line(
    broker: SecureBroker, mistake: str, tmp_path: Path
) -> None:
    security = (
        broker.sasl(MARKETING, password="not-the-password")
        if mistake == "wrong password"
        else broker.sasl(MARKETING).model_copy(
            update={"ssl_ca_file": broker.certificates.untrusted_ca}
        )
    )
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "LIFECYCLE_TOPIC_PREFIX": PREFIX,
        "DEPARTMENT_DATA_DIR": str(tmp_path / "data"),
        "ORCHESTRATOR_DATA_DIR": str(tmp_path / "worker"),
        **broker.environment(security),
    }
    expected = "authentication failed" if mistake == "wrong password" else "certificate"
    commands = {
        "department service": [
            sys.executable,
            "-m",
            f"{PACKAGES[Department.MARKETING]}.cli",
            "serve",
        ],
        "orchestrator": [sys.executable, "-m", "orchestrator.cli", "serve"],
        "lifecycle-admin": [
            sys.executable,
            "-m",
            "lifecycle_admin",
            "create-topics",
            "--timeout",
            "60",
        ],
    }
    # Side by side: independent processes. Naming the refusal (not "no broker answered", which
    # lifecycle-admin says only after its 60 s --timeout) shows none of them waited it out.
    with ThreadPoolExecutor(len(commands)) as pool:
        answers = pool.map(lambda command: run(command, environment), commands.values())
        results = dict(zip(commands, answers, strict=True))
    for name, done in results.items():
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1, f"{name}: {done.returncode}\n{done.stderr}"
        assert len(lines) == 1, f"{name}:\n{done.stderr}"
        assert expected in lines[0].lower() or "ssl" in lines[0].lower(), f"{name}: {lines[0]}"
        assert "not-the-password" not in done.stderr
