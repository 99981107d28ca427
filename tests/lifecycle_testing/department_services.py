"""Department services as real processes in tests (integration, e2e, chaos): start them, post
to them, read their inboxes and the topics they write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from lifecycle_schemas.catalogue import ERASE_ACTION_OF_DEPARTMENT, AnyAction, action_types_for
from lifecycle_schemas.codec import encode_record, kafka_key
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.orchestrator_io import department_event
from lifecycle_testing.processes import exit_report, free_port, start_logged
from lifecycle_testing.waiting import eventually
from service_kit.api_keys import PLAIN_KEYS_FILE_NAME, write_development_keys

PACKAGES = {
    Department.MARKETING: "marketing_service",
    Department.SALES: "sales_service",
    Department.SERVICE_DESK: "service_desk_service",
}
PORT_VARIABLES = {
    Department.MARKETING: "MARKETING_PORT",
    Department.SALES: "SALES_PORT",
    Department.SERVICE_DESK: "SERVICE_DESK_PORT",
}


@dataclass(frozen=True)
class DevKeys:
    """The local development key files, and the plain key of each department."""

    hashed_file: Path
    plain: dict[Department, str]

    def headers(self, department: Department) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.plain[department]}"}


class ServiceProcess:
    """A department service run as ``python -m <package>.cli serve`` on a free port."""

    def __init__(self, department: Department, env: dict[str, str], log_path: Path) -> None:
        self.department = department
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, PORT_VARIABLES[department]: str(self.port)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    # 90 s: a live process still importing on a loaded 2-core CI host is slow, not broken (one
    # took over 30 s at load 12); a process that exits fails the wait at once (give_up).
    def start(self, timeout_s: float = 90.0) -> ServiceProcess:
        self.process = start_logged(
            [sys.executable, "-m", f"{PACKAGES[self.department]}.cli", "serve"],
            self.env,
            self.log_path,
        )
        eventually(
            lambda: httpx.get(f"{self.base_url}/healthz", timeout=1).status_code,
            lambda status: status == 200,
            timeout_s=timeout_s,
            interval_s=0.1,
            what=f"{self.department.value}'s /healthz",
            retry_on=(httpx.HTTPError,),
            give_up=exit_report(self.process, "the service", self.log_path),
        )
        return self

    # Ready: Kafka reached and the inbox open; 30 s ran out at load 15-21 (see START_TIMEOUT_S
    # in orchestrator_worker.py).
    def wait_ready(self, timeout_s: float = 90.0) -> None:
        poll_until(
            lambda: httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200, timeout_s
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def poll_until(condition: Callable[[], Any], timeout_s: float, interval_s: float = 0.1) -> Any:
    """Call ``condition`` until it returns something truthy (HTTP errors mean "not yet")."""
    return eventually(
        condition,
        timeout_s=timeout_s,
        interval_s=interval_s,
        what=f"condition {getattr(condition, '__qualname__', condition)!r}",
        retry_on=(httpx.HTTPError, OSError),
    )


def fresh_action(
    department: Department, index: int = 0, expires_in: timedelta = timedelta(hours=2)
) -> AnyAction:
    """A new action for ``department`` (from the contracts' examples, with a fresh id and times)."""
    example: Any = EXAMPLES[sorted(action_types_for(department))[index]]
    now = datetime.now(UTC)
    new_id = str(uuid.uuid4())
    data = example.data.model_copy(
        update={
            "action_id": new_id,
            "deadline": now + expires_in / 2,
            "expires_at": now + expires_in,
        }
    )
    action: AnyAction = type(example).build(
        data,
        id=new_id,
        time=now,
        correlationid=example.correlationid,
        causationid=example.causationid,
    )
    return action


def produce(bootstrap: str, topic: str, records: list[AnyAction]) -> None:
    """Put records on a topic, keyed as the registry says, and wait for the acks."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for record in records:
            producer.send(topic, value=encode_record(record), key=kafka_key(record).encode()).get(
                15
            )
    finally:
        producer.close()


@dataclass(frozen=True)
class TopicRecord:
    key: str | None
    value: dict[str, Any]
    headers: dict[str, bytes]


def read_topic(
    bootstrap: str, topic: str, accept: Callable[[list[TopicRecord]], bool], timeout_s: float = 20.0
) -> list[TopicRecord]:
    """Every record of ``topic`` from the beginning, read until ``accept(records)`` holds."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list[TopicRecord] = []

        def poll() -> list[TopicRecord]:
            for messages in consumer.poll(timeout_ms=300).values():
                records.extend(
                    TopicRecord(
                        m.key.decode() if m.key is not None else None,
                        json.loads(m.value),
                        {k: v for k, v in m.headers},
                    )
                    for m in messages
                )
            return records

        return eventually(
            poll,
            accept,
            timeout_s=timeout_s,
            interval_s=0,  # the poll itself waits
            what=f"the expected records on {topic}",
            describe=lambda got: f"{len(got)} records, the last: {got[-3:]!r}",
        )
    finally:
        consumer.close()


def post(
    service: ServiceProcess, keys: DevKeys, short: str, customer: dict[str, str], **fields: Any
) -> None:
    record = department_event(short, customer, **fields)
    response = httpx.post(
        f"{service.base_url}/v1/events",
        content=encode_record(record),
        headers={**keys.headers(service.department), "Content-Type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 202, response.text


def inbox(service: ServiceProcess, keys: DevKeys, customer_id: str) -> list[dict[str, Any]]:
    """The customer's actions in a department's inbox (every page)."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{service.base_url}/v1/actions",
            params={"after": after, "limit": 200},
            headers=keys.headers(service.department),
            timeout=15,
        ).json()
        items.extend(i for i in page["items"] if i["customer_id"] == customer_id)
        if page["next_after"] is None:
            return items
        after = page["next_after"]


def erase_type(department: Department) -> str:
    return ERASE_ACTION_OF_DEPARTMENT[department].record_type()


def erase_actions(service: ServiceProcess, keys: DevKeys, customer_id: str) -> list[Any]:
    """The erase actions for the customer in the department's inbox (read: delivered)."""
    wanted = erase_type(service.department)
    return [a for a in inbox(service, keys, customer_id) if a["type"] == wanted]


# Fixtures, imported by the conftest.py of each department test folder.


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    directory = tmp_path_factory.mktemp("keys")
    hashed = write_development_keys(directory)
    plain = json.loads((directory / PLAIN_KEYS_FILE_NAME).read_text())["keys"]
    return DevKeys(hashed, {d: plain[f"local-{d.value}"] for d in Department})


@pytest.fixture
def start_service(tmp_path: Path, dev_keys: DevKeys) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(
        department: Department,
        bootstrap: str,
        prefix: str,
        data_dir: Path | None = None,
        replica: str = "",
        **extra: str,
    ) -> ServiceProcess:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LIFECYCLE_TOPIC_PREFIX": prefix,
            "DEPARTMENT_DATA_DIR": str(data_dir or tmp_path / department.value),
            "LIFECYCLE_API_KEYS_FILE": str(dev_keys.hashed_file),
            "DEPARTMENT_PUBLISH_TIMEOUT_S": "3",
            **extra,
        }
        log = tmp_path / f"{department.value}{replica}.log"
        service = ServiceProcess(department, env, log)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()
