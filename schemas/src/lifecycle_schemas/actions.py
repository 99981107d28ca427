"""Actions: what the orchestrator asks a department to do for one customer.

Every action carries a stable id derived from the decision (:func:`action_id`), so a replayed
decision produces the same id and departments act on it once. The CloudEvents ``id`` of an
action record *is* its action id.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self, TypeVar

from pydantic import AwareDatetime, Field, model_validator

from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import (
    CloudEvent,
    CustomerIdData,
    EventId,
    RecordData,
    root_error,
    stable_id,
)
from lifecycle_schemas.identifiers import CustomerRef, ExternalId
from lifecycle_schemas.vocabulary import (
    ActionPriority,
    CasePriority,
    Code,
    ContactChannel,
    DealKind,
    Facts,
    HandoffKind,
    Label,
    Money,
    Note,
    OwnerRef,
    PlayId,
    PlayVersion,
    ProductLines,
    ValueObject,
)


def action_id(
    play_id: str, play_version: int, customer_id: str, trigger_event_id: str, action_index: int
) -> str:
    """The stable id of the ``action_index``-th action a play decided for a customer on an event.

    Deterministic (UUIDv5): replaying the same decision gives the same id.
    """
    return stable_id("action", play_id, play_version, customer_id, trigger_event_id, action_index)


class ActionParameters(ValueObject):
    """Base of the parameters specific to one action type."""


class ActionData(CustomerIdData):
    """What every action carries, whatever its type."""

    action_id: EventId = Field(description="Stable id derived from the decision (= record id).")
    department: Department = Field(description="The department asked to act.")
    customer: CustomerRef = Field(description="The department's own identifiers for the customer.")
    parameters: ActionParameters
    priority: ActionPriority
    deadline: AwareDatetime = Field(description="When the department must acknowledge it.")
    expires_at: AwareDatetime = Field(description="After this the action must not be carried out.")
    play_id: PlayId
    play_version: PlayVersion
    trigger_event_id: EventId = Field(description="The event the decision was made on.")
    rationale: Note = Field(description="Why, in words a person in the department understands.")
    facts: Facts = Field(default_factory=dict)
    expected_value: Money | None = None

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        if self.expires_at < self.deadline:
            raise root_error(
                "expiry_before_deadline", "expires_at must not be before deadline", "expires_at"
            )
        if self.customer.customer_id not in (None, self.customer_id):
            raise root_error(
                "customer_id_mismatch", "customer.customer_id differs from customer_id", "customer"
            )
        return self


ActionDataT = TypeVar("ActionDataT", bound=ActionData)


class Action(CloudEvent[ActionDataT]):
    """An action record: published by the orchestrator to one department's actions topic."""

    department: ClassVar[Department]
    source: Literal["/services/orchestrator"] = "/services/orchestrator"

    @classmethod
    def _default_id(cls, data: RecordData) -> str | None:
        # An action's record id is its stable action id, so replays deduplicate.
        return data.action_id if isinstance(data, ActionData) else None

    @model_validator(mode="after")
    def _check_action_envelope(self) -> Self:
        if self.data.department != self.department:
            raise root_error(
                "wrong_department",
                f"this action type is addressed to the {self.department.value} department",
                "data.department",
            )
        if self.id != self.data.action_id:
            raise root_error("action_id_mismatch", "an action's id must equal data.action_id", "id")
        if self.data.deadline < self.time:
            raise root_error(
                "deadline_before_decision", "deadline must not be before time", "data.deadline"
            )
        return self


class MarketingAction(Action[ActionDataT]):
    department: ClassVar[Department] = Department.MARKETING


class SalesAction(Action[ActionDataT]):
    department: ClassVar[Department] = Department.SALES


class ServiceDeskAction(Action[ActionDataT]):
    department: ClassVar[Department] = Department.SERVICE_DESK


class ErasePersonalDataParameters(ActionParameters):
    request_id: ExternalId = Field(description="The erasure request being fulfilled.")
    regulation: Code = "gdpr-art-17"


class ErasePersonalDataData(ActionData):
    parameters: ErasePersonalDataParameters


# Marketing ---------------------------------------------------------------------------------


class SuppressPromotionsParameters(ActionParameters):
    """Stop promotional contact until a time, or until a condition clears, or both."""

    until: AwareDatetime | None = None
    until_condition: Code | None = Field(
        default=None, description="e.g. 'case-resolved', 'complaint-closed'."
    )
    reason_code: Code = Field(description="e.g. 'open-urgent-case', 'complaint', 'no-consent'.")
    channels: Annotated[tuple[ContactChannel, ...], Field(min_length=1, max_length=3)] = (
        ContactChannel.EMAIL,
        ContactChannel.SMS,
        ContactChannel.PHONE,
    )

    @model_validator(mode="after")
    def _require_an_end(self) -> Self:
        if self.until is None and self.until_condition is None:
            raise root_error(
                "suppression_without_end", "give until, until_condition or both", "until"
            )
        return self


class SuppressPromotionsData(ActionData):
    parameters: SuppressPromotionsParameters


class SuppressPromotions(MarketingAction[SuppressPromotionsData]):
    """Marketing: stop sending this customer promotions for now."""

    type: Literal["com.customerlifecycle.action.marketing.suppress-promotions.v1"] = (
        "com.customerlifecycle.action.marketing.suppress-promotions.v1"
    )


class ResumePromotionsParameters(ActionParameters):
    reason_code: Code = Field(description="e.g. 'case-resolved', 'suppression-ended'.")


class ResumePromotionsData(ActionData):
    parameters: ResumePromotionsParameters


class ResumePromotions(MarketingAction[ResumePromotionsData]):
    """Marketing: promotions to this customer may start again."""

    type: Literal["com.customerlifecycle.action.marketing.resume-promotions.v1"] = (
        "com.customerlifecycle.action.marketing.resume-promotions.v1"
    )


class EnrolInJourneyParameters(ActionParameters):
    journey_id: ExternalId
    journey_name: Label | None = None
    entry_step: Code | None = None


class EnrolInJourneyData(ActionData):
    parameters: EnrolInJourneyParameters


class EnrolInJourney(MarketingAction[EnrolInJourneyData]):
    """Marketing: enrol the customer in a nurture or onboarding journey."""

    type: Literal["com.customerlifecycle.action.marketing.enrol-in-journey.v1"] = (
        "com.customerlifecycle.action.marketing.enrol-in-journey.v1"
    )


class SendOfferParameters(ActionParameters):
    offer_id: ExternalId
    offer_name: Label | None = None
    channel: ContactChannel
    incentive: Money | None = None
    valid_until: AwareDatetime | None = None


class SendOfferData(ActionData):
    parameters: SendOfferParameters


class SendOffer(MarketingAction[SendOfferData]):
    """Marketing: send the customer a specific offer."""

    type: Literal["com.customerlifecycle.action.marketing.send-offer.v1"] = (
        "com.customerlifecycle.action.marketing.send-offer.v1"
    )


class MarketingErasePersonalData(MarketingAction[ErasePersonalDataData]):
    """Marketing: erase the customer's personal data from the marketing systems."""

    type: Literal["com.customerlifecycle.action.marketing.erase-personal-data.v1"] = (
        "com.customerlifecycle.action.marketing.erase-personal-data.v1"
    )


# Sales -------------------------------------------------------------------------------------


class CallCustomerParameters(ActionParameters):
    topic: Code = Field(description="e.g. 'hot-lead', 'renewal', 'after-complaint'.")
    talking_points: Note | None = None


class CallCustomerData(ActionData):
    parameters: CallCustomerParameters


class CallCustomer(SalesAction[CallCustomerData]):
    """Sales: call the customer (before the deadline)."""

    type: Literal["com.customerlifecycle.action.sales.call-customer.v1"] = (
        "com.customerlifecycle.action.sales.call-customer.v1"
    )


class AssignOwnerParameters(ActionParameters):
    owner: OwnerRef
    previous_owner: OwnerRef | None = None
    handoff: HandoffKind


class AssignOwnerData(ActionData):
    parameters: AssignOwnerParameters


class AssignOwner(SalesAction[AssignOwnerData]):
    """Sales: make this person the customer's account owner (assign or change)."""

    type: Literal["com.customerlifecycle.action.sales.assign-owner.v1"] = (
        "com.customerlifecycle.action.sales.assign-owner.v1"
    )


class CreateOpportunityParameters(ActionParameters):
    kind: DealKind = Field(description="Usually 'upsell', 'cross-sell' or 'renewal'.")
    suggested_products: ProductLines | None = None
    estimated_value: Money | None = None
    contract_id: ExternalId | None = Field(default=None, description="For renewals.")


class CreateOpportunityData(ActionData):
    parameters: CreateOpportunityParameters


class CreateOpportunity(SalesAction[CreateOpportunityData]):
    """Sales: open an upsell, cross-sell or renewal opportunity."""

    type: Literal["com.customerlifecycle.action.sales.create-opportunity.v1"] = (
        "com.customerlifecycle.action.sales.create-opportunity.v1"
    )


class OfferRetentionParameters(ActionParameters):
    contract_id: ExternalId | None = None
    offer_id: ExternalId | None = None
    max_discount_percent: int | None = Field(default=None, ge=0, le=100)
    incentive: Money | None = None


class OfferRetentionData(ActionData):
    parameters: OfferRetentionParameters


class OfferRetention(SalesAction[OfferRetentionData]):
    """Sales: make the customer a retention offer (at risk of leaving)."""

    type: Literal["com.customerlifecycle.action.sales.offer-retention.v1"] = (
        "com.customerlifecycle.action.sales.offer-retention.v1"
    )


class SalesErasePersonalData(SalesAction[ErasePersonalDataData]):
    """Sales: erase the customer's personal data from the sales systems."""

    type: Literal["com.customerlifecycle.action.sales.erase-personal-data.v1"] = (
        "com.customerlifecycle.action.sales.erase-personal-data.v1"
    )


# Service desk ------------------------------------------------------------------------------


class PrioritiseCaseParameters(ActionParameters):
    case_id: ExternalId
    priority: CasePriority


class PrioritiseCaseData(ActionData):
    parameters: PrioritiseCaseParameters


class PrioritiseCase(ServiceDeskAction[PrioritiseCaseData]):
    """Service desk: raise (or set) the priority of one of the customer's cases."""

    type: Literal["com.customerlifecycle.action.servicedesk.prioritise-case.v1"] = (
        "com.customerlifecycle.action.servicedesk.prioritise-case.v1"
    )


class AssignSeniorAgentParameters(ActionParameters):
    case_id: ExternalId
    skill: Code | None = Field(default=None, description="e.g. 'billing', 'technical'.")


class AssignSeniorAgentData(ActionData):
    parameters: AssignSeniorAgentParameters


class AssignSeniorAgent(ServiceDeskAction[AssignSeniorAgentData]):
    """Service desk: give the customer's case to a senior agent."""

    type: Literal["com.customerlifecycle.action.servicedesk.assign-senior-agent.v1"] = (
        "com.customerlifecycle.action.servicedesk.assign-senior-agent.v1"
    )


class ProactiveOutreachParameters(ActionParameters):
    topic: Code = Field(description="e.g. 'delivery-delay', 'known-outage', 'check-in'.")
    channel: ContactChannel
    order_id: ExternalId | None = None
    message: Note | None = None


class ProactiveOutreachData(ActionData):
    parameters: ProactiveOutreachParameters


class ProactiveOutreach(ServiceDeskAction[ProactiveOutreachData]):
    """Service desk: contact the customer before they contact us."""

    type: Literal["com.customerlifecycle.action.servicedesk.proactive-outreach.v1"] = (
        "com.customerlifecycle.action.servicedesk.proactive-outreach.v1"
    )


class StartOnboardingParameters(ActionParameters):
    onboarding_plan: Code
    opportunity_id: ExternalId | None = None
    order_id: ExternalId | None = None
    products: ProductLines | None = None


class StartOnboardingData(ActionData):
    parameters: StartOnboardingParameters


class StartOnboarding(ServiceDeskAction[StartOnboardingData]):
    """Service desk: start onboarding the customer onto what they bought."""

    type: Literal["com.customerlifecycle.action.servicedesk.start-onboarding.v1"] = (
        "com.customerlifecycle.action.servicedesk.start-onboarding.v1"
    )


class ServiceDeskErasePersonalData(ServiceDeskAction[ErasePersonalDataData]):
    """Service desk: erase the customer's personal data from the help-desk systems."""

    type: Literal["com.customerlifecycle.action.servicedesk.erase-personal-data.v1"] = (
        "com.customerlifecycle.action.servicedesk.erase-personal-data.v1"
    )
