"""Two replicas of one department service on one PostgreSQL inbox and one Kafka consumer group.

The replicas share the action topic's partitions (one group), so each consumes only some of the
actions; the shared database is what lets either one show every action, take every outcome,
and publish each action's outcome and each event id once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from department_kit.event_claims import EventClaim
from department_kit.store import DepartmentStore
from lifecycle_schemas.catalogue import AnyAction, event_types_for
from lifecycle_schemas.codec import encode_record, kafka_key
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from lifecycle_testing.department_services import (
    PACKAGES,
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    read_topic,
)
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.postgres import LocalPostgres

pytestmark = pytest.mark.kafka

DEPARTMENT = Department.MARKETING
PARTITIONS = TOPICS.marketing_actions.partitions
CONCURRENT_POSTS = 8


def produce_to_every_partition(bootstrap: str, topic: str, actions: list[AnyAction]) -> None:
    """One action per partition, then the first one again on another partition (a redelivery
    that the other replica may consume)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for partition, action in enumerate(actions):
            key = kafka_key(action).encode()
            producer.send(topic, encode_record(action), key, partition=partition).get(15)
        producer.send(topic, encode_record(actions[0]), partition=PARTITIONS - 1).get(15)
    finally:
        producer.close()


def received(service: ServiceProcess) -> float:
    """How many new actions this replica stored (its own counter)."""
    text = httpx.get(f"{service.base_url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lifecycle_actions_received_total{")
    )


def stream_ids(service: ServiceProcess, headers: dict[str, str], count: int) -> list[str]:
    """The ids of the first ``count`` actions on a replica's live stream (SSE)."""
    ids: list[str] = []
    url = f"{service.base_url}/v1/actions/stream"
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(60.0)) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data: "):
                ids.append(json.loads(line.removeprefix("data: "))["action_id"])
                if len(ids) == count:
                    return ids
    raise AssertionError(f"the stream ended after {len(ids)} actions")


def new_event() -> dict[str, Any]:
    new_id = str(uuid.uuid4())
    example = EXAMPLES[sorted(event_types_for(DEPARTMENT))[0]]
    document: dict[str, Any] = json.loads(
        encode_record(example.model_copy(update={"id": new_id, "correlationid": new_id}))
    )
    return document


def test_two_replicas_on_one_database_show_every_action_and_publish_everything_once(
    kafka: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: Any,
    postgres_inbox: str,
) -> None:
    headers = dev_keys.headers(DEPARTMENT)
    shared = {"DEPARTMENT_INBOX_URL": postgres_inbox}
    first = start_service(DEPARTMENT, kafka.bootstrap_servers, kafka.prefix, replica="-a", **shared)
    second = start_service(
        DEPARTMENT, kafka.bootstrap_servers, kafka.prefix, replica="-b", **shared
    )
    replicas = (first, second)
    for replica in replicas:
        replica.wait_ready()

    # Given one action on each partition of the topic the two replicas share, while a live
    # stream is open on the second replica.
    actions = [fresh_action(DEPARTMENT) for _ in range(PARTITIONS)]
    with ThreadPoolExecutor(1) as reader:
        streamed = reader.submit(stream_ids, second, headers, PARTITIONS)
        produce_to_every_partition(
            kafka.bootstrap_servers, kafka.topic(actions_topic_for(DEPARTMENT)), actions
        )
        # Then the stream shows every action, those the first replica consumed too.
        assert sorted(streamed.result(60)) == sorted(a.id for a in actions)

    # Then each replica's inbox lists every action once, whichever replica consumed it.
    wanted = sorted(a.id for a in actions)

    def inbox_of(replica: ServiceProcess) -> list[str]:
        url = f"{replica.base_url}/v1/actions"
        items = httpx.get(url, params={"limit": 200}, headers=headers).json()["items"]
        return sorted(item["action_id"] for item in items)

    for replica in replicas:
        poll_until(lambda r=replica: inbox_of(r) == wanted, 30)  # type: ignore[misc]
        for action in actions:
            one = httpx.get(f"{replica.base_url}/v1/actions/{action.id}", headers=headers)
            assert one.status_code == 200
    assert poll_until(lambda: sum(received(r) for r in replicas) == PARTITIONS, 10)
    assert all(received(r) > 0 for r in replicas), "the group shares the partitions"

    # When the same outcome is posted to both replicas at once, it is published once.
    target = actions[0]
    with ThreadPoolExecutor(CONCURRENT_POSTS) as pool:
        answers = list(
            pool.map(
                lambda n: httpx.post(
                    f"{replicas[n % 2].base_url}/v1/actions/{target.id}/outcome",
                    json={"outcome": "accepted"},
                    headers=headers,
                    timeout=20,
                ),
                range(CONCURRENT_POSTS),
            )
        )
    assert [a.status_code for a in answers] == [200] * CONCURRENT_POSTS

    # And one event id posted to both replicas at once is published once; another body is 409.
    event = new_event()
    with ThreadPoolExecutor(CONCURRENT_POSTS) as pool:
        posts = list(
            pool.map(
                lambda n: httpx.post(
                    f"{replicas[n % 2].base_url}/v1/events",
                    json=event,
                    headers=headers,
                    timeout=20,
                ),
                range(CONCURRENT_POSTS),
            )
        )
    assert [p.status_code for p in posts] == [202] * CONCURRENT_POSTS
    assert len({json.dumps(p.json(), sort_keys=True) for p in posts}) == 1, "one position"
    reused = httpx.post(
        f"{second.base_url}/v1/events",
        json={**event, "time": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert reused.status_code == 409
    assert reused.json()["errors"][0]["rule"] == "id_reused"

    marker = new_event()  # published after everything above: its arrival ends the reading
    assert (
        httpx.post(f"{first.base_url}/v1/events", json=marker, headers=headers).status_code == 202
    )
    events = read_topic(
        kafka.bootstrap_servers,
        kafka.topic(events_topic_for(DEPARTMENT)),
        lambda rs: any(r.value["id"] == marker["id"] for r in rs),
    )
    assert [r.value["id"] for r in events].count(event["id"]) == 1
    assert not [r for r in events if r.value["time"].startswith("2020")], "the 409 sent nothing"
    later = actions[1]  # its outcome, posted after, ends the reading
    done = httpx.post(
        f"{second.base_url}/v1/actions/{later.id}/outcome",
        json={"outcome": "accepted"},
        headers=headers,
    )
    assert done.status_code == 200
    outcomes = read_topic(
        kafka.bootstrap_servers,
        kafka.topic(TOPICS.action_outcomes),
        lambda rs: any(r.value["data"]["action_id"] == later.id for r in rs),
    )
    assert sorted(r.value["data"]["action_id"] for r in outcomes) == sorted([target.id, later.id])
    for replica in replicas:
        shown = httpx.get(f"{replica.base_url}/v1/actions/{target.id}", headers=headers).json()
        assert shown["status"] == "accepted"


def test_ids_left_claimed_by_a_crashed_replica_are_published_once_their_claims_lapsed(
    kafka: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: Any,
    postgres_inbox: str,
) -> None:
    headers = dev_keys.headers(DEPARTMENT)
    survivor = start_service(
        DEPARTMENT,
        kafka.bootstrap_servers,
        kafka.prefix,
        replica="-a",
        DEPARTMENT_INBOX_URL=postgres_inbox,
    )
    survivor.wait_ready()
    # Given another replica claimed two ids and died before it marked them published: one
    # claim lapsed already, the other lapses in a few seconds (the rows as its claim left them).
    lapsed, held = new_event(), new_event()
    now = datetime.now(UTC)
    lapse = now + timedelta(seconds=4)
    crashed = DepartmentStore(postgres_inbox)
    try:
        for event, claimed_at, lapses_at in (
            (lapsed, now - timedelta(minutes=1), now - timedelta(seconds=1)),
            (held, now, lapse),
        ):
            with crashed.claiming(claimed_at, lapses_at) as claims:
                claim = EventClaim(event["id"], event["type"], "the crashed request's digest")
                assert claims.claim([claim], now - timedelta(days=7)) == {event["id"]}
    finally:
        crashed.close()

    # When the client retries both on the surviving replica.
    url = f"{survivor.base_url}/v1/events"
    first = httpx.post(url, json=lapsed, headers=headers, timeout=60)
    second = httpx.post(url, json=held, headers=headers, timeout=60)

    # Then both are accepted, the held one not before its claim lapsed, each published once.
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert datetime.now(UTC) >= lapse, "a live claim is never taken over"
    metrics = httpx.get(f"{survivor.base_url}/metrics").text
    [waits] = [
        line
        for line in metrics.splitlines()
        if line.startswith("lifecycle_event_claims_held_total ")
    ]
    assert float(waits.rsplit(" ", 1)[1]) > 0, "the retry found the held claim and asked again"
    marker = new_event()
    assert httpx.post(url, json=marker, headers=headers).status_code == 202
    events = read_topic(
        kafka.bootstrap_servers,
        kafka.topic(events_topic_for(DEPARTMENT)),
        lambda rs: any(r.value["id"] == marker["id"] for r in rs),
    )
    ids = [r.value["id"] for r in events]
    assert (ids.count(lapsed["id"]), ids.count(held["id"])) == (1, 1)
    # And a repeat is answered from the store with the same placement.
    again = httpx.post(url, json=held, headers=headers)
    assert again.json() == second.json()


def test_an_inbox_database_that_refuses_the_password_is_one_line_and_exit_status_1(
    postgres_server: LocalPostgres,
) -> None:
    url = postgres_server.url("postgres", password="not-the-password")
    done = subprocess.run(
        [sys.executable, "-m", f"{PACKAGES[DEPARTMENT]}.cli", "serve"],
        env={"DEPARTMENT_INBOX_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot open the inbox database" in lines[0]
    assert "password authentication failed" in lines[0]
    assert "not-the-password" not in done.stderr
