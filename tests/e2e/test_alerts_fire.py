"""The shipped alert rules, evaluated by the real Prometheus server, fire when provoked.

A real marketing service and a real orchestrator worker run against the session's broker;
Prometheus (Debian's binary) scrapes both every second and evaluates a copy of
``deploy/prometheus/rules`` in which only the ``for:`` durations are shortened (rewritten from
the loaded YAML; the expressions are the shipped ones). Then the conditions are provoked and the
server's ``/api/v1/alerts`` is polled until each alert is firing:

* ``ActionDeadlinesMissed``: a hot lead posted to marketing's HTTP API gets a sales hand-off
  whose (test) deadline of 3 s nobody meets;
* ``DeadLetterTopicGrowing``: a poison record on marketing's event topic is dead-lettered;
* ``ConsumerLagGrowing``: a burst of events written straight to marketing's topic, faster than
  the worker applies them;
* ``ServiceDown``: the orchestrator is stopped, its scrape fails;
* ``KafkaBrokerDown`` (a broker of the test's own, which it stops): no service reaches Kafka.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from lifecycle_admin.kafka_admin import create_topics
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.department_events import hot_lead, lead_scored
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    dev_keys,
    start_service,
)
from lifecycle_testing.kafka import KafkaNamespace, LocalBroker, started_broker
from lifecycle_testing.orchestrator_worker import Worker
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.playbooks import fast_handoff_playbook
from lifecycle_testing.processes import free_port, get_json, poll_json
from lifecycle_testing.waiting import eventually

__all__ = ["dev_keys", "start_service"]  # fixtures used below
pytestmark = pytest.mark.kafka

RULES_DIR = REPOSITORY_ROOT / "deploy" / "prometheus" / "rules"
ALERT_TIMEOUT_S = 30.0
# Several times what one worker applies in the gauge's 5 s refresh (docs/benchmarks.md).
LAG_BURST_EVENTS = 8_000
SHORT_FOR = "1s"


def shortened_rules(target: Path) -> Path:
    """The shipped rule files with every ``for:`` cut to one second (expressions unchanged)."""
    target.mkdir(parents=True)
    for source in sorted(RULES_DIR.glob("*.yml")):
        document = yaml.safe_load(source.read_text())
        for group in document["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = SHORT_FOR
        (target / source.name).write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], str]]:
    """Start the real Prometheus scraping ``{job: host:port}``; its base URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(targets: dict[str, str]) -> str:
        port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(shortened_rules(tmp_path / "rules") / "*.yml")],
            "scrape_configs": [
                {
                    "job_name": job,
                    "scrape_timeout": "900ms",
                    "static_configs": [{"targets": [target], "labels": {"service": job}}],
                }
                for job, target in targets.items()
            ],
        }
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        log = (tmp_path / "prometheus.log").open("wb")
        binary = shutil.which("prometheus")
        assert binary, "prometheus is not on PATH (make setup installs Debian's package)"
        started.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}"
        poll_json(f"{url}/api/v1/status/buildinfo", lambda body: body["status"] == "success", 30)
        return url

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def firing(prometheus_url: str, alertname: str) -> list[dict[str, str]]:
    """The label sets of ``alertname``'s firing alerts, as the server reports them now."""
    alerts = get_json(f"{prometheus_url}/api/v1/alerts")["data"]["alerts"]
    return [
        a["labels"]
        for a in alerts
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    ]


def wait_firing(
    prometheus_url: str, alertname: str, evidence: str, matches: Callable[[dict[str, str]], bool]
) -> dict[str, str]:
    """Poll the server's alerts until one of ``alertname`` matching ``matches`` fires.

    On timeout the failure shows the series of ``evidence`` (a PromQL query) as the server has it.
    """

    def with_the_evidence(found: list[dict[str, str]]) -> str:
        query = urllib.parse.urlencode({"query": evidence})
        series = get_json(f"{prometheus_url}/api/v1/query?{query}")["data"]["result"]
        return f"{found}; {evidence}: {series}"

    found = eventually(
        lambda: [labels for labels in firing(prometheus_url, alertname) if matches(labels)],
        timeout_s=ALERT_TIMEOUT_S,
        interval_s=0.5,
        what=f"{alertname} firing",
        describe=with_the_evidence,
    )
    return found[0]


def any_labels(_: dict[str, str]) -> bool:
    return True


def burst(kafka: KafkaNamespace, events: int) -> None:
    """``events`` lukewarm leads straight onto marketing's topic, as fast as Kafka takes them."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=20)
    try:
        for n in range(events):
            contact = f"burst-{n}-{uuid.uuid4().hex[:6]}"
            value = json.dumps(lead_scored(contact, 20)).encode()
            key = f"marketing_contact_id:{contact}".encode()
            producer.send(kafka.topic(TOPICS.marketing_events), key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def test_alert_rules_fire_on_the_real_prometheus_server(
    kafka: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: Callable[..., ServiceProcess],
    prometheus: Callable[[dict[str, str]], str],
    tmp_path: Path,
) -> None:
    marketing = start_service(Department.MARKETING, kafka.bootstrap_servers, kafka.prefix)
    worker = Worker(
        kafka,
        tmp_path / "worker",
        tmp_path / "worker.log",
        fast_handoff_playbook(tmp_path / "playbook"),
    )
    try:
        worker.start()
        marketing.wait_ready()
        url = prometheus(
            {
                "orchestrator": f"127.0.0.1:{worker.port}",
                "marketing": f"127.0.0.1:{marketing.port}",
            }
        )
        poll_json(
            f"{url}/api/v1/query?query=up",
            lambda body: sorted(float(r["value"][1]) for r in body["data"]["result"]) == [1, 1],
            ALERT_TIMEOUT_S,
        )
        assert firing(url, "ServiceDown") == []

        # A hot lead through marketing's door: the sales hand-off's 3 s deadline passes.
        posted = httpx.post(
            f"{marketing.base_url}/v1/events",
            json=[hot_lead(f"hs-{uuid.uuid4().hex[:8]}")],
            headers=dev_keys.headers(Department.MARKETING),
            timeout=20,
        )
        assert posted.status_code == 202, posted.text
        missed = wait_firing(
            url, "ActionDeadlinesMissed", "lifecycle_handoff_deadlines_missed_total", any_labels
        )
        assert (missed["department"], missed["play"]) == ("sales", "hot-lead")

        # A poison record on marketing's event topic: the orchestrator dead-letters it.
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        try:
            producer.send(
                kafka.topic(TOPICS.marketing_events),
                key=b"marketing_contact_id:poison",
                value=b'{"not": "a record"',
            ).get(timeout=10)
        finally:
            producer.close()
        dead = wait_firing(
            url, "DeadLetterTopicGrowing", "lifecycle_dead_letter_records_total", any_labels
        )
        assert dead["service"] == "orchestrator"
        assert dead["topic"] == kafka.topic(TOPICS.marketing_events)

        # A backlog faster than the worker applies it: its reported lag rises past 100.
        burst(kafka, LAG_BURST_EVENTS)
        lagging = wait_firing(
            url, "ConsumerLagGrowing", "sum by (service, topic) (lifecycle_consumer_lag)",
            lambda labels: labels["service"] == "orchestrator",
        )  # fmt: skip
        assert lagging["topic"] == kafka.topic(TOPICS.marketing_events)

        # The orchestrator stops: its scrape fails and only its target is reported down.
        worker.stop()
        down = wait_firing(url, "ServiceDown", "up", lambda labels: labels["job"] == "orchestrator")
        assert down["severity"] == "critical"
        assert [labels["job"] for labels in firing(url, "ServiceDown")] == ["orchestrator"]
    finally:
        worker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own: the test stops it (the session's broker stays up)."""
    with started_broker(tmp_path / "own-kafka") as broker:
        yield broker


def test_kafka_broker_down_fires_when_no_service_reaches_kafka(
    own_broker: LocalBroker,
    dev_keys: DevKeys,
    start_service: Callable[..., ServiceProcess],
    prometheus: Callable[[dict[str, str]], str],
) -> None:
    prefix = f"alerts-{uuid.uuid4().hex[:8]}."
    create_topics(own_broker.bootstrap_servers, prefix=prefix)
    marketing = start_service(Department.MARKETING, own_broker.bootstrap_servers, prefix)
    marketing.wait_ready()
    url = prometheus({"marketing": f"127.0.0.1:{marketing.port}"})
    reachable = "max(lifecycle_kafka_reachable)"
    poll_json(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': reachable})}",
        lambda body: [float(r["value"][1]) for r in body["data"]["result"]] == [1.0],
        ALERT_TIMEOUT_S,
    )
    assert firing(url, "KafkaBrokerDown") == []

    own_broker.stop()
    down = wait_firing(url, "KafkaBrokerDown", reachable, any_labels)
    assert down["severity"] == "critical"
