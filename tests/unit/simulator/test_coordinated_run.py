"""Coordinated against siloed, for one seed: what the customers actually received.

The coordinated company is the simulated world whose departments work the actions of the
orchestrator's pure core (``lifecycle_testing.coordinated_world``: the core the faust agents run,
with no transport in between). Conflicting contacts are the world's own count of promotions
marketing sent while the customer had a P1/P2 case open, not anything the orchestrator reports.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from company_simulator.cli import siloed_twin
from company_simulator.world import World
from lifecycle_testing.coordinated_world import CoordinatedRun
from orchestrator.core import proof
from orchestrator.core.control import in_control_group
from orchestrator.core.playbook import Playbook, load_playbook

START = datetime(2026, 1, 5, tzinfo=UTC)
# A seed whose siloed company sends promotions during urgent cases (most seeds of this size do).
SEED, CUSTOMERS, DAYS = 25, 500, 40
END = START + timedelta(days=DAYS)


def with_share(share: float) -> Playbook:
    shipped = load_playbook()
    policy = shipped.policy.model_copy(update={"control_group_share": share})
    return dataclasses.replace(shipped, policy=policy)


@pytest.fixture(scope="module")
def coordinated() -> CoordinatedRun:
    """The shipped playbook (its 10 % control group included) directing the company; marketing
    asks before its own promotions, as in the live run."""
    run = CoordinatedRun.start(load_playbook(), CUSTOMERS, SEED, START, ask_before_promotions=True)
    run.run_until(END)
    return run


@pytest.fixture(scope="module")
def siloed() -> World:
    world = siloed_twin(CUSTOMERS, SEED, START)
    world.advance(END)
    return world


def urgent_case_record_in_control(run: CoordinatedRun, requester_id: str, share: float) -> bool:
    """Whether the orchestrator's record holding the customer's cases is in the control group."""
    state = run.engine.resolve(f"helpdesk_requester_id:{requester_id}")
    assert state is not None
    return in_control_group(state.customer_id, share)


def test_coordinated_run_has_no_conflicting_contact_for_treated_customers(
    coordinated: CoordinatedRun, siloed: World
) -> None:
    assert siloed.tally.conflicting_contacts > 0
    world = coordinated.world
    assert world.tally.promotions_sent > 0
    assert world.tally.actions_received > 0
    share = coordinated.engine.playbook.policy.control_group_share
    conflicted = [j for j in world.journeys() if j.conflicting_contacts]
    # Control customers are observed, not treated: business as usual may still annoy them.
    treated = [
        j
        for j in conflicted
        if not urgent_case_record_in_control(coordinated, j.customer.helpdesk_requester_id, share)
    ]
    assert treated == []
    assert world.tally.conflicting_contacts < siloed.tally.conflicting_contacts


def test_everyone_treated_means_zero_conflicting_contacts() -> None:
    run = CoordinatedRun.start(with_share(0.0), CUSTOMERS, SEED, START)
    run.run_until(END)
    assert run.world.tally.promotions_sent > 0
    assert run.world.tally.conflicting_contacts == 0


def test_marketing_asks_first_and_is_denied_only_for_treated_customers(
    coordinated: CoordinatedRun,
) -> None:
    # Marketing's own weekly promotion asks the core first: some are denied (caps, complaints,
    # detractors, urgent cases); a control customer's are allowed and logged, never denied.
    share = coordinated.engine.playbook.policy.control_group_share
    answers = coordinated.contact_answers
    denied = [a for a in answers if a.data.decision.value == "deny"]
    held_out = [a for a in answers if in_control_group(a.data.customer_id, share)]
    assert coordinated.world.tally.promotions_denied == len(denied) > 0
    assert held_out
    assert {(a.data.decision.value, a.data.reason_code) for a in held_out} == {
        ("allow", "control-group")
    }


def test_holding_everyone_out_gives_back_the_siloed_company(siloed: World) -> None:
    # The zero above comes from the orchestrator's actions: without them, the same seed's
    # coordinated company sends the siloed company's promotions, conflicts included.
    # Marketing asks before its own promotions: a held-out customer's are allowed, so it still
    # sends what the siloed company sends.
    run = CoordinatedRun.start(
        with_share(0.9999), CUSTOMERS, SEED, START, ask_before_promotions=True
    )
    run.run_until(END)
    assert run.contact_answers
    assert run.world.tally.promotions_denied == 0
    assert run.world.tally.actions_received == 0
    assert run.world.tally.promotions_sent == siloed.tally.promotions_sent
    assert run.world.tally.conflicting_contacts == siloed.tally.conflicting_contacts > 0


def test_proof_of_value_shows_faster_hand_offs_for_treated_customers(
    coordinated: CoordinatedRun,
) -> None:
    share = coordinated.engine.playbook.policy.control_group_share
    body = proof.report(proof.tally(list(coordinated.engine.customers.values()), share), share)
    treated, control = body["groups"]["treated"], body["groups"]["control"]
    assert treated["handoff_hours"]["n"] >= 30
    assert control["handoff_hours"]["n"] >= 5
    # Treated leads get a call within a day; control leads wait for sales to notice (1-5 days).
    assert treated["handoff_hours"]["median"] < control["handoff_hours"]["median"]
    assert treated["handoff_hours"]["high"] < control["handoff_hours"]["median"]
    assert treated["handoff_hours"]["p90"] <= 24 * 3
    # Staff let some actions slip; control customers are sent nothing, so miss nothing.
    assert treated["missed_deadlines"] > 0
    assert control["missed_deadlines"] == 0
    assert control["conflicting_contacts"] >= treated["conflicting_contacts"] == 0


def test_proof_of_value_report_is_reproducible_for_a_seed() -> None:
    def report() -> dict[str, object]:
        run = CoordinatedRun.start(load_playbook(), 150, 3, START)
        run.run_until(START + timedelta(days=20))
        states = list(run.engine.customers.values())
        return proof.report(proof.tally(states, 0.1), 0.1)

    assert report() == report()


@pytest.mark.parametrize("kind", ["lead-to-sales", "sale-to-onboarding", "case-escalation"])
def test_each_hand_off_kind_is_taken_up_sooner_coordinated(
    coordinated: CoordinatedRun, siloed: World, kind: str
) -> None:
    # The world's own clock: a new customer reaches the service desk's onboarding, an escalated
    # case its second line, when staff accept the orchestrator's action or notice on their own.
    assert coordinated.world.tally.escalations > 20
    assert siloed.tally.escalations > 20
    ours = coordinated.world.tally.median_handoff_hours_by_kind()[kind]
    theirs = siloed.tally.median_handoff_hours_by_kind()[kind]
    assert ours is not None
    assert theirs is not None
    assert ours < theirs


@pytest.mark.parametrize("kind", ["lead-to-sales", "sale-to-onboarding", "case-escalation"])
def test_proof_of_value_times_each_hand_off_kind_treated_against_control(
    coordinated: CoordinatedRun, kind: str
) -> None:
    share = coordinated.engine.playbook.policy.control_group_share
    body = proof.report(proof.tally(list(coordinated.engine.customers.values()), share), share)
    treated = body["groups"]["treated"]["handoffs_by_kind"][kind]["hours"]
    control = body["groups"]["control"]["handoffs_by_kind"][kind]["hours"]
    assert treated["n"] >= 30
    assert control["n"] >= 5
    # Treated hand-offs end when staff accept the action; control ones wait for the receiving
    # department's own next event about the customer.
    assert treated["median"] < control["median"]
