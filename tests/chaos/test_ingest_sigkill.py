"""A department service SIGKILLed after Kafka acknowledged an event and before it answered.

How the window is hit: deterministically, with the test-only fault switch
``LIFECYCLE_FAULT_PAUSE_AFTER_PRODUCE_S`` (docs/configuration.md). With it the service holds an
ingest request after the broker acknowledged the event and before it records the id and
answers; it logs that it is pausing, and the test kills it then. Killing under load many times
would hit the window only by chance (the window is a SQLite write and an HTTP answer, well
under a millisecond) and could pass without ever having tested it; here the test first proves
it is inside the window (the event is on the topic, the client has no answer).

Oracle: the client's ledger (a ``202`` is the only acceptance) against the topic read back,
and the orchestrator's state for the customer against the amounts the client sent.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import httpx
import pytest
from chaos.ingest import customer_id_of, deal_won, event_ids_on_topic

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import events_topic_for
from lifecycle_testing.department_services import DevKeys, ServiceProcess
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.processes import poll_json, wait_for_line

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
PAUSE_LINE = "fault switch: pausing after the produce was acknowledged"


def post(service: ServiceProcess, headers: dict[str, str], body: object) -> httpx.Response:
    return httpx.post(f"{service.base_url}/v1/events", json=body, headers=headers, timeout=90)


def test_a_kill_between_produce_and_answer_reports_nothing_false_and_a_retry_counts_once(
    namespace: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: StartService,
    make_worker: Callable[..., Worker],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    worker = make_worker()
    data_dir = tmp_path_factory.mktemp("sales-data")
    topic = namespace.topic(events_topic_for(Department.SALES))
    headers = dev_keys.headers(Department.SALES)
    crm = f"crm-kill-{namespace.group_id[-6:]}"
    first = deal_won(crm, 120_000, "opp-kill-1")
    second = deal_won(crm, 3_000, "opp-kill-2")

    pausing = start_service(
        Department.SALES,
        namespace.bootstrap_servers,
        namespace.prefix,
        data_dir=data_dir,
        LIFECYCLE_FAULT_PAUSE_AFTER_PRODUCE_S="60",
    )
    pausing.wait_ready()
    assert pausing.process is not None
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, pausing, headers, [first])
        wait_for_line(pausing.log_path, PAUSE_LINE, pausing.process, 30)
        pausing.process.kill()  # SIGKILL inside the produced-but-unanswered window
        pausing.process.wait(10)
        with pytest.raises(httpx.TransportError):
            pending.result(30)  # no answer at all: in particular no 202
    # Inside the window indeed: Kafka had the event, the client was told nothing.
    assert event_ids_on_topic(namespace.bootstrap_servers, topic)[first["id"]] == 1

    # The client retries the same event (same id) against the restarted service.
    restarted = start_service(
        Department.SALES, namespace.bootstrap_servers, namespace.prefix, data_dir=data_dir
    )
    restarted.wait_ready()
    retried = post(restarted, headers, [first])
    assert retried.status_code == 202, retried.text
    again = post(restarted, headers, [first])
    assert again.status_code == 202, again.text
    # A repeat of an answered id is answered from the store: not published again.
    assert again.json()["accepted"] == retried.json()["accepted"]
    # The crash cost one extra copy on the topic (the service could not know the first landed);
    # the answered repeat cost none.
    assert event_ids_on_topic(namespace.bootstrap_servers, topic)[first["id"]] == 2

    # A later deal of the same customer (same key, same partition, so applied after both
    # copies): once it shows, the copies were applied too, and counted once.
    assert post(restarted, headers, [second]).status_code == 202
    expected = first["data"]["amount"]["amount_minor"] + second["data"]["amount"]["amount_minor"]
    served = poll_json(
        f"{worker.url}/v1/customers/{customer_id_of(crm)}",
        lambda body: body.get("purchases", 0) >= 2,
        60,
        headers=TEST_KEYS.headers(),
    )
    assert (served["purchases"], served["revenue_to_date_minor"]) == (2, expected)
