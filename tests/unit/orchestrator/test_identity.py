"""Identity resolution: one customer per person, deterministic merges, converging races."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle_schemas.outputs import CustomerMerged
from orchestrator.core.engine import LocalEngine, erased, published
from orchestrator.core.identity import (
    Claim,
    IdentityEntry,
    Lookup,
    event_identity,
    new_customer_id,
    resolve_step,
    settle_claim,
)
from orchestrator.core.messages import Publish
from orchestrator.core.playbook import Playbook

EventFactory = Callable[..., Any]
EARLY = datetime(2026, 1, 1, tzinfo=UTC)
LATE = datetime(2026, 2, 1, tzinfo=UTC)


def test_first_seen_identifier_creates_a_customer_from_the_record_key(
    make_event: EventFactory,
) -> None:
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1"})
    resolution = resolve_step(None, "crm_account_id:crm-1", event_identity(event))
    assert resolution.customer_id == new_customer_id("crm_account_id:crm-1")
    assert resolution.claims == ()


def test_unknown_record_key_looks_up_the_next_identifier(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1", "email": "a@example.com"})
    resolution = resolve_step(None, "crm_account_id:crm-1", event_identity(event))
    assert resolution.customer_id is None
    assert resolution.next_lookup == "email:a@example.com"


def test_known_second_identifier_names_the_customer_and_claims_the_first(
    make_event: EventFactory,
) -> None:
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1", "email": "a@example.com"})
    entry = IdentityEntry(customer_id="c-ann", created_at=EARLY)
    resolution = resolve_step(entry, "email:a@example.com", event_identity(event))
    assert resolution.customer_id == "c-ann"
    assert [c.identifier for c in resolution.claims] == ["crm_account_id:crm-1"]


def test_a_lookup_carries_what_the_next_partition_resolves_with(
    make_event: EventFactory,
) -> None:
    # The next partition resolves from the lookup alone (it does not decode the event again):
    # the same answer as from the decoded event, also after the lookup's trip through JSON.
    event = make_event("sales.deal.won", {"crm_account_id": "crm-1", "email": "a@example.com"})
    entry = IdentityEntry(customer_id="c-ann", created_at=EARLY)
    sent = Lookup.of("email:a@example.com", event_identity(event))
    received = Lookup.model_validate_json(sent.model_dump_json())
    assert received.event_identity() == event_identity(event)
    assert resolve_step(entry, received.identifier, received.event_identity()) == resolve_step(
        entry, "email:a@example.com", event_identity(event)
    )


def test_a_customer_id_on_the_event_is_authoritative(make_event: EventFactory) -> None:
    event = make_event("sales.deal.won", {"customer_id": "c-42", "email": "a@example.com"})
    resolution = resolve_step(None, "customer_id:c-42", event_identity(event))
    assert resolution.customer_id == "c-42"


def claim(customer_id: str, created_at: datetime, identifier: str = "email:a@example.com") -> Claim:
    return Claim(
        identifier=identifier,
        customer_id=customer_id,
        created_at=created_at,
        evidence_event_id="evt-1",
    )


def test_unclaimed_identifier_goes_to_the_claimant() -> None:
    entry, merge = settle_claim(None, claim("c-b", LATE))
    assert entry.customer_id == "c-b"
    assert merge is None


def test_claim_by_the_owner_changes_nothing() -> None:
    owner = IdentityEntry(customer_id="c-a", created_at=EARLY)
    assert settle_claim(owner, claim("c-a", EARLY)) == (owner, None)


@pytest.mark.parametrize(
    ("owner_at", "claimant_at", "survivor", "alias"),
    [
        (EARLY, LATE, "c-a", "c-b"),
        (LATE, EARLY, "c-b", "c-a"),
        (EARLY, EARLY, "c-a", "c-b"),  # same age: the smaller id survives
    ],
)
def test_conflicting_claim_merges_into_the_older(
    owner_at: datetime, claimant_at: datetime, survivor: str, alias: str
) -> None:
    entry, merge = settle_claim(
        IdentityEntry(customer_id="c-a", created_at=owner_at), claim("c-b", claimant_at)
    )
    assert entry.customer_id == survivor
    assert merge is not None
    assert (merge.customer_id, merge.survivor_id, merge.matched_on) == (alias, survivor, ("email",))


def two_customers(engine: LocalEngine, make_event: EventFactory) -> None:
    """A sales customer (crm-1) and, later, a help-desk requester (zd-1) with a P3 case."""
    engine.submit_event(make_event("sales.deal.won", {"crm_account_id": "crm-1"}), LATE)
    case = make_event(
        "servicedesk.case.opened", {"helpdesk_requester_id": "zd-1"}, priority="P3", case_id="ZD-1"
    )
    engine.submit_event(case, LATE)


def test_linking_event_merges_two_customers(engine: LocalEngine, make_event: EventFactory) -> None:
    two_customers(engine, make_event)
    assert len(engine.customers) == 2
    link = make_event(
        "sales.account.owner-assigned", {"crm_account_id": "crm-1", "helpdesk_requester_id": "zd-1"}
    )
    decisions = engine.submit_event(link, LATE)
    merged = [r for r in published(decisions) if isinstance(r, CustomerMerged)]
    crm_customer = new_customer_id("crm_account_id:crm-1")
    desk_customer = new_customer_id("helpdesk_requester_id:zd-1")
    assert len(merged) == 1
    assert merged[0].data.customer_id == crm_customer  # created first
    assert merged[0].data.merged_customer_id == desk_customer
    assert erased(decisions) == [desk_customer]
    survivor = engine.customers[crm_customer]
    assert survivor.open_cases == {"ZD-1": "P3"}
    assert survivor.revenue_to_date_minor > 0
    assert survivor.merged_customer_ids == [desk_customer]
    assert engine.customers[desk_customer].alias_of == crm_customer


def test_events_for_an_alias_reach_the_survivor(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    two_customers(engine, make_event)
    engine.submit_event(
        make_event(
            "sales.account.owner-assigned",
            {"crm_account_id": "crm-1", "helpdesk_requester_id": "zd-1"},
        ),
        LATE,
    )
    engine.submit_event(
        make_event("servicedesk.case.resolved", {"helpdesk_requester_id": "zd-1"}, case_id="ZD-1"),
        LATE,
    )
    state = engine.resolve("helpdesk_requester_id:zd-1")
    assert state is not None
    assert state.customer_id == new_customer_id("crm_account_id:crm-1")
    assert state.open_cases == {}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_concurrent_links_converge_whatever_the_order(
    playbook: Playbook, make_event: EventFactory, order: tuple[int, ...]
) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    creators = [
        make_event("sales.deal.won", {"crm_account_id": "crm-1"}, at=base, id="e-crm"),
        make_event(
            "marketing.lead.scored",
            {"marketing_contact_id": "hs-1"},
            at=base + timedelta(hours=1),
            id="e-mkt",
            score=10,
        ),
        make_event(
            "servicedesk.case.opened",
            {"helpdesk_requester_id": "zd-1"},
            at=base + timedelta(hours=2),
            id="e-desk",
            priority="P4",
        ),
    ]
    links = [
        make_event(
            "marketing.email.opened",
            {"marketing_contact_id": "hs-1", "email": "ann@example.com"},
            id="l-1",
        ),
        make_event(
            "sales.account.owner-assigned",
            {"crm_account_id": "crm-1", "email": "ann@example.com"},
            id="l-2",
        ),
        make_event(
            "servicedesk.case.resolved",
            {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"},
            id="l-3",
        ),
    ]
    engine = LocalEngine(playbook)
    for event in creators:
        engine.submit_event(event, LATE)
    for index in order:
        engine.submit_event(links[index], LATE)
    survivors = {s.customer_id for s in engine.customers.values() if s.alias_of is None}
    assert survivors == {new_customer_id("crm_account_id:crm-1")}
    state = engine.resolve("email:ann@example.com")
    assert state is not None
    assert sorted(state.merged_customer_ids) == sorted(
        [
            new_customer_id("marketing_contact_id:hs-1"),
            new_customer_id("helpdesk_requester_id:zd-1"),
        ]
    )


def test_erasure_forgets_every_identifier(engine: LocalEngine, make_event: EventFactory) -> None:
    customer = {"crm_account_id": "crm-1", "email": "ann@example.com", "phone": "+442079460958"}
    engine.submit_event(make_event("sales.deal.won", customer), LATE)
    desk = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
    engine.submit_event(make_event("servicedesk.case.opened", desk), LATE)
    assert "email:ann@example.com" in engine.identities
    engine.submit_event(make_event("sales.erasure.requested", {"crm_account_id": "crm-1"}), LATE)
    for key in ("email:ann@example.com", "phone:+442079460958", "crm_account_id:crm-1",
                "helpdesk_requester_id:zd-1"):  # fmt: skip
        assert key not in engine.identities, key


def test_each_erase_action_names_what_its_department_knew_the_customer_by(
    engine: LocalEngine, make_event: EventFactory
) -> None:
    sales = {"crm_account_id": "crm-1", "email": "ann@example.com", "phone": "+442079460958"}
    engine.submit_event(make_event("sales.deal.won", sales), LATE)
    # The desk knows her by its own id and the same e-mail (which links her record).
    desk = {"helpdesk_requester_id": "zd-1", "email": "ann@example.com"}
    engine.submit_event(make_event("servicedesk.case.opened", desk), LATE)
    decisions = engine.submit_event(
        make_event("sales.erasure.requested", {"crm_account_id": "crm-1"}), LATE
    )
    erase = {
        d.record.data.department.value: d.record.data.customer.model_dump(exclude_none=True)
        for d in decisions
        if isinstance(d, Publish) and d.record.type.endswith("erase-personal-data.v1")
    }
    customer_id = erase["sales"]["customer_id"]
    assert erase == {
        "sales": {"customer_id": customer_id, "crm_account_id": "crm-1",
                  "email": "ann@example.com", "phone": "+442079460958"},
        "service-desk": {"customer_id": customer_id, "helpdesk_requester_id": "zd-1",
                         "email": "ann@example.com"},
        "marketing": {"customer_id": customer_id},
    }  # fmt: skip
    # Nothing more reaches the erased customer: a late event is taken as a no-op.
    late = engine.submit_event(make_event("sales.deal.won", sales), LATE)
    assert not [d for d in late if isinstance(d, Publish) and ".action." in d.record.type]
