"""Crypto-shredding end to end: real department services and a real worker with the setting on.

Two customers come in through the sales and marketing services with ``LIFECYCLE_SHREDDING`` on:
a canary one (e-mail, phone, a given name, free text in a note) and a bystander. The normal flow
works sealed (the orchestrator builds both customers and sends actions), and no department event
topic or events-by-customer holds a canary in plain text even before the erasure. After sales
asks for the canary's erasure, reading the keys topic to its end finds no live key for the
canary's subjects, so none of the canary's sealed records can be opened any more, while the
bystander's records still open and the bystander is still served by the API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from functools import partial

import httpx
import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_schemas.shredding import (
    KeyIndex,
    encode_subject_key,
    is_sealed,
    kid_of_key_record,
    new_subject_key,
    seal,
    sealed_key_record,
    subject_key_id,
    unseal,
)
from lifecycle_schemas.topics import TOPICS, events_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    erase_actions,
    inbox,
    poll_until,
    post,
)
from lifecycle_testing.kafka import KafkaNamespace, TopicRecord, read_topic, read_whole_topic
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.playbooks import fast_handoff_playbook_dir
from lifecycle_testing.waiting import eventually_async
from orchestrator.core.identity import new_customer_id
from orchestrator.core.messages import ForgetIdentifiers
from orchestrator.core.state import CustomerState
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.shredding import Shredder, TopicKeyRing

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
Records = list[TopicRecord]

# Everyone treated (no control group): the canary's id is random, and one run in ten it was held
# out, so marketing's inbox stayed empty.
playbook_dir = fast_handoff_playbook_dir

TOKEN = uuid.uuid4().hex[:8]
SECRET = f"shredding-test-secret-{TOKEN}"
SHREDDING = {"LIFECYCLE_SHREDDING": "true", "LIFECYCLE_SHREDDING_SECRET": SECRET}
CANARY_CRM = f"crm-shred-{TOKEN}"
CANARY_MKT = f"hs-shred-{TOKEN}"
CANARY_EMAIL = f"shred.me.{TOKEN}@example.com"
CANARY_PHONE = f"+491556{int(TOKEN, 16) % 10**7:07d}"
CANARY_NAME = f"Shredmina{TOKEN}"
CANARY_NOTE = f"prefers calls after six, ref {TOKEN}"
CANARIES = (CANARY_CRM, CANARY_MKT, CANARY_EMAIL, CANARY_PHONE, CANARY_NAME, CANARY_NOTE)
CANARY_SUBJECTS = (f"crm_account_id:{CANARY_CRM}", f"marketing_contact_id:{CANARY_MKT}")
BYSTANDER_CRM = f"crm-keep-{TOKEN}"
BYSTANDER_EMAIL = f"keep.me.{TOKEN}@example.com"


def topics_of_events(namespace: KafkaNamespace) -> list[str]:
    """Every topic that carries department events: the three department topics, by customer."""
    return [
        *(namespace.topic(events_topic_for(d)) for d in Department),
        namespace.topic(TOPICS.events_by_customer),
    ]


def key_ring_now(namespace: KafkaNamespace) -> KeyIndex:
    """The live keys, as a fresh reader of the keys topic finds them at its end."""
    index = KeyIndex()
    for key, value in read_whole_topic(
        namespace.bootstrap_servers, namespace.topic(TOPICS.subject_keys)
    ):
        if key is not None:
            index.apply(key.decode(), value)
    return index


def in_plain(records: Records) -> list[tuple[bytes | None, bytes | None]]:
    """The records holding a canary in plain text, in the key or the value."""
    return [
        (key, value)
        for _, key, value in records
        if any(c.encode() in (key or b"") + b"|" + (value or b"") for c in CANARIES)
    ]


def test_an_erased_customers_sealed_events_can_no_longer_be_read(
    namespace: KafkaNamespace,
    make_worker: Callable[..., Worker],
    dev_keys: DevKeys,
    start_service: StartService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, setting in SHREDDING.items():
        monkeypatch.setenv(name, setting)  # the worker process inherits the environment
    worker = make_worker()
    sales, marketing = (
        start_service(d, namespace.bootstrap_servers, namespace.prefix, **SHREDDING)
        for d in (Department.SALES, Department.MARKETING)
    )
    for service in (sales, marketing):
        service.wait_ready()
    canary_id = new_customer_id(f"crm_account_id:{CANARY_CRM}")
    bystander_id = new_customer_id(f"crm_account_id:{BYSTANDER_CRM}")
    canary_url = f"{worker.url}/v1/customers/{canary_id}"
    bystander_url = f"{worker.url}/v1/customers/{bystander_id}"

    # Given two customers posted through the department services, with the setting on.
    canary = {"crm_account_id": CANARY_CRM, "email": CANARY_EMAIL, "phone": CANARY_PHONE}
    post(sales, dev_keys, "sales.deal.won", canary)
    post(sales, dev_keys, "sales.lead.qualified", canary, notes=CANARY_NOTE)
    post(
        sales,
        dev_keys,
        "sales.deal.won",
        {"crm_account_id": BYSTANDER_CRM, "email": BYSTANDER_EMAIL},
    )
    # Once the sales side is resolved, so that marketing's event links to it (no merge).
    poll_until(lambda: httpx.get(canary_url, headers=TEST_KEYS.headers()).status_code == 200, 60)
    post(
        marketing,
        dev_keys,
        "marketing.contact.captured",
        {"marketing_contact_id": CANARY_MKT, "email": CANARY_EMAIL},
        profile={"given_name": CANARY_NAME},
    )

    # The normal flow works sealed: both customers are built, actions reach the departments.
    poll_until(
        lambda: (
            "given_name"
            in httpx.get(canary_url, headers=TEST_KEYS.headers()).json().get("attributes", {})
        ),
        60,
    )
    poll_until(lambda: httpx.get(bystander_url, headers=TEST_KEYS.headers()).status_code == 200, 60)
    poll_until(partial(inbox, marketing, dev_keys, canary_id), 30)
    assert (
        httpx.get(
            f"{worker.url}/v1/customers/email:{CANARY_EMAIL}", headers=TEST_KEYS.headers()
        ).status_code
        == 200
    )

    # Every department event is sealed, keyed by its subject's pseudonym on the plain subject's
    # partition, and opens with a key from the keys topic; no canary is readable anywhere.
    before = {t: read_topic(namespace.bootstrap_servers, t) for t in topics_of_events(namespace)}
    ring = key_ring_now(namespace)
    canary_kids = {subject_key_id(SECRET.encode(), s) for s in CANARY_SUBJECTS}
    canary_sealed: list[bytes] = []
    bystander_sealed: list[bytes] = []
    for topic, records in before.items():
        assert not in_plain(records), topic
        for partition, key, value in records:
            assert value is not None, topic
            assert is_sealed(value), (topic, value)
            record_key = sealed_key_record(value)
            key_bytes = ring.get(record_key)
            assert key_bytes is not None, record_key
            event = json.loads(unseal(value, key_bytes))
            if topic != namespace.topic(TOPICS.events_by_customer):
                assert key == kid_of_key_record(record_key).encode()
                assert key == subject_key_id(SECRET.encode(), event["subject"]).encode()
                hashed = murmur2(event["subject"].encode()) & 0x7FFFFFFF
                assert partition == hashed % TOPICS.sales_events.partitions
            if kid_of_key_record(record_key) in canary_kids:
                canary_sealed.append(value)
            elif BYSTANDER_CRM in event["subject"]:
                bystander_sealed.append(value)
    assert canary_sealed
    assert bystander_sealed

    # When sales asks for the canary's erasure.
    post(sales, dev_keys, "sales.erasure.requested", {"crm_account_id": CANARY_CRM})
    for service in (sales, marketing):
        poll_until(partial(erase_actions, service, dev_keys, canary_id), 60)

    # Then no live key is left for the canary's subjects: none of its sealed records opens.
    def shredded() -> bool:
        return not key_ring_now(namespace).key_records_of(canary_kids)

    poll_until(shredded, 30)
    ring = key_ring_now(namespace)
    assert all(ring.get(sealed_key_record(sealed)) is None for sealed in canary_sealed)
    for topic in topics_of_events(namespace):
        assert not in_plain(read_topic(namespace.bootstrap_servers, topic)), topic

    # And the bystander is untouched: its records still open, the API still serves it.
    for sealed in bystander_sealed:
        key_bytes = ring.get(sealed_key_record(sealed))
        assert key_bytes is not None
        assert BYSTANDER_CRM in json.loads(unseal(sealed, key_bytes))["subject"]
    assert httpx.get(bystander_url, headers=TEST_KEYS.headers()).status_code == 200
    assert httpx.get(canary_url, headers=TEST_KEYS.headers()).status_code == 404
    # The erase action names what marketing knew the canary by (its contact id, the e-mail it
    # sent), and nothing else of the canary: no phone (sales sent it), no name, no note.
    [erase] = inbox(marketing, dev_keys, canary_id)
    assert erase["record"]["data"]["customer"] == {
        "customer_id": canary_id,
        "marketing_contact_id": CANARY_MKT,
        "email": CANARY_EMAIL,
    }
    left = json.dumps(erase)
    assert not any(c in left for c in (CANARY_PHONE, CANARY_NAME, CANARY_NOTE))


def test_the_orchestrators_key_ring_waits_for_new_keys_and_forgets_shredded_ones(
    namespace: KafkaNamespace,
) -> None:
    """The ring against the real keys topic: a key written just before the event is found (the
    miss waits for the topic's end), an erasure's tombstones make the event unreadable."""
    topic = namespace.topic(TOPICS.subject_keys)
    secret = SECRET.encode()
    plain = encode_record(EXAMPLES["com.customerlifecycle.sales.deal.won.v1"])
    erased, kept = f"crm_account_id:ring-gone-{TOKEN}", f"crm_account_id:ring-kept-{TOKEN}"
    # Two writers made a key for the erased subject; one for the kept subject.
    keys = [
        new_subject_key(subject_key_id(secret, subject), writer)
        for subject, writer in ((erased, "sales"), (erased, "marketing"), (kept, "sales"))
    ]
    producer = KafkaProducer(bootstrap_servers=namespace.bootstrap_servers, acks="all")
    metrics = OrchestratorMetrics()

    def shredded_count() -> float:
        value = metrics.registry.get_sample_value(
            "lifecycle_shredded_records_total", {"topic": "test"}
        )
        return value or 0.0

    async def scenario() -> None:
        shredder = Shredder(TopicKeyRing(namespace.bootstrap_servers, topic), secret, metrics)
        try:
            for key in keys:
                producer.send(topic, key=key.record_key.encode(), value=encode_subject_key(key))
            producer.flush(15)
            # Just written, not read yet: the miss catches up to the end offsets first.
            sealed = [seal(plain, key) for key in keys]
            assert [await shredder.open(s, "test") for s in sealed] == [plain] * 3
            assert await shredder.open(plain, "test") == plain  # not sealed: unchanged

            # The erasure tombstones both keys of the erased subject, and only those.
            state = CustomerState.new(f"cus-ring-{TOKEN}")
            tombstones = await shredder.erasure_tombstones(state, [ForgetIdentifiers((erased,))])
            assert sorted(r.key for r in tombstones) == sorted(k.record_key for k in keys[:2])
            assert all(r.value is None and r.topic == topic for r in tombstones)
            for record in tombstones:
                producer.send(topic, key=record.key.encode(), value=None)
            producer.flush(15)

            async def opened_after_catching_up() -> bytes | None:
                await shredder.ring.catch_up()
                return await shredder.open(sealed[0], "test")

            await eventually_async(
                opened_after_catching_up,
                lambda opened: opened is None,
                timeout_s=15,
                interval_s=0,  # catching up reads the topic
                what="the ring seeing the tombstones (the erased subject's record opened)",
            )
            assert await shredder.open(sealed[1], "test") is None
            assert await shredder.open(sealed[2], "test") == plain
            assert shredded_count() >= 2
        finally:
            await shredder.ring.stop()

    try:
        asyncio.run(scenario())
    finally:
        producer.close()
