"""The faust agents' bodies (orchestrator/streaming) on a thin fake stream: dicts for tables, a
recording producer, events with the parts of faust's ``Event`` the agents read. Kafka, faust's
commits and recovery are the integration and chaos tiers' business."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_schemas.codec import encode_record
from lifecycle_schemas.topics import TOPICS as REGISTRY
from lifecycle_testing.core_events import T0
from orchestrator.core.effects import OrchestratorTopics
from orchestrator.core.identity import IdentityEntry, new_customer_id
from orchestrator.core.messages import LOOKUP_HEADER, Decision, Message
from orchestrator.core.playbook import Playbook
from orchestrator.core.state import CustomerState
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.shredding import NoShredder
from orchestrator.stored import Acknowledgements, load_customer
from orchestrator.streaming.customer_agent import CustomerAgent
from orchestrator.streaming.identity_agent import IdentityAgent
from orchestrator.streaming.routing import NoLocalPartitions
from orchestrator.streaming.sending import Sender
from orchestrator.streaming.upkeep import SegmentSpend

EventFactory = Callable[..., Any]
TOPICS = OrchestratorTopics.in_namespace("")
SALES_EVENTS = REGISTRY.sales_events.name
DEAD_LETTER = REGISTRY.dead_letter.name


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class RecordingProducer:
    sent: list[Sent] = field(default_factory=list)
    # False: the futures stay pending (in ``waiting``) until a test resolves them.
    acknowledge: bool = True
    waiting: list[asyncio.Future[None]] = field(default_factory=list)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[None]:
        self.sent.append(Sent(topic, key, value, list(headers)))
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.acknowledge:
            acknowledged.set_result(None)
        else:
            self.waiting.append(acknowledged)
        return acknowledged

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


@dataclass
class FakeApp:
    producer: RecordingProducer = field(default_factory=RecordingProducer)


@dataclass(frozen=True)
class Source:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class FakeEvent:
    """The parts of faust's Event the agents read."""

    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    message: Source


class FakeStream:
    def __init__(self, events: list[FakeEvent]) -> None:
        self._events = events

    async def events(self) -> AsyncIterator[FakeEvent]:
        for event in self._events:
            yield event


def event_on(topic: str, sent: Sent | tuple[bytes, bytes | None], offset: int = 0) -> FakeEvent:
    """A record as the agent consuming ``topic`` receives it."""
    if isinstance(sent, Sent):
        key, value, headers = sent.key, sent.value, dict(sent.headers)
    else:
        (key, value), headers = sent, {}
    return FakeEvent(key, value, headers, Source(topic, 0, offset, key, value))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def identity_agent() -> tuple[IdentityAgent, dict[bytes, bytes], RecordingProducer]:
    app = FakeApp()
    table: dict[bytes, bytes] = {}
    sender = Sender(app, OrchestratorMetrics(), DEAD_LETTER)
    return IdentityAgent(table, sender, NoShredder(), TOPICS), table, app.producer


@dataclass
class CustomerWorld:
    agent: CustomerAgent
    table: dict[bytes, bytes]
    producer: RecordingProducer
    observed: list[tuple[Message, CustomerState, list[Decision], datetime]]
    committed: dict[Any, int | None]


def customer_agent(playbook: Playbook, **options: Any) -> CustomerWorld:
    app = FakeApp()
    table: dict[bytes, bytes] = {}
    observed: list[tuple[Message, CustomerState, list[Decision], datetime]] = []
    committed: dict[Any, int | None] = {}
    agent = CustomerAgent(
        table,
        Sender(app, OrchestratorMetrics(), DEAD_LETTER),
        NoShredder(),
        TOPICS,
        playbook,
        SegmentSpend(),
        lambda *args: observed.append(args),
        lambda: committed,
        **options,
    )
    return CustomerWorld(agent, table, app.producer, observed, committed)


def test_a_new_customer_is_resolved_over_a_lookup_and_its_claim(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won", {"crm_account_id": "crm-9", "email": "nine@example.com"})
    raw = encode_record(event)
    agent, table, producer = identity_agent()
    # Given the record key (crm id) unknown, the event looks on at the e-mail's partition.
    run(agent.resolve_department_events(FakeStream([event_on(SALES_EVENTS, (b"k", raw))])))
    (lookup,) = producer.on(TOPICS.identity)
    assert lookup.key == b"email:nine@example.com"
    assert lookup.value == raw  # the event's bytes, untouched
    assert json.loads(dict(lookup.headers)[LOOKUP_HEADER])["identifier"] == lookup.key.decode()
    # There it is new everywhere: the customer is created from the first identifier.
    producer.sent.clear()
    run(agent.settle_identity_messages(FakeStream([event_on(TOPICS.identity, lookup)])))
    customer_id = new_customer_id("crm_account_id:crm-9")
    (forwarded,) = producer.on(TOPICS.events_by_customer)
    assert (forwarded.key, forwarded.value) == (customer_id.encode(), raw)
    (claim,) = producer.on(TOPICS.identity)
    assert claim.key == b"crm_account_id:crm-9"
    # The claim settles the record key for the customer.
    run(agent.settle_identity_messages(FakeStream([event_on(TOPICS.identity, claim)])))
    entry = IdentityEntry.model_validate_json(table[b"crm_account_id:crm-9"])
    assert entry.customer_id == customer_id


def test_a_known_customer_resolves_in_one_step_and_is_claimed_once(
    make_event: EventFactory,
) -> None:
    agent, table, producer = identity_agent()
    table[b"crm_account_id:crm-1"] = (
        IdentityEntry(customer_id="c-ann", created_at=make_event("sales.deal.won").time)
        .model_dump_json()
        .encode()
    )
    events = [
        event_on(SALES_EVENTS, (b"k", encode_record(make_event("sales.deal.won"))), offset)
        for offset in range(3)
    ]
    run(agent.resolve_department_events(FakeStream(events)))
    assert [s.key for s in producer.on(TOPICS.events_by_customer)] == [b"c-ann"] * 3
    # The e-mail is claimed by the first event only: this process remembers its claims.
    assert [s.key for s in producer.on(TOPICS.identity)] == [b"email:ann@example.com"]


def test_poison_and_old_style_lookups_are_dead_lettered_and_the_stream_goes_on(
    make_event: EventFactory,
) -> None:
    agent, table, producer = identity_agent()
    legacy = json.dumps({"kind": "lookup", "body": {"identifier": "email:x", "event": "{}"}})
    poison = [
        event_on(TOPICS.identity, (b"p1", b"not json")),
        event_on(TOPICS.identity, (b"p2", legacy.encode())),
        event_on(TOPICS.identity, (b"p3", None)),
    ]
    forget = json.dumps({"kind": "forget", "body": {"identifier": "email:gone@example.com"}})
    table[b"email:gone@example.com"] = b"{}"
    stream = [*poison, event_on(TOPICS.identity, (b"email:gone@example.com", forget.encode()))]
    run(agent.settle_identity_messages(FakeStream(stream)))
    assert [(s.key, s.value) for s in producer.on(DEAD_LETTER)] == [
        (b"p1", b"not json"),
        (b"p2", legacy.encode()),
        (b"p3", b""),
    ]
    assert b"email:gone@example.com" not in table
    department_poison = [
        event_on(SALES_EVENTS, (b"p4", b"{")),
        event_on(SALES_EVENTS, (b"p5", None)),
    ]
    run(agent.resolve_department_events(FakeStream(department_poison)))
    assert [s.key for s in producer.on(DEAD_LETTER)][-2:] == [b"p4", b"p5"]


def test_an_applied_record_stores_the_state_with_its_outputs_as_the_outbox(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1"})
    record = event_on(TOPICS.events_by_customer, (b"c-1", encode_record(event)), offset=5)
    run(world.agent.apply_customer_messages(FakeStream([record])))
    stored = load_customer(world.table[b"c-1"])
    assert stored.state.purchases == 1
    (pending,) = stored.outbox
    assert (pending.source.topic, pending.source.offset) == (TOPICS.events_by_customer, 5)
    sent = [(s.topic, s.key, s.value) for s in world.producer.sent]
    outbox = [(r.topic, r.key.encode(), (r.value or "").encode()) for r in pending.records]
    assert sent, "a won deal has outputs"
    assert sent == outbox, "the outputs sent are the ones kept in the outbox"
    assert [type(message).__name__ for message, *_ in world.observed] == [type(event).__name__]


def test_a_replayed_record_re_sends_its_outputs_and_changes_nothing(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1"})
    record = event_on(TOPICS.events_by_customer, (b"c-1", encode_record(event)), offset=5)
    run(world.agent.apply_customer_messages(FakeStream([record])))
    first = list(world.producer.sent)
    stored = world.table[b"c-1"]
    world.producer.sent.clear()
    # Replayed after a crash, before faust committed offset 5.
    run(world.agent.apply_customer_messages(FakeStream([record])))
    assert world.producer.sent == first
    assert world.table[b"c-1"] == stored
    assert len(world.observed) == 1


def test_committed_outputs_leave_the_outbox_at_the_next_write(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    world.producer.acknowledge = False  # only the commit can drop them
    events = [make_event("sales.deal.won", {"crm_account_id": "crm-1"}) for _ in range(2)]
    records = [
        event_on(TOPICS.events_by_customer, (b"c-1", encode_record(e)), offset=n)
        for n, e in enumerate(events)
    ]
    run(world.agent.apply_customer_messages(FakeStream(records[:1])))

    @dataclass(frozen=True)
    class TP:
        topic: str
        partition: int

    world.committed[TP(TOPICS.events_by_customer, 0)] = 1  # offset 0 committed
    run(world.agent.apply_customer_messages(FakeStream(records[1:])))
    stored = load_customer(world.table[b"c-1"])
    assert [p.source.offset for p in stored.outbox] == [1]
    assert stored.state.purchases == 2


def test_acknowledged_outputs_leave_the_outbox_at_the_next_write(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    world.producer.acknowledge = False
    events = [make_event("sales.deal.won", {"crm_account_id": "crm-1"}) for _ in range(4)]
    records = [
        event_on(TOPICS.events_by_customer, (b"c-1", encode_record(e)), offset=n)
        for n, e in enumerate(events)
    ]

    def outbox() -> list[int]:
        return [p.source.offset for p in load_customer(world.table[b"c-1"]).outbox]

    async def scenario() -> None:
        apply = world.agent.apply_customer_message
        await apply(records[0])
        await apply(records[1])
        assert outbox() == [0, 1], "nothing acknowledged, nothing committed: both kept"
        first_outputs = list(world.producer.sent)
        for future in world.producer.waiting:
            future.set_result(None)
        world.producer.waiting.clear()
        await asyncio.sleep(0)  # the acknowledgements' callbacks run
        await apply(records[2])
        assert outbox() == [2], "records 0 and 1 are on Kafka: their entries dropped"
        # One of record 2's outputs failed: its entry stays (until its offset is committed).
        world.producer.waiting[0].set_exception(RuntimeError("not acknowledged"))
        for future in world.producer.waiting[1:]:
            future.set_result(None)
        await asyncio.sleep(0)
        await apply(records[3])
        assert outbox() == [2, 3]
        # Record 0 replayed (a crash before its offset was committed): it is applied and
        # its outputs are on Kafka, so nothing is sent and nothing changes.
        stored = world.table[b"c-1"]
        world.producer.sent.clear()
        await apply(records[0])
        assert world.producer.sent == []
        assert world.table[b"c-1"] == stored
        assert first_outputs, "a won deal has outputs"

    run(scenario())
    assert load_customer(world.table[b"c-1"]).state.purchases == 4


def test_an_undecodable_customer_record_is_dead_lettered(playbook: Playbook) -> None:
    world = customer_agent(playbook)
    records = [
        event_on(TOPICS.commands, (b"c", b"{}")),
        event_on(TOPICS.events_by_customer, (b"c", None)),  # a null value is not "shredded"
    ]
    run(world.agent.apply_customer_messages(FakeStream(records)))
    assert [(s.topic, s.value) for s in world.producer.sent] == [
        (DEAD_LETTER, b"{}"),
        (DEAD_LETTER, b""),
    ]
    assert world.table == {}


def test_a_first_identifier_resolved_here_skips_the_lookup_while_its_claim_is_in_flight(
    make_event: EventFactory,
) -> None:
    customer = {"crm_account_id": "crm-7", "email": "seven@example.com"}
    first, second = (encode_record(make_event("sales.deal.won", customer)) for _ in range(2))
    agent, table, producer = identity_agent()
    run(agent.resolve_department_events(FakeStream([event_on(SALES_EVENTS, (b"k", first))])))
    (lookup,) = producer.on(TOPICS.identity)
    run(agent.settle_identity_messages(FakeStream([event_on(TOPICS.identity, lookup)])))
    assert b"crm_account_id:crm-7" not in table  # its claim is still on the identity topic
    producer.sent.clear()
    run(agent.resolve_department_events(FakeStream([event_on(SALES_EVENTS, (b"k", second))])))
    customer_id = new_customer_id("crm_account_id:crm-7").encode()
    assert [(s.topic, s.key) for s in producer.sent if s.topic != TOPICS.identity] == [
        (TOPICS.events_by_customer, customer_id)
    ]
    assert not [s for s in producer.on(TOPICS.identity) if LOOKUP_HEADER in dict(s.headers)]
    # The forwarded event says it was validated: the customer agent only parses it.
    (forwarded,) = producer.on(TOPICS.events_by_customer)
    assert dict(forwarded.headers)["lifecycle-validated"] == b"1"


def test_a_validated_event_is_parsed_and_anything_else_fully_decoded(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1"})
    headers = {"lifecycle-validated": b"1"}
    good = FakeEvent(
        b"c-1", encode_record(event), headers, Source(TOPICS.events_by_customer, 0, 1, b"c-1", b"")
    )
    # A header does not make poison valid: a bad value still fails (and is dead-lettered).
    bad = FakeEvent(b"c-1", b"{}", headers, Source(TOPICS.events_by_customer, 0, 2, b"c-1", b"{}"))
    run(world.agent.apply_customer_messages(FakeStream([good, bad])))
    assert load_customer(world.table[b"c-1"]).state.purchases == 1
    assert [s.value for s in world.producer.on(DEAD_LETTER)] == [b"{}"]


class AllLocal(NoLocalPartitions):
    """One worker owning every partition."""

    def is_local(self, key: str) -> bool:
        return True


def test_a_lookup_whose_partition_this_worker_owns_takes_no_hop(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won", {"crm_account_id": "crm-8", "email": "eight@example.com"})
    app = FakeApp()
    table: dict[bytes, bytes] = {}
    sender = Sender(app, OrchestratorMetrics(), DEAD_LETTER)
    agent = IdentityAgent(table, sender, NoShredder(), TOPICS, partitions=AllLocal())
    run(
        agent.resolve_department_events(
            FakeStream([event_on(SALES_EVENTS, (b"k", encode_record(event)))])
        )
    )
    customer_id = new_customer_id("crm_account_id:crm-8")
    # Resolved on the e-mail's partition in place: no lookup, the event goes to its customer.
    assert [(s.topic, s.key) for s in app.producer.sent] == [
        (TOPICS.events_by_customer, customer_id.encode()),
        (TOPICS.identity, b"crm_account_id:crm-8"),  # the claim
    ]
    assert IdentityEntry.model_validate_json(table[b"email:eight@example.com"]).customer_id == (
        customer_id
    )


# Events of two customers, in any order and at times with any offset: what the agent sends and
# stores is the same whether it parses each customer's value or takes the object it wrote.
KEPT_VALUE_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("sales.deal.won", {}),
    ("sales.opportunity.created", {}),
    ("marketing.lead.scored", {"score": 90}),
    ("marketing.web.page-visited", {}),
    ("servicedesk.case.opened", {"priority": "P1"}),
    ("servicedesk.case.resolved", {}),
    ("servicedesk.complaint.received", {}),
    ("servicedesk.satisfaction.received", {"nps": 3}),
]
KEPT_VALUE_CUSTOMERS = [
    (b"c-1", {"crm_account_id": "crm-1", "email": "ann@example.com"}),
    (b"c-2", {"helpdesk_requester_id": "zd-2", "email": "bob@example.com"}),
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(
        st.tuples(
            st.sampled_from(range(len(KEPT_VALUE_STEPS))),
            st.sampled_from(range(len(KEPT_VALUE_CUSTOMERS))),
            st.sampled_from([0, 2, -5]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_a_kept_value_gives_what_parsing_the_stored_one_would(
    playbook: Playbook,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
    history: list[tuple[int, int, int]],
) -> None:
    parsing = customer_agent(playbook, kept_values=0)
    keeping = customer_agent(playbook)
    records = []
    for n, (step, who, hours) in enumerate(history):
        short, fields = KEPT_VALUE_STEPS[step]
        key, customer = KEPT_VALUE_CUSTOMERS[who]
        at = (T0 + timedelta(hours=n)).astimezone(timezone(timedelta(hours=hours)))
        event = make_event(short, customer, at=at, **fields)
        records.append(event_on(TOPICS.events_by_customer, (key, encode_record(event)), offset=n))
    for n, record in enumerate(records):
        now = T0 + timedelta(hours=n, seconds=1)
        monkeypatch.setattr("orchestrator.streaming.customer_agent.utcnow", lambda at=now: at)
        for world in (parsing, keeping):
            run(world.agent.apply_customer_messages(FakeStream([record])))
        assert keeping.producer.sent == parsing.producer.sent
        assert keeping.table == parsing.table
    # Kept: the customers written more than once (a new customer's first value is not).
    returning = [who for who, n in Counter(who for _, who, _ in history).items() if n > 1]
    assert len(keeping.agent.recent) == len(returning)


def test_a_value_changed_behind_the_agent_is_parsed_not_taken_from_memory(
    playbook: Playbook, make_event: EventFactory
) -> None:
    world = customer_agent(playbook)
    won = [make_event("sales.deal.won", {"crm_account_id": "crm-1"}) for _ in range(2)]
    run(world.agent.apply_customer_messages(
        FakeStream([event_on(TOPICS.events_by_customer, (b"c-1", encode_record(won[0])))])
    ))  # fmt: skip
    # Another worker wrote the customer in between (a rebalance): its value is the truth.
    theirs = load_customer(world.table[b"c-1"])
    theirs.state.purchases = 7
    world.table[b"c-1"] = theirs.to_json_bytes()
    record = event_on(TOPICS.events_by_customer, (b"c-1", encode_record(won[1])), offset=1)
    run(world.agent.apply_customer_messages(FakeStream([record])))
    assert load_customer(world.table[b"c-1"]).state.purchases == 8


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(
        st.tuples(
            st.sampled_from(range(len(KEPT_VALUE_STEPS))),
            st.sampled_from(range(len(KEPT_VALUE_CUSTOMERS))),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_dropping_acknowledged_entries_changes_no_output_and_no_state(
    playbook: Playbook,
    make_event: EventFactory,
    monkeypatch: pytest.MonkeyPatch,
    history: list[tuple[int, int]],
) -> None:
    counting = customer_agent(playbook)
    waiting = customer_agent(playbook)
    waiting.agent.acknowledgements = Acknowledgements(0)  # never known: the commit rule only
    for n, (step, who) in enumerate(history):
        short, fields = KEPT_VALUE_STEPS[step]
        key, customer = KEPT_VALUE_CUSTOMERS[who]
        event = make_event(short, customer, at=T0 + timedelta(hours=n), **fields)
        record = event_on(TOPICS.events_by_customer, (key, encode_record(event)), offset=n)
        now = T0 + timedelta(hours=n, seconds=1)
        monkeypatch.setattr("orchestrator.streaming.customer_agent.utcnow", lambda at=now: at)
        for world in (counting, waiting):
            run(world.agent.apply_customer_messages(FakeStream([record])))
        assert counting.producer.sent == waiting.producer.sent
        assert counting.table.keys() == waiting.table.keys()
        for key in counting.table:
            dropped, kept = load_customer(counting.table[key]), load_customer(waiting.table[key])
            assert dropped.state == kept.state
            assert set(dropped.outbox) <= set(kept.outbox)
            # Everything before the customer's last record was acknowledged: at most its own.
            assert len(dropped.outbox) <= 1
