"""The customers table's MessagePack value (orchestrator/packing.py, orchestrator/stored.py):
it reads back equal to what was written (and to what JSON and validation would give), old
JSON values still load, and what the builder cannot vouch for goes through validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from lifecycle_testing.core_events import T0, build_event
from orchestrator.core.engine import LocalEngine
from orchestrator.core.playbook import Playbook
from orchestrator.core.state import (
    ActionStatus,
    Contact,
    CustomerState,
    Handoff,
    Identifier,
    OpenAction,
    TimelineEntry,
)
from orchestrator.packing import general_writer, pack, unpack
from orchestrator.stored import (
    PACKED,
    OutboxRecord,
    PendingOutputs,
    SourcePosition,
    StoredCustomer,
    load_customer,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

offsets = st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])
aware_times = st.builds(
    lambda at, offset: at.replace(tzinfo=UTC).astimezone(timezone(offset)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    offsets,
)
# The state's times come from events (always with an offset); a naive one must survive too.
times = st.one_of(aware_times, st.datetimes(min_value=datetime(2000, 1, 1)))
text = st.text(max_size=12)
int64 = st.integers(-(2**63), 2**63 - 1)


parts = st.fixed_dictionaries(
    {
        "identifiers": st.lists(
            st.builds(Identifier, kind=text, value=text, first_seen=times), max_size=3
        ),
        "timeline": st.lists(
            st.builds(
                TimelineEntry,
                at=times,
                kind=text,
                type=text,
                summary=text,
                record_id=st.none() | text,
            ),
            max_size=4,
        ),
        "contact_log": st.lists(
            st.builds(Contact, at=times, channel=text, promotional=st.booleans()), max_size=3
        ),
        "complaints": st.lists(times, max_size=3),
        "open_actions": st.dictionaries(
            text,
            st.builds(
                OpenAction,
                action_id=text,
                action_type=text,
                department=text,
                play_id=text,
                play_version=st.integers(0, 9),
                priority=text,
                created_at=times,
                deadline=times,
                expires_at=times,
                status=st.sampled_from(ActionStatus),
                channel=st.none() | text,
                trigger_event_id=text,
            ),
            max_size=2,
        ),
        "handoffs": st.dictionaries(
            text,
            st.builds(
                Handoff,
                from_department=text,
                to_department=text,
                started_at=times,
                due_at=times,
                ended_at=st.none() | times,
                first_seconds=st.none()
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.integers(0, 10),
            ),
            max_size=2,
        ),
        "sentiment": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "last_engaged_at": st.none() | times,
        "revenue_to_date_minor": int64,
        "decisions": st.lists(
            st.dictionaries(text, st.none() | int64 | text | st.lists(text)), max_size=2
        ),
        "applied_event_ids": st.lists(text, max_size=5),
    }
)
outboxes = st.lists(
    st.builds(
        PendingOutputs,
        source=st.builds(
            SourcePosition,
            topic=text,
            partition=st.integers(0, 63),
            offset=st.integers(0, 2**63 - 1),
        ),
        records=st.lists(
            st.builds(
                OutboxRecord,
                topic=text,
                key=text,
                value=st.none() | text,
                cloudevent_headers=st.booleans(),
            ),
            max_size=3,
        ).map(tuple),
    ),
    max_size=3,
)


def assert_reads_back(stored: StoredCustomer) -> None:
    value = stored.to_bytes()
    assert value[:1] == PACKED
    loaded = load_customer(value)
    assert loaded == stored
    # What JSON and validation give, to the byte (times keep their offsets, floats stay floats).
    assert loaded.to_json_bytes() == stored.to_json_bytes()
    assert loaded == StoredCustomer.model_validate_json(stored.to_json_bytes())
    assert load_customer(loaded.to_bytes()) == stored


@SETTINGS
@given(fields=parts, outbox=outboxes)
def test_a_packed_value_reads_back_equal_to_the_model(
    fields: dict[str, Any], outbox: list[PendingOutputs]
) -> None:
    state = CustomerState.model_validate({"customer_id": "c-1", **fields})
    assert_reads_back(StoredCustomer(state=state, outbox=outbox))


# Every model through the one general writer: what the faster writers must give, to the byte.
GENERAL = msgspec.msgpack.Encoder(enc_hook=lambda value: general_writer(type(value))(value))


@SETTINGS
@given(fields=parts, outbox=outboxes)
def test_the_faster_writers_write_what_the_general_one_does(
    fields: dict[str, Any], outbox: list[PendingOutputs]
) -> None:
    state = CustomerState.model_validate({"customer_id": "c-1", **fields})
    stored = StoredCustomer(state=state, outbox=outbox)
    assert pack(stored) == GENERAL.encode(stored)


histories = st.lists(
    st.tuples(
        st.sampled_from(
            [
                ("sales.deal.won", {}),
                ("sales.opportunity.created", {}),
                ("marketing.lead.scored", {"score": 90}),
                ("marketing.consent.changed", {"status": "withdrawn", "channel": "email"}),
                ("servicedesk.case.opened", {"priority": "P1"}),
                ("servicedesk.complaint.received", {}),
                ("servicedesk.satisfaction.received", {"nps": 3}),
            ]
        ),
        offsets,
    ),
    min_size=1,
    max_size=10,
)


@SETTINGS
@given(history=histories)
def test_states_the_core_made_read_back_equal(
    playbook: Playbook, history: list[tuple[tuple[str, dict[str, Any]], timedelta]]
) -> None:
    engine = LocalEngine(playbook)
    customer = {"crm_account_id": "crm-1", "email": "ann@example.com"}
    for n, ((short, fields), offset) in enumerate(history):
        at = (T0 + timedelta(hours=n)).astimezone(timezone(offset))
        event = build_event(short, customer, id=f"evt-{n}", at=at, **fields)
        engine.submit_event(event, event.time + timedelta(seconds=5))
    assert engine.customers
    for state in engine.customers.values():
        assert_reads_back(StoredCustomer(state=state))
        assert pack(state) == GENERAL.encode(state)


def test_a_json_value_written_before_still_loads() -> None:
    state = CustomerState.new("c-1")
    state.purchases = 2
    state.timeline = [
        TimelineEntry(
            at=T0.astimezone(timezone(timedelta(hours=2))), kind="k", type="t", summary="s"
        )
    ]
    stored = StoredCustomer(state=state)
    old = stored.to_json_bytes()
    assert old[:1] == b"{"
    assert load_customer(old) == stored
    assert load_customer(old).to_bytes()[:1] == PACKED  # written packed from then on


def test_a_value_messagepack_cannot_hold_is_written_as_json() -> None:
    state = CustomerState.new("c-1")
    state.revenue_to_date_minor = 2**70  # beyond MessagePack's 64-bit integers
    value = StoredCustomer(state=state).to_bytes()
    assert value[:1] == b"{"
    assert load_customer(value).state.revenue_to_date_minor == 2**70


def packed_with(change: Any) -> bytes:
    """A packed value, its decoded map changed by ``change`` (another version's value)."""
    state = CustomerState.new("c-1")
    state.identifiers = [Identifier(kind="email", value="a@b.c", first_seen=T0)]
    decoded = msgspec.msgpack.decode(pack(StoredCustomer(state=state)))
    change(decoded)
    return PACKED + msgspec.msgpack.encode(decoded)


def test_an_unknown_field_goes_through_validation() -> None:
    value = packed_with(lambda d: d["state"]["identifiers"][0].update(verified=True))
    # The builder does not vouch for it: validation decides, as for a JSON value.
    with pytest.raises(ValidationError, match=r"identifiers\.0\.verified"):
        load_customer(value)


def test_a_field_missing_from_an_older_value_takes_its_default() -> None:
    value = packed_with(lambda d: [d["state"].pop("handoffs"), d["state"].pop("purchases")])
    loaded = load_customer(value)
    assert loaded.state.handoffs == {}
    assert loaded.state.purchases == 0
    assert loaded.state.identifiers[0].first_seen == T0


def test_a_missing_required_field_is_refused_by_validation() -> None:
    value = packed_with(lambda d: d["state"]["identifiers"][0].pop("kind"))
    with pytest.raises(ValidationError, match=r"identifiers\.0\.kind"):
        load_customer(value)


class Checked(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    at: datetime

    @field_validator("name")
    @classmethod
    def upper(cls, name: str) -> str:
        return name.upper()


class Holder(BaseModel):
    checked: list[Checked]


def test_a_model_with_validators_is_validated_not_built() -> None:
    loaded = unpack(Holder, pack(Holder(checked=[Checked(name="a", at=T0)])))
    assert loaded.checked[0].name == "A"
    # Validation also takes what another version added (this model ignores extra fields).
    value = msgspec.msgpack.encode({"checked": [{"name": "b", "at": T0, "new": 1}]})
    assert unpack(Holder, value) == Holder(checked=[Checked(name="B", at=T0)])


def test_built_models_behave_as_validated_ones() -> None:
    position = SourcePosition(topic="t", partition=1, offset=2)
    stored = StoredCustomer(
        state=CustomerState.new("c-1"),
        outbox=[
            PendingOutputs(source=position, records=(OutboxRecord(topic="t", key="k", value=None),))
        ],
    )
    loaded = load_customer(stored.to_bytes())
    assert loaded.pending_for(position) == stored.outbox[0]
    assert hash(loaded.outbox[0].source) == hash(position)  # frozen models stay hashable
    with pytest.raises(ValidationError):
        loaded.outbox[0].source.offset = 3  # type: ignore[misc]
    loaded.state.purchases = 4  # the state stays mutable for the reducer
    assert json.loads(loaded.to_json_bytes())["state"]["purchases"] == 4
    assert isinstance(loaded.state.open_actions, dict)
