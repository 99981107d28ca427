"""Who the company's customers are, and what each department knows them by.

Deterministic for a seed. Values are skewed (a Pareto draw), so a few customers carry most of
the revenue; identifiers overlap across departments the way they do in real companies:
marketing knows an e-mail address and its contact id, sales a CRM account with the phone
number (often with the e-mail), the help desk a requester id with the phone number and
sometimes the e-mail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from lifecycle_schemas.departments import Department
from lifecycle_schemas.identifiers import CustomerRef

GIVEN_NAMES = (
    "Ann", "Ben", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemi", "Lars", "Maya", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara",
)  # fmt: skip
FAMILY_NAMES = (
    "Fischer", "Okafor", "Rossi", "Novak", "Yilmaz", "Haddad", "Berg", "Tanaka", "Silva",
    "Martin", "Adeyemi", "Larsen", "Cohen", "Holm", "Ivanova", "Kowalski", "Byrne", "Lopez",
)  # fmt: skip
COMPANY_WORDS = (
    "Logistik", "Foods", "Analytics", "Retail", "Health", "Energy", "Textiles", "Media",
    "Robotics", "Travel", "Pharma", "Finance",
)  # fmt: skip


class ValueTier(StrEnum):
    """How much a customer is worth to the company; drives deal sizes and contract terms."""

    SMALL = "small"
    MID = "mid"
    KEY = "key"


@dataclass(frozen=True)
class SimulatedCustomer:
    """One customer of the simulated company (never sent as such: departments see pieces)."""

    number: int
    given_name: str
    family_name: str
    company: str
    email: str
    phone: str
    marketing_contact_id: str
    crm_account_id: str
    helpdesk_requester_id: str
    value_weight: float
    tier: ValueTier
    sales_knows_email: bool
    help_desk_knows_email: bool

    def reference_for(self, department: Department) -> CustomerRef:
        """The identifiers this department's system has for the customer."""
        if department is Department.MARKETING:
            return CustomerRef(marketing_contact_id=self.marketing_contact_id, email=self.email)
        if department is Department.SALES:
            return CustomerRef(
                crm_account_id=self.crm_account_id,
                email=self.email if self.sales_knows_email else None,
                phone=self.phone,
            )
        return CustomerRef(
            helpdesk_requester_id=self.helpdesk_requester_id,
            phone=self.phone,
            email=self.email if self.help_desk_knows_email else None,
        )

    def handed_over_lead(self) -> CustomerRef:
        """What sales receives when marketing hands a lead over: the CRM account and the e-mail."""
        return CustomerRef(crm_account_id=self.crm_account_id, email=self.email, phone=self.phone)

    def deal_amount_minor(self) -> int:
        """A deal's size in euro cents: a base price scaled by the customer's value."""
        return max(50_000, round(400_000 * self.value_weight / 100) * 100)

    def contract_term_months(self) -> int:
        return {ValueTier.SMALL: 3, ValueTier.MID: 12, ValueTier.KEY: 24}[self.tier]

    def contract_term(self) -> timedelta:
        """The contract's length, counting a month as 30 days."""
        return timedelta(days=30 * self.contract_term_months())


def _tier(value_weight: float) -> ValueTier:
    if value_weight >= 8.0:
        return ValueTier.KEY
    if value_weight >= 2.0:
        return ValueTier.MID
    return ValueTier.SMALL


def build_population(size: int, seed: int) -> list[SimulatedCustomer]:
    """`size` customers, the same for the same seed."""
    rng = random.Random(f"population:{seed}")
    customers = []
    for number in range(size):
        given = rng.choice(GIVEN_NAMES)
        family = rng.choice(FAMILY_NAMES)
        company = f"{rng.choice(FAMILY_NAMES)} {rng.choice(COMPANY_WORDS)}"
        # Pareto with alpha 1.2: the top fifth of customers holds roughly two thirds of value.
        value_weight = min(rng.paretovariate(1.2), 200.0)
        customers.append(
            SimulatedCustomer(
                number=number,
                given_name=given,
                family_name=family,
                company=company,
                email=f"{given}.{family}.{seed}-{number}@example.com".lower(),
                # London numbers (+44 20 7xxx xxxx): unique per customer and valid E.164.
                phone=f"+44207{number:07d}",
                marketing_contact_id=f"mc-{seed}-{number}",
                crm_account_id=f"acc-{seed}-{number}",
                helpdesk_requester_id=f"req-{seed}-{number}",
                value_weight=value_weight,
                tier=_tier(value_weight),
                sales_knows_email=rng.random() < 0.8,
                help_desk_knows_email=rng.random() < 0.5,
            )
        )
    return customers
