"""The broker stopped for 20 s while clients post: 503 with Retry-After, never a false 202;
afterwards every accepted event is on the topic and applied, and the orchestrator's lag drains.

This module runs on a broker of its own (it stops it). Oracles: the clients' ledger of ``202``
answers against the topic read back; the orchestrator's state against the amounts sent (each
event applied once, copies of a retried event included).
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from chaos.ingest import IngestClients, customer_id_of, deal_won, event_ids_on_topic
from chaos.poison import group_lag

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS, events_topic_for
from lifecycle_testing.department_services import DevKeys, ServiceProcess
from lifecycle_testing.kafka import KafkaNamespace, LocalBroker
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.processes import poll_json
from lifecycle_testing.waiting import eventually

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
OUTAGE_S = 20.0
CUSTOMERS = 6
DEALS_PER_CUSTOMER = 8
LAG = re.compile(r"^lifecycle_consumer_lag\{([^}]*)\} (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def namespace(own_namespace: KafkaNamespace) -> KafkaNamespace:
    """The registry topics on this module's own broker (overrides the suite's namespace)."""
    return own_namespace


def consumer_lag(worker: Worker) -> dict[str, float]:
    """Every ``lifecycle_consumer_lag`` series the worker exports, by its labels."""
    text = urllib.request.urlopen(f"{worker.url}/metrics", timeout=5).read().decode()
    return {labels: float(value) for labels, value in LAG.findall(text)}


def test_a_20s_broker_outage_gives_503s_never_a_false_202_and_everything_is_applied(
    own_broker: LocalBroker,
    namespace: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: StartService,
    make_worker: Callable[..., Worker],
) -> None:
    worker = make_worker()
    sales = start_service(Department.SALES, namespace.bootstrap_servers, namespace.prefix)
    sales.wait_ready()
    deals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    events = []
    for deal in range(DEALS_PER_CUSTOMER):
        for n in range(CUSTOMERS):
            crm = f"crm-outage-{namespace.group_id[-6:]}-{n}"
            event = deal_won(crm, 100_000 * (n + 1) + 1_000 * deal, f"opp-{n}-{deal}")
            deals[crm].append(event)
            events.append(event)
    clients = IngestClients(
        f"{sales.base_url}/v1/events", dev_keys.headers(Department.SALES), events
    ).start()
    try:
        clients.wait_for(202, at_least=8, after=0.0, timeout_s=30)
        own_broker.stop()
        down_since = time.monotonic()
        clients.wait_for(503, at_least=4, after=down_since, timeout_s=OUTAGE_S)
        # The outage itself: the broker stays down for its full length while clients post.
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_since)))
        assert len(clients.accepted_ids()) < len(events), "the load ended before the outage"
        up_from = time.monotonic()
        assert own_broker.start() == namespace.bootstrap_servers  # same port, same data
        clients.finish(timeout_s=60)
    finally:
        clients.stop()

    during = [a for a in clients.answers if a.started >= down_since and a.finished <= up_from]
    assert during, "no request was answered during the outage"
    assert {a.status for a in during} == {503}, "an answer other than 503 while down"
    assert all(int(a.retry_after or 0) > 0 for a in clients.answers if a.status == 503)

    # Every 202 is on the topic (the ledger against the log).
    on_topic = event_ids_on_topic(
        namespace.bootstrap_servers, namespace.topic(events_topic_for(Department.SALES))
    )
    assert clients.accepted_ids() - set(on_topic) == set(), "an accepted event is not on the topic"

    # The orchestrator applied each event once, whatever copies the retries left on the topic.
    for crm, sent in deals.items():
        revenue = sum(e["data"]["amount"]["amount_minor"] for e in sent)
        served = poll_json(
            f"{worker.url}/v1/customers/{customer_id_of(crm)}",
            lambda body, r=revenue: body.get("revenue_to_date_minor") == r,
            60,
            headers=TEST_KEYS.headers(),
        )
        assert served["purchases"] == DEALS_PER_CUSTOMER
    # Its consumer group committed everything (the broker's view of the lag) ...
    group = f"{namespace.prefix}lifecycle-orchestrator"
    inputs = [namespace.topic(events_topic_for(Department.SALES))]
    inputs.append(namespace.topic(TOPICS.events_by_customer))
    eventually(
        lambda: group_lag(namespace.bootstrap_servers, group, inputs),
        lambda behind: behind == 0,
        timeout_s=60,
        interval_s=0.5,
        what="the orchestrator's group committing every input",
    )
    # ... and the lag it reports drains to zero too (only for the topics it consumes: table
    # changelogs are read at recovery and never committed, fix F8 in docs/reliability.md).

    def reported_lag() -> dict[str, float]:
        lag = consumer_lag(worker)
        assert not [k for k in lag if "-changelog" in k], lag
        return lag

    lag = eventually(
        reported_lag,
        lambda reported: bool(reported) and not any(reported.values()),
        timeout_s=30,
        interval_s=0.5,
        what="the worker's reported lag drained",
    )
    assert any(namespace.topic(events_topic_for(Department.SALES)) in k for k in lag), lag
