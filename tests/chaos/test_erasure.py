"""Right to erasure end to end: real services, a real worker, compaction forced on a real broker.

A customer with canary personal data (e-mail, phone, given name) comes in through the sales and
marketing services; the orchestrator links them, sends actions to the departments and publishes
the profile. Then sales posts an erasure request. Afterwards no API hands out the customer's
personal data (orchestrator lookups, timeline, decisions, dashboard data; department inboxes
keep only the erase action), and, once the log cleaner has compacted the profile topic and the
orchestrator's table changelogs, a fresh consumer finds no canary in any key or value there.

Compaction is forced, not waited for: the test gives those topics aggressive settings (segments
roll after a second, any dirt makes a log cleanable, tombstones expire after a second) and keeps
rolling segments by writing tombstones of throw-away keys; the test broker runs its cleaner every
second (``log.cleaner.backoff.ms=1000`` in ``deploy/local/kafka``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    erase_type,
    inbox,
    poll_until,
    post,
)
from lifecycle_testing.kafka import KafkaNamespace, read_whole_topic
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.playbooks import fast_handoff_playbook_dir
from orchestrator.core.identity import new_customer_id

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]

# Everyone treated (no control group), so the customer has actions in the inboxes to purge.
playbook_dir = fast_handoff_playbook_dir

TOKEN = uuid.uuid4().hex[:8]
CANARY_EMAIL = f"erase.me.{TOKEN}@example.com"
CANARY_PHONE = f"+491555{int(TOKEN, 16) % 10**7:07d}"
CANARY_NAME = f"Erasmina{TOKEN}"
CANARIES = (CANARY_EMAIL, CANARY_PHONE, CANARY_NAME)
MARKETING_ID = f"hs-erase-{TOKEN}"
# What each department sent about the customer below: its erase action must name exactly this.
OWN_IDENTIFIERS = {
    Department.SALES: {
        "crm_account_id": f"crm-erase-{TOKEN}",
        "email": CANARY_EMAIL,
        "phone": CANARY_PHONE,
    },
    Department.MARKETING: {"marketing_contact_id": MARKETING_ID, "email": CANARY_EMAIL},
    Department.SERVICE_DESK: {},
}
AGGRESSIVE_COMPACTION = {
    "cleanup.policy": "compact",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "1000",
    "min.compaction.lag.ms": "0",
}
COMPACTION_DEADLINE_S = 90.0


def compacted_topics(namespace: KafkaNamespace) -> list[str]:
    """The profile topic and the orchestrator's table changelogs (keys and values hold PII)."""
    return [
        namespace.topic(TOPICS.customer_profiles),
        *(
            f"{namespace.prefix}lifecycle-orchestrator-{table}-changelog"
            for table in ("customers", "identities")
        ),
    ]


def force_prompt_compaction(namespace: KafkaNamespace) -> None:
    """Give the compacted topics settings under which the cleaner compacts within seconds."""
    admin = KafkaAdminClient(bootstrap_servers=namespace.bootstrap_servers)
    try:
        topics = compacted_topics(namespace)
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, topic, configs=AGGRESSIVE_COMPACTION)
            for topic in topics
        ]
        # Incremental: the registry's other settings stay. Asked again until the broker knows
        # every topic (just created by the fixture).
        poll_until(
            lambda: (
                admin.alter_configs(resources, raise_on_unknown=False, incremental=True)
                == {"topic": dict.fromkeys(topics, "OK")}
            ),
            30,
            interval_s=0.5,
        )
    finally:
        admin.close()


def holding_personal_data(
    records: list[tuple[bytes | None, bytes | None]],
) -> list[tuple[bytes | None, bytes | None]]:
    return [
        (key, value)
        for key, value in records
        if any(c.encode() in (key or b"") + b"|" + (value or b"") for c in CANARIES)
    ]


def roll_segments(producer: KafkaProducer, bootstrap: str, topics: list[str]) -> None:
    """A tombstone of a throw-away key on every partition: closes segments older than 1 s.

    The cleaner never touches a log's active segment, so the erasure's tombstone is only
    compacted once a later record rolls the segment it sits in.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        for topic in topics:
            for partition in consumer.partitions_for_topic(topic) or ():
                key = f"compaction-roll-{uuid.uuid4().hex}".encode()
                producer.send(topic, key=key, value=None, partition=partition)
        producer.flush(15)
    finally:
        consumer.close()


def erase_received(service: ServiceProcess) -> bool:
    """Whether the department service has stored an erase action (its metrics say so; reading
    the inbox would deliver it)."""
    wanted = erase_type(service.department)
    metrics = httpx.get(f"{service.base_url}/metrics", timeout=15).text
    return any(
        line.startswith("lifecycle_actions_received_total") and wanted in line
        and not line.rstrip().endswith(" 0.0")
        for line in metrics.splitlines()
    )  # fmt: skip


def latest_values(bootstrap: str, topic: str) -> dict[bytes | None, bytes | None]:
    """The last value of every key on the topic now (None: a tombstone)."""
    return dict(read_whole_topic(bootstrap, topic))


def test_an_erased_customer_is_gone_from_every_api_and_from_compacted_topics(
    namespace: KafkaNamespace,
    make_worker: Callable[..., Worker],
    dev_keys: DevKeys,
    start_service: StartService,
) -> None:
    worker = make_worker()  # creates its table changelogs
    force_prompt_compaction(namespace)
    services = {
        d: start_service(d, namespace.bootstrap_servers, namespace.prefix) for d in Department
    }
    for service in services.values():
        service.wait_ready(timeout_s=90)  # three services join their groups; slow when loaded
    crm = f"crm-erase-{TOKEN}"
    customer_id = new_customer_id(f"crm_account_id:{crm}")

    # Given a customer known to two departments, with personal data in the golden record.
    sales, marketing = services[Department.SALES], services[Department.MARKETING]
    post(
        sales,
        dev_keys,
        "sales.deal.won",
        {"crm_account_id": crm, "email": CANARY_EMAIL, "phone": CANARY_PHONE},
    )
    post(
        marketing,
        dev_keys,
        "marketing.contact.captured",
        {"marketing_contact_id": MARKETING_ID, "email": CANARY_EMAIL},
        profile={"given_name": CANARY_NAME},
    )
    customer_url = f"{worker.url}/v1/customers/{customer_id}"
    poll_until(
        lambda: (
            "given_name"
            in httpx.get(customer_url, headers=TEST_KEYS.headers()).json().get("attributes", {})
        ),
        60,
    )
    topics = compacted_topics(namespace)
    profile_topic, customers, identities = topics
    assert holding_personal_data(read_whole_topic(namespace.bootstrap_servers, profile_topic))
    before: dict[Department, set[str]] = {}
    for department in (Department.MARKETING, Department.SERVICE_DESK):
        poll_until(partial(inbox, services[department], dev_keys, customer_id), 30)
        before[department] = {
            a["action_id"] for a in inbox(services[department], dev_keys, customer_id)
        }

    # When sales asks for the customer's erasure.
    post(sales, dev_keys, "sales.erasure.requested", {"crm_account_id": crm})

    # Then each department's erase action arrives; its earlier actions stay in the inbox until
    # the erase action has been delivered (the department reads its inbox), then go.
    for department, service in services.items():
        poll_until(partial(erase_received, service), 60)
        headers = dev_keys.headers(department)
        for action_id in before.get(department, ()):
            kept = httpx.get(f"{service.base_url}/v1/actions/{action_id}", headers=headers)
            assert kept.status_code == 200, kept.text
        inbox(service, dev_keys, customer_id)  # this read delivers the erase action
        left = inbox(service, dev_keys, customer_id)
        assert {a["type"] for a in left} == {erase_type(department)}, left
        # It names every identifier this department knew the customer by, and no other's.
        [named] = [a["record"]["data"]["customer"] for a in left]
        assert named == {"customer_id": customer_id, **OWN_IDENTIFIERS[department]}, named
        for action_id in before.get(department, ()):
            gone = httpx.get(f"{service.base_url}/v1/actions/{action_id}", headers=headers)
            assert gone.status_code == 404, gone.text

    # The orchestrator answers 404 for the customer and every identifier it ever had, on every
    # customer route.
    keys = [customer_id, f"customer_id:{customer_id}", crm, f"crm_account_id:{crm}",
            f"marketing_contact_id:{MARKETING_ID}", MARKETING_ID, CANARY_EMAIL,
            f"email:{CANARY_EMAIL}", CANARY_PHONE, f"phone:{CANARY_PHONE}"]  # fmt: skip

    def not_found(url: str) -> bool:
        return httpx.get(url, headers=TEST_KEYS.headers(), timeout=15).status_code == 404

    for key in keys:
        for suffix in ("", "/timeline", "/decisions"):
            url = f"{worker.url}/v1/customers/{quote(key, safe='')}{suffix}"
            poll_until(partial(not_found, url), 30)
    for path in (
        "/v1/dashboard/customers",
        "/v1/dashboard/funnel",
        "/v1/dashboard/flow",
        "/v1/reports/proof-of-value",
        "/v1/segments",
    ):
        body = httpx.get(f"{worker.url}{path}", timeout=15, headers=TEST_KEYS.headers()).text
        assert not any(c in body for c in CANARIES), path
        assert customer_id not in body, path

    # The customers table, the profile topic and the identity entries carry tombstones.
    latest = {t: latest_values(namespace.bootstrap_servers, t) for t in topics}
    assert latest[customers][customer_id.encode()] is None
    assert latest[profile_topic][customer_id.encode()] is None
    for identifier in (f"crm_account_id:{crm}", f"marketing_contact_id:{MARKETING_ID}",
                       f"email:{CANARY_EMAIL}", f"phone:{CANARY_PHONE}"):  # fmt: skip
        assert latest[identities].get(identifier.encode(), b"never written") is None, identifier

    # And after compaction no fresh consumer of the compacted topics finds personal data.
    producer = KafkaProducer(bootstrap_servers=namespace.bootstrap_servers)
    leftovers: dict[str, list[Any]] = {}

    def compacted() -> bool:
        roll_segments(producer, namespace.bootstrap_servers, topics)
        snapshots = {t: read_whole_topic(namespace.bootstrap_servers, t) for t in topics}
        leftovers.clear()
        leftovers["profile topic"] = holding_personal_data(snapshots[profile_topic])
        # The profile's older values must be gone too, personal data or not (tombstone only).
        leftovers["profile values"] = [
            v for k, v in snapshots[profile_topic] if k == customer_id.encode() and v is not None
        ]
        # Identity entries are keyed by the e-mail and phone: their tombstones must expire too.
        leftovers["identities changelog"] = holding_personal_data(snapshots[identities])
        # The whole stored value: state and outbox (E1 in docs/reliability.md, fixed).
        leftovers["customers changelog value"] = holding_personal_data(
            [
                (key, value)
                for key, value in snapshots[customers]
                if value is not None and key == customer_id.encode()
            ]
        )
        return not any(leftovers.values())

    try:
        poll_until(compacted, COMPACTION_DEADLINE_S, interval_s=1.0)
    except AssertionError:
        raise AssertionError(f"personal data still on compacted topics: {leftovers}") from None
    finally:
        producer.close()
