"""`orchestrator playbook diff`'s pure part: a recorded day replayed under the active playbook
and a candidate, per play and per segment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lifecycle_testing.core_events import T0, build_event
from orchestrator.core.impact import Change, compare, render, replay
from orchestrator.core.playbook import parse_playbook, read_playbook_files

FILES = read_playbook_files()
ONBOARDING_BUDGET = (
    "    budget: {amount_minor: 150000000, currency: EUR}\n    when: customer.is_customer"
)
# The onboarding segment's budget cut from EUR 1.5 million to EUR 50.
BUDGET_CUT = {
    **FILES,
    "segments.yaml": FILES["segments.yaml"].replace(
        ONBOARDING_BUDGET, ONBOARDING_BUDGET.replace("150000000", "5000"), 1
    ),
}


def recorded_day(customers: int = 20) -> list[Any]:
    """New customers through a day: each wins a deal, then looks at a product page."""
    events = []
    for n in range(customers):
        person = {"crm_account_id": f"crm-{n}", "email": f"c{n}@example.com"}
        at = T0 + timedelta(minutes=30 * n)
        events.append(build_event("sales.deal.won", person, id=f"deal-{n}", at=at))
        events.append(
            build_event(
                "marketing.web.page-visited",
                {"email": person["email"]},
                id=f"visit-{n}",
                at=at + timedelta(minutes=5),
                product_interest="analytics",
            )
        )
    return events


def rows_by_name(rows: list[Change]) -> dict[tuple[str, str], Change]:
    return {(row.kind, row.name): row for row in rows}


def test_a_budget_cut_shows_fewer_offers_more_suppressions_and_less_spend() -> None:
    assert ONBOARDING_BUDGET in FILES["segments.yaml"]
    day = recorded_day()
    rows = rows_by_name(
        compare(replay(parse_playbook(FILES), day), replay(parse_playbook(BUDGET_CUT), day))
    )
    offer = rows[("play", "product-interest-offer")]
    # Promotional offers to onboarding members stop once the cut budget is spent (the first
    # onboarding costs more than it); service actions (onboarding itself) still go out.
    before, after = offer.actions
    assert after < before
    assert offer.suppressed[1] - offer.suppressed[0] == before - after
    assert offer.spend_minor[1] < offer.spend_minor[0]
    onboarding_play = rows[("play", "deal-won-onboarding")]
    assert not onboarding_play.changed
    segment = rows[("segment", "onboarding")]
    assert segment.actions[1] < segment.actions[0]
    assert segment.spend_minor[1] < segment.spend_minor[0]
    assert segment.suppressed[1] - segment.suppressed[0] == before - after
    # The lines say it, with the change signed.
    lines = render(list(rows.values()), only_changed=True)
    assert any(
        line.startswith("play")
        and "product-interest-offer" in line
        and f"({after - before:+d})" in line
        for line in lines
    )
    assert not any("deal-won-onboarding" in line for line in lines)


def test_the_same_playbook_changes_nothing() -> None:
    day = recorded_day(6)
    tally = replay(parse_playbook(FILES), day)
    assert tally.events == len(day)
    rows = compare(tally, replay(parse_playbook(FILES), day))
    assert rows
    assert not any(row.changed for row in rows)
    assert all(line.endswith("(no change)") for line in render(rows)[1:])
