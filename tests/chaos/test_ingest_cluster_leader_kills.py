"""A department service ingesting on a 3-broker cluster while the partition leader is killed.

The cluster has the production durability settings (replication 3, ``min.insync.replicas`` 2,
unclean leader election off; ``lifecycle-admin create-topics`` sets them on 3+ brokers). The
leader of the partition the events go to is SIGKILLed twice while clients post; the first
is restarted and let back in sync before the second kill. The second killed leader stays
down while one more broker is killed: two brokers down at once.

Oracle: the clients' ledger of ``202`` answers against the topic read back at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from chaos.ingest import IngestClients, deal_won, event_ids_on_topic

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import events_topic_for
from lifecycle_testing.department_services import DevKeys, ServiceProcess
from lifecycle_testing.kafka_cluster import LocalCluster, started_cluster

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
LEADER_KILLS = 2
REPLICAS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with started_cluster(tmp_path_factory.mktemp("cluster"), nodes=REPLICAS) as started:
        yield started


def test_leader_kills_lose_no_accepted_event_and_two_brokers_down_answer_503(
    cluster: LocalCluster, dev_keys: DevKeys, start_service: StartService
) -> None:
    prefix = f"leader-{uuid.uuid4().hex[:8]}."
    created = create_topics(cluster.bootstrap_servers, prefix=prefix)
    assert {topic.replication_factor for topic in created} == {REPLICAS}
    topic = events_topic_for(Department.SALES).name_in(prefix)
    sales = start_service(Department.SALES, cluster.bootstrap_servers, prefix)
    sales.wait_ready(60)
    url = f"{sales.base_url}/v1/events"
    headers = dev_keys.headers(Department.SALES)
    # One customer: every event is keyed alike, so all go to the partition whose leader dies.
    crm = f"crm-leader-{prefix[7:15]}"
    first = httpx.post(url, json=[deal_won(crm, 1_000, "opp-0")], headers=headers, timeout=30)
    assert first.status_code == 202, first.text
    partition = first.json()["accepted"][0]["partition"]
    ledger = {first.json()["accepted"][0]["id"]}

    events = [deal_won(crm, 1_000 + n, f"opp-{n}") for n in range(1, 3000)]
    clients = IngestClients(url, headers, events, threads=2, retry_after_cap_s=1.0, pace_s=0.05)
    clients.start()
    try:
        for kill in range(1, LEADER_KILLS + 1):
            cluster.wait_in_sync(topic, partition, REPLICAS, 60)
            leader = cluster.partition_state(topic, partition)[0]
            since = time.monotonic()
            cluster.kill_node(leader)
            # Two of three in sync: a new leader is elected and ingest goes on.
            clients.wait_for(202, at_least=5, after=since, timeout_s=45)
            assert cluster.partition_state(topic, partition)[0] != leader
            if kill < LEADER_KILLS:
                cluster.start_nodes(leader)
    finally:
        clients.stop()
    ledger |= clients.accepted_ids()
    assert clients.count(503) > 0, "no kill was felt: the test did not hit an election"

    # The last leader is still down; with one more broker down only one is left, below
    # min.insync.replicas: nothing may be accepted.
    survivor = cluster.partition_state(topic, partition)[0]
    second = next(node for node in range(1, REPLICAS + 1) if node not in (leader, survivor))
    try:
        cluster.kill_node(second)
        for n in range(2):
            refused = httpx.post(
                url, json=[deal_won(crm, 9_000 + n, f"opp-down-{n}")], headers=headers, timeout=30
            )
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
    finally:
        cluster.start_nodes(leader, second)
    cluster.wait_in_sync(topic, partition, REPLICAS, 60)

    # Every accepted event is on the topic.
    on_topic = event_ids_on_topic(cluster.bootstrap_servers, topic, timeout_s=60)
    lost = ledger - set(on_topic)
    assert lost == set(), f"{len(lost)} of {len(ledger)} accepted events lost"
