"""Sales events: qualification, pipeline, quotes, deals, orders, renewals, ownership."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from lifecycle_schemas.envelope import CustomerEventData
from lifecycle_schemas.events.common import (
    ContactRequestedData,
    ErasureRequestedData,
    SalesEvent,
)
from lifecycle_schemas.identifiers import ExternalId
from lifecycle_schemas.vocabulary import (
    Code,
    DealKind,
    Label,
    Money,
    Note,
    OwnerRef,
    ProductLines,
)

MAX_CONTRACT_TERM_MONTHS = 120


class LeadQualifiedData(CustomerEventData):
    lead_id: ExternalId | None = None
    qualified_by: OwnerRef | None = None
    product_interest: Code | None = None
    estimated_value: Money | None = None
    notes: Note | None = None


class LeadQualified(SalesEvent[LeadQualifiedData]):
    """Sales accepted a lead as worth pursuing (the lead-to-sales hand-off is done)."""

    type: Literal["com.customerlifecycle.sales.lead.qualified.v1"] = (
        "com.customerlifecycle.sales.lead.qualified.v1"
    )


class OpportunityCreatedData(CustomerEventData):
    opportunity_id: ExternalId
    name: Label
    kind: DealKind
    stage: Code = Field(description="The CRM's stage code, e.g. 'discovery'.")
    estimated_value: Money | None = None
    expected_close_date: date | None = None
    products: ProductLines | None = None


class OpportunityCreated(SalesEvent[OpportunityCreatedData]):
    """Sales opened an opportunity (new business, upsell, cross-sell or renewal)."""

    type: Literal["com.customerlifecycle.sales.opportunity.created.v1"] = (
        "com.customerlifecycle.sales.opportunity.created.v1"
    )


class OpportunityStageChangedData(CustomerEventData):
    opportunity_id: ExternalId
    from_stage: Code
    to_stage: Code
    win_probability_percent: int | None = Field(default=None, ge=0, le=100)


class OpportunityStageChanged(SalesEvent[OpportunityStageChangedData]):
    """An opportunity moved to another stage of the sales pipeline."""

    type: Literal["com.customerlifecycle.sales.opportunity.stage-changed.v1"] = (
        "com.customerlifecycle.sales.opportunity.stage-changed.v1"
    )


class QuoteIssuedData(CustomerEventData):
    quote_id: ExternalId
    opportunity_id: ExternalId | None = None
    amount: Money
    products: ProductLines
    valid_until: date


class QuoteIssued(SalesEvent[QuoteIssuedData]):
    """Sales sent the customer a quote."""

    type: Literal["com.customerlifecycle.sales.quote.issued.v1"] = (
        "com.customerlifecycle.sales.quote.issued.v1"
    )


class DealWonData(CustomerEventData):
    opportunity_id: ExternalId
    kind: DealKind
    amount: Money = Field(description="Total contract value.")
    products: ProductLines
    contract_term_months: int = Field(ge=1, le=MAX_CONTRACT_TERM_MONTHS)
    contract_id: ExternalId | None = None
    contract_start: date | None = None


class DealWon(SalesEvent[DealWonData]):
    """The customer bought: an opportunity closed as won."""

    type: Literal["com.customerlifecycle.sales.deal.won.v1"] = (
        "com.customerlifecycle.sales.deal.won.v1"
    )


class DealLostData(CustomerEventData):
    opportunity_id: ExternalId
    reason_code: Code = Field(description="e.g. 'price', 'competitor', 'no-decision', 'timing'.")
    reason_text: Note | None = None
    competitor: Label | None = None


class DealLost(SalesEvent[DealLostData]):
    """An opportunity closed as lost, with the reason."""

    type: Literal["com.customerlifecycle.sales.deal.lost.v1"] = (
        "com.customerlifecycle.sales.deal.lost.v1"
    )


class OrderFulfilledData(CustomerEventData):
    order_id: ExternalId
    opportunity_id: ExternalId | None = None
    products: ProductLines
    delivered_at: AwareDatetime


class OrderFulfilled(SalesEvent[OrderFulfilledData]):
    """An order was delivered to the customer."""

    type: Literal["com.customerlifecycle.sales.order.fulfilled.v1"] = (
        "com.customerlifecycle.sales.order.fulfilled.v1"
    )


class RenewalDueData(CustomerEventData):
    contract_id: ExternalId
    renewal_date: date
    current_value: Money = Field(description="What the contract is worth per term today.")
    auto_renews: bool


class RenewalDue(SalesEvent[RenewalDueData]):
    """A contract's renewal date is approaching."""

    type: Literal["com.customerlifecycle.sales.renewal.due.v1"] = (
        "com.customerlifecycle.sales.renewal.due.v1"
    )


class ContractCancelledData(CustomerEventData):
    contract_id: ExternalId
    effective_date: date
    reason_code: Code = Field(description="e.g. 'price', 'service-quality', 'moved-to-competitor'.")
    reason_text: Note | None = None


class ContractCancelled(SalesEvent[ContractCancelledData]):
    """The customer cancelled a contract (churn): the retention outcome the system is judged by."""

    type: Literal["com.customerlifecycle.sales.contract.cancelled.v1"] = (
        "com.customerlifecycle.sales.contract.cancelled.v1"
    )


class AccountOwnerAssignedData(CustomerEventData):
    owner: OwnerRef
    previous_owner: OwnerRef | None = None


class AccountOwnerAssigned(SalesEvent[AccountOwnerAssignedData]):
    """Sales assigned (or re-assigned) the account to an account owner."""

    type: Literal["com.customerlifecycle.sales.account.owner-assigned.v1"] = (
        "com.customerlifecycle.sales.account.owner-assigned.v1"
    )


class SalesErasureRequested(SalesEvent[ErasureRequestedData]):
    """The customer asked sales to erase their personal data."""

    type: Literal["com.customerlifecycle.sales.erasure.requested.v1"] = (
        "com.customerlifecycle.sales.erasure.requested.v1"
    )


class SalesContactRequested(SalesEvent[ContactRequestedData]):
    """The sales department asks whether it may contact the customer now."""

    type: Literal["com.customerlifecycle.sales.contact.requested.v1"] = (
        "com.customerlifecycle.sales.contact.requested.v1"
    )
