"""Given a seed, the simulated population is repeatable, skewed and realistically overlapping."""

from __future__ import annotations

from company_simulator.population import ValueTier, build_population
from lifecycle_schemas.departments import Department


def test_the_same_seed_gives_the_same_customers_and_another_seed_does_not() -> None:
    assert build_population(300, 5) == build_population(300, 5)
    assert build_population(300, 5) != build_population(300, 6)


def test_every_identifier_belongs_to_exactly_one_customer() -> None:
    population = build_population(2000, 11)
    for attribute in ("email", "phone", "crm_account_id", "marketing_contact_id",
                      "helpdesk_requester_id"):  # fmt: skip
        values = [getattr(customer, attribute) for customer in population]
        assert len(set(values)) == len(values), attribute


def test_a_few_customers_carry_most_of_the_value() -> None:
    population = build_population(2000, 3)
    weights = sorted((customer.value_weight for customer in population), reverse=True)
    top_fifth = sum(weights[: len(weights) // 5]) / sum(weights)
    assert top_fifth > 0.5
    tiers = {customer.tier for customer in population}
    assert tiers == set(ValueTier)


def test_departments_know_customers_by_different_but_overlapping_identifiers() -> None:
    population = build_population(1000, 9)
    for customer in population:
        marketing = customer.reference_for(Department.MARKETING)
        sales = customer.reference_for(Department.SALES)
        desk = customer.reference_for(Department.SERVICE_DESK)
        assert marketing.marketing_contact_id
        assert not marketing.crm_account_id
        assert sales.crm_account_id
        assert not sales.marketing_contact_id
        assert desk.helpdesk_requester_id
        assert not desk.crm_account_id
        # The phone links the help desk to sales; the hand-over links sales to marketing.
        assert desk.phone == sales.phone
        assert customer.handed_over_lead().email == marketing.email
    shared_email = sum(1 for c in population if c.reference_for(Department.SERVICE_DESK).email)
    assert 0.3 * len(population) < shared_email < 0.7 * len(population)
