"""One realistic example per record type, used by the docs, the AsyncAPI document and tests.

The examples follow one customer, Ann Fischer, through a quarter: she downloads a whitepaper,
is called by sales, buys, has a delivery problem, escalates, is won back, and finally asks for
her data to be erased.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from lifecycle_schemas.actions import (
    Action,
    ActionParameters,
    AssignOwner,
    AssignOwnerParameters,
    AssignSeniorAgent,
    AssignSeniorAgentParameters,
    CallCustomer,
    CallCustomerParameters,
    CreateOpportunity,
    CreateOpportunityParameters,
    EnrolInJourney,
    EnrolInJourneyParameters,
    ErasePersonalDataParameters,
    MarketingErasePersonalData,
    OfferRetention,
    OfferRetentionParameters,
    PrioritiseCase,
    PrioritiseCaseParameters,
    ProactiveOutreach,
    ProactiveOutreachParameters,
    ResumePromotions,
    ResumePromotionsParameters,
    SalesErasePersonalData,
    SendOffer,
    SendOfferParameters,
    ServiceDeskErasePersonalData,
    StartOnboarding,
    StartOnboardingParameters,
    SuppressPromotions,
    SuppressPromotionsParameters,
    action_id,
)
from lifecycle_schemas.catalogue import RECORD_MODELS, AnyRecord
from lifecycle_schemas.departments import Department
from lifecycle_schemas.envelope import CloudEvent, stable_id
from lifecycle_schemas.events import (
    AccountOwnerAssigned,
    CampaignMessageSent,
    CaseEscalated,
    CaseOpened,
    CaseResolved,
    ComplaintReceived,
    ConsentChanged,
    ContactCaptured,
    ContactRequestedData,
    ContractCancelled,
    DealLost,
    DealWon,
    EmailClicked,
    EmailOpened,
    ErasureRequestedData,
    FormSubmitted,
    FulfilmentProblemReported,
    LeadQualified,
    LeadScored,
    MarketingContactRequested,
    MarketingErasureRequested,
    OpportunityCreated,
    OpportunityStageChanged,
    OrderFulfilled,
    QuoteIssued,
    RenewalDue,
    SalesContactRequested,
    SalesErasureRequested,
    SatisfactionReceived,
    ServiceDeskContactRequested,
    ServiceDeskErasureRequested,
    Unsubscribed,
    WebPageVisited,
)
from lifecycle_schemas.events.common import contact_id
from lifecycle_schemas.events.marketing import (
    CampaignMessageSentData,
    ConsentChangedData,
    ContactCapturedData,
    ContactProfile,
    EmailClickedData,
    EmailOpenedData,
    FormSubmittedData,
    LeadScoredData,
    UnsubscribedData,
    WebPageVisitedData,
)
from lifecycle_schemas.events.sales import (
    AccountOwnerAssignedData,
    ContractCancelledData,
    DealLostData,
    DealWonData,
    LeadQualifiedData,
    OpportunityCreatedData,
    OpportunityStageChangedData,
    OrderFulfilledData,
    QuoteIssuedData,
    RenewalDueData,
)
from lifecycle_schemas.events.service_desk import (
    CaseEscalatedData,
    CaseOpenedData,
    CaseResolvedData,
    ComplaintReceivedData,
    FulfilmentProblemReportedData,
    SatisfactionReceivedData,
)
from lifecycle_schemas.identifiers import CustomerRef, IdentifierKind
from lifecycle_schemas.outcomes import (
    ActionAccepted,
    ActionCompleted,
    ActionDeclined,
    ActionExpired,
    ActionFailed,
    DeclineReason,
    outcome_id,
)
from lifecycle_schemas.outputs import (
    Candidate,
    ConsentState,
    ContactDecided,
    ContactDecidedData,
    CustomerHealth,
    CustomerMerged,
    CustomerMergedData,
    CustomerProfile,
    CustomerProfileData,
    CustomerValue,
    DecisionRecorded,
    DecisionRecordedData,
    HandoffDeadlineMissed,
    HandoffDeadlineMissedData,
    LinkedIdentifier,
    OwnerChanged,
    OwnerChangedData,
    PlaybookVersionRef,
    ProfileAttribute,
    SegmentChangeData,
    SegmentEntered,
    SegmentExited,
    StageStatus,
    Verdict,
    decision_id,
)
from lifecycle_schemas.vocabulary import (
    ActionPriority,
    CaseChannel,
    CasePriority,
    ConsentStatus,
    ContactChannel,
    ContactDecision,
    ContactPurpose,
    DealKind,
    HandoffKind,
    LifecycleStage,
    Money,
    OwnerRef,
    ProductLine,
)

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

CUSTOMER_ID = "cus_01JNQ7Z4K8M2"
ALIAS_CUSTOMER_ID = "cus_01JNQ80B6T5W"
EMAIL = "ann.fischer@example.com"
PHONE = "+442079460958"
CRM_ACCOUNT_ID = "0015g00000AbCdEAAZ"
MARKETING_CONTACT_ID = "hs-90112"
HELPDESK_REQUESTER_ID = "zd-44017"

AT_MARKETING = CustomerRef(marketing_contact_id=MARKETING_CONTACT_ID, email=EMAIL)
AT_SALES = CustomerRef(crm_account_id=CRM_ACCOUNT_ID, email=EMAIL, phone=PHONE)
AT_SERVICE_DESK = CustomerRef(helpdesk_requester_id=HELPDESK_REQUESTER_ID, email=EMAIL)

ACCOUNT_OWNER = OwnerRef(
    department=Department.SALES, owner_id="005-jmartin", display_name="Jonas Martin"
)
PREVIOUS_OWNER = OwnerRef(
    department=Department.SALES, owner_id="005-inside-sales", display_name="Inside sales queue"
)
SENIOR_AGENT = OwnerRef(
    department=Department.SERVICE_DESK, owner_id="zd-agent-117", display_name="Priya Shah"
)
ONBOARDING_TEAM = OwnerRef(
    department=Department.SERVICE_DESK, owner_id="zd-group-onboarding", display_name="Onboarding"
)
ANALYTICS_SUITE = (
    ProductLine(sku="ANL-PRO-12M", name="Analytics Suite Pro, 12 months", quantity=25),
    ProductLine(sku="SVC-ONBOARD", name="Guided onboarding", quantity=1),
)


def _at(days: float, hours: float = 0) -> datetime:
    return START + timedelta(days=days, hours=hours)


def _id(name: str) -> str:
    return stable_id("example", name)


def _event(model: type[CloudEvent[Any]], data: Any, name: str, when: datetime) -> Any:
    return model.build(data, id=_id(name), time=when, correlationid=_id("journey"))


# Marketing ---------------------------------------------------------------------------------

contact_captured = ContactCaptured.build(
    ContactCapturedData(
        customer=AT_MARKETING,
        lead_source="web-form",
        campaign_id="cmp-2025-q1-analytics",
        profile=ContactProfile(
            given_name="Ann",
            family_name="Fischer",
            company="Fischer Logistik GmbH",
            job_title="Head of Operations",
            country="DE",
            preferred_language="de",
        ),
    ),
    id=_id("contact-captured"),
    time=_at(0),
    correlationid=_id("journey"),
)
campaign_message_sent = _event(
    CampaignMessageSent,
    CampaignMessageSentData(
        customer=AT_MARKETING,
        campaign_id="cmp-2025-q1-analytics",
        message_id="msg-7781",
        channel=ContactChannel.EMAIL,
        promotional=True,
    ),
    "campaign-message-sent",
    _at(1),
)
email_opened = _event(
    EmailOpened,
    EmailOpenedData(
        customer=AT_MARKETING, message_id="msg-7781", campaign_id="cmp-2025-q1-analytics"
    ),
    "email-opened",
    _at(1, 2),
)
email_clicked = _event(
    EmailClicked,
    EmailClickedData(
        customer=AT_MARKETING,
        message_id="msg-7781",
        campaign_id="cmp-2025-q1-analytics",
        url="https://www.example.com/analytics/pricing?utm_campaign=q1-analytics",
    ),
    "email-clicked",
    _at(1, 2.1),
)
web_page_visited = _event(
    WebPageVisited,
    WebPageVisitedData(
        customer=AT_MARKETING,
        url="https://www.example.com/analytics/pricing",
        page_title="Analytics Suite pricing",
        product_interest="analytics-suite",
        session_id="sess-5f2a91",
    ),
    "web-page-visited",
    _at(1, 2.2),
)
form_submitted = _event(
    FormSubmitted,
    FormSubmittedData(
        customer=AT_MARKETING,
        form_id="form-demo-request",
        form_name="Request a demo",
        product_interest="analytics-suite",
        answers={"company-size": "200-499", "timeline": "this quarter"},
    ),
    "form-submitted",
    _at(1, 2.4),
)
lead_scored = _event(
    LeadScored,
    LeadScoredData(customer=AT_MARKETING, score=82, previous_score=35, scoring_model="mql-v3"),
    "lead-scored",
    _at(1, 2.5),
)
consent_changed = _event(
    ConsentChanged,
    ConsentChangedData(
        customer=AT_MARKETING,
        channel=ContactChannel.SMS,
        status=ConsentStatus.GRANTED,
        captured_via="web-form",
    ),
    "consent-changed",
    _at(1, 2.4),
)
unsubscribed = _event(
    Unsubscribed,
    UnsubscribedData(
        customer=AT_MARKETING,
        channel=ContactChannel.EMAIL,
        list_id="newsletter-monthly",
        reason="Too many e-mails",
    ),
    "unsubscribed",
    _at(40),
)
marketing_erasure_requested = _event(
    MarketingErasureRequested,
    ErasureRequestedData(
        customer=AT_MARKETING, request_id="dsr-2025-0419", requested_via="preference-centre"
    ),
    "marketing-erasure-requested",
    _at(88),
)
marketing_contact_requested = _event(
    MarketingContactRequested,
    ContactRequestedData(
        customer=AT_MARKETING,
        channel=ContactChannel.EMAIL,
        purpose=ContactPurpose.PROMOTIONAL,
        campaign_id="cmp-2025-q1-analytics",
        content_tag="spring-upsell",
        answer_by=_at(1) + timedelta(seconds=2),
    ),
    "marketing-contact-requested",
    _at(1) - timedelta(seconds=1),
)

# Sales -------------------------------------------------------------------------------------

lead_qualified = _event(
    LeadQualified,
    LeadQualifiedData(
        customer=AT_SALES,
        lead_id="00Q5g00000LdQ1",
        qualified_by=ACCOUNT_OWNER,
        product_interest="analytics-suite",
        estimated_value=Money(amount_minor=3_000_000, currency="EUR"),
        notes="Budget approved for Q2; evaluating two vendors.",
    ),
    "lead-qualified",
    _at(2),
)
opportunity_created = _event(
    OpportunityCreated,
    OpportunityCreatedData(
        customer=AT_SALES,
        opportunity_id="0065g00000OpP1",
        name="Fischer Logistik - Analytics Suite",
        kind=DealKind.NEW_BUSINESS,
        stage="discovery",
        estimated_value=Money(amount_minor=3_000_000, currency="EUR"),
        expected_close_date=date(2025, 4, 15),
        products=ANALYTICS_SUITE,
    ),
    "opportunity-created",
    _at(2, 1),
)
opportunity_stage_changed = _event(
    OpportunityStageChanged,
    OpportunityStageChangedData(
        customer=AT_SALES,
        opportunity_id="0065g00000OpP1",
        from_stage="discovery",
        to_stage="proposal",
        win_probability_percent=60,
    ),
    "opportunity-stage-changed",
    _at(9),
)
quote_issued = _event(
    QuoteIssued,
    QuoteIssuedData(
        customer=AT_SALES,
        quote_id="Q-2025-0311",
        opportunity_id="0065g00000OpP1",
        amount=Money(amount_minor=2_850_000, currency="EUR"),
        products=ANALYTICS_SUITE,
        valid_until=date(2025, 4, 11),
    ),
    "quote-issued",
    _at(10),
)
deal_won = _event(
    DealWon,
    DealWonData(
        customer=AT_SALES,
        opportunity_id="0065g00000OpP1",
        kind=DealKind.NEW_BUSINESS,
        amount=Money(amount_minor=2_850_000, currency="EUR"),
        products=ANALYTICS_SUITE,
        contract_term_months=12,
        contract_id="CTR-8841",
        contract_start=date(2025, 4, 1),
    ),
    "deal-won",
    _at(17),
)
deal_lost = _event(
    DealLost,
    DealLostData(
        customer=AT_SALES,
        opportunity_id="0065g00000OpX9",
        reason_code="timing",
        reason_text="Cross-sell of the forecasting add-on postponed to next budget year.",
        competitor=None,
    ),
    "deal-lost",
    _at(60),
)
order_fulfilled = _event(
    OrderFulfilled,
    OrderFulfilledData(
        customer=AT_SALES,
        order_id="SO-55120",
        opportunity_id="0065g00000OpP1",
        products=ANALYTICS_SUITE,
        delivered_at=_at(28, 6),
    ),
    "order-fulfilled",
    _at(28, 7),
)
renewal_due = _event(
    RenewalDue,
    RenewalDueData(
        customer=AT_SALES,
        contract_id="CTR-8841",
        renewal_date=date(2026, 4, 1),
        current_value=Money(amount_minor=2_850_000, currency="EUR"),
        auto_renews=False,
    ),
    "renewal-due",
    _at(85),
)
contract_cancelled = _event(
    ContractCancelled,
    ContractCancelledData(
        customer=AT_SALES,
        contract_id="CTR-7702",
        effective_date=date(2025, 6, 30),
        reason_code="consolidating-vendors",
        reason_text="Legacy reporting contract replaced by Analytics Suite.",
    ),
    "contract-cancelled",
    _at(45),
)
account_owner_assigned = _event(
    AccountOwnerAssigned,
    AccountOwnerAssignedData(customer=AT_SALES, owner=ACCOUNT_OWNER, previous_owner=PREVIOUS_OWNER),
    "account-owner-assigned",
    _at(2, 0.5),
)
sales_erasure_requested = _event(
    SalesErasureRequested,
    ErasureRequestedData(
        customer=AT_SALES,
        request_id="dsr-2025-0419",
        requested_via="account-manager",
        note="Forwarded by the account manager.",
    ),
    "sales-erasure-requested",
    _at(88, 1),
)
sales_contact_requested = _event(
    SalesContactRequested,
    ContactRequestedData(
        customer=AT_SALES,
        channel=ContactChannel.PHONE,
        purpose=ContactPurpose.SERVICE,
        answer_by=_at(20, 1) + timedelta(seconds=2),
    ),
    "sales-contact-requested",
    _at(20, 1),
)

# Service desk ------------------------------------------------------------------------------

case_opened = _event(
    CaseOpened,
    CaseOpenedData(
        customer=AT_SERVICE_DESK,
        case_id="ZD-100482",
        priority=CasePriority.P2,
        category="delivery",
        channel=CaseChannel.PHONE,
        summary="Onboarding hardware arrived damaged",
        order_id="SO-55120",
    ),
    "case-opened",
    _at(29),
)
case_escalated = _event(
    CaseEscalated,
    CaseEscalatedData(
        customer=AT_SERVICE_DESK,
        case_id="ZD-100482",
        priority=CasePriority.P1,
        escalation_level=2,
        reason="Go-live date at risk",
        escalated_to=SENIOR_AGENT,
    ),
    "case-escalated",
    _at(30),
)
case_resolved = _event(
    CaseResolved,
    CaseResolvedData(
        customer=AT_SERVICE_DESK,
        case_id="ZD-100482",
        resolution_code="replacement-shipped",
        resolution_time_seconds=2 * 24 * 3600 + 5400,
        first_contact_resolution=False,
    ),
    "case-resolved",
    _at(31, 1.5),
)
fulfilment_problem_reported = _event(
    FulfilmentProblemReported,
    FulfilmentProblemReportedData(
        customer=AT_SERVICE_DESK,
        order_id="SO-55120",
        problem="damaged",
        description="Two of the five gateway devices arrived with cracked housings.",
        case_id="ZD-100482",
    ),
    "fulfilment-problem-reported",
    _at(29, 0.2),
)
satisfaction_received = _event(
    SatisfactionReceived,
    SatisfactionReceivedData(
        customer=AT_SERVICE_DESK,
        survey_id="srv-csat-100482",
        case_id="ZD-100482",
        csat=4,
        nps=8,
        comment="Fast replacement once escalated, but the first answer took too long.",
    ),
    "satisfaction-received",
    _at(32),
)
complaint_received = _event(
    ComplaintReceived,
    ComplaintReceivedData(
        customer=AT_SERVICE_DESK,
        complaint_id="CMP-2291",
        category="delivery",
        channel=CaseChannel.EMAIL,
        case_id="ZD-100482",
        summary="Second delivery also late; considering cancelling the order.",
    ),
    "complaint-received",
    _at(30, 2),
)
service_desk_erasure_requested = _event(
    ServiceDeskErasureRequested,
    ErasureRequestedData(
        customer=AT_SERVICE_DESK, request_id="dsr-2025-0419", requested_via="support-ticket"
    ),
    "service-desk-erasure-requested",
    _at(88, 2),
)
service_desk_contact_requested = _event(
    ServiceDeskContactRequested,
    ContactRequestedData(
        customer=AT_SERVICE_DESK,
        channel=ContactChannel.SMS,
        purpose=ContactPurpose.TRANSACTIONAL,
        content_tag="case-update",
        answer_by=_at(30, 3) + timedelta(seconds=2),
    ),
    "service-desk-contact-requested",
    _at(30, 3),
)

# Actions -----------------------------------------------------------------------------------


def _action(
    model: type[Action[Any]],
    parameters: ActionParameters,
    *,
    trigger: CloudEvent[Any],
    customer: CustomerRef,
    play_id: str,
    index: int,
    priority: ActionPriority,
    rationale: str,
    facts: dict[str, bool | int | float | str],
    deadline_hours: float,
    expiry_hours: float,
    expected_value: Money | None = None,
) -> Any:
    decided_at = trigger.time + timedelta(seconds=2)
    the_action_id = action_id(play_id, 3, CUSTOMER_ID, trigger.id, index)
    data = model.data_model().model_validate(
        {
            "customer_id": CUSTOMER_ID,
            "action_id": the_action_id,
            "department": model.department,
            "customer": customer,
            "parameters": parameters,
            "priority": priority,
            "deadline": decided_at + timedelta(hours=deadline_hours),
            "expires_at": decided_at + timedelta(hours=expiry_hours),
            "play_id": play_id,
            "play_version": 3,
            "trigger_event_id": trigger.id,
            "rationale": rationale,
            "facts": facts,
            "expected_value": expected_value,
        }
    )
    return model.build(
        data,
        time=decided_at,
        correlationid=trigger.correlationid,
        causationid=trigger.id,
    )


suppress_promotions = _action(
    SuppressPromotions,
    SuppressPromotionsParameters(
        until=_at(44), until_condition="case-resolved", reason_code="open-urgent-case"
    ),
    trigger=case_escalated,
    customer=AT_MARKETING,
    play_id="urgent-case-quiet-period",
    index=0,
    priority=ActionPriority.URGENT,
    rationale="A P1 case is open: no promotions until it is resolved (at most two weeks).",
    facts={"open_cases.p1": 1, "last_case_id": "ZD-100482", "promotions_last_7d": 2},
    deadline_hours=1,
    expiry_hours=24,
)
resume_promotions = _action(
    ResumePromotions,
    ResumePromotionsParameters(reason_code="case-resolved"),
    trigger=case_resolved,
    customer=AT_MARKETING,
    play_id="urgent-case-quiet-period",
    index=1,
    priority=ActionPriority.NORMAL,
    rationale="The urgent case is resolved, so promotions may resume.",
    facts={"open_cases.p1": 0, "csat_pending": True},
    deadline_hours=24,
    expiry_hours=72,
)
enrol_in_journey = _action(
    EnrolInJourney,
    EnrolInJourneyParameters(
        journey_id="jrn-analytics-nurture", journey_name="Analytics nurture", entry_step="welcome"
    ),
    trigger=contact_captured,
    customer=AT_MARKETING,
    play_id="new-lead-nurture",
    index=0,
    priority=ActionPriority.NORMAL,
    rationale="New lead from the Q1 analytics campaign: start the nurture journey.",
    facts={"lead_source": "web-form", "consent.email": "granted"},
    deadline_hours=24,
    expiry_hours=24 * 7,
)
send_offer = _action(
    SendOffer,
    SendOfferParameters(
        offer_id="offer-forecasting-addon-20",
        offer_name="Forecasting add-on, 20% off the first year",
        channel=ContactChannel.EMAIL,
        incentive=Money(amount_minor=120_000, currency="EUR"),
        valid_until=_at(70),
    ),
    trigger=satisfaction_received,
    customer=AT_MARKETING,
    play_id="promoter-cross-sell",
    index=0,
    priority=ActionPriority.LOW,
    rationale="NPS 8 after a resolved case and strong usage: a cross-sell offer fits.",
    facts={"last_nps": 8, "value.ltv_minor": 9_400_000, "propensity": 0.34},
    deadline_hours=48,
    expiry_hours=24 * 14,
    expected_value=Money(amount_minor=480_000, currency="EUR"),
)
marketing_erase_personal_data = _action(
    MarketingErasePersonalData,
    ErasePersonalDataParameters(request_id="dsr-2025-0419"),
    trigger=marketing_erasure_requested,
    customer=AT_MARKETING,
    play_id="erasure-request",
    index=0,
    priority=ActionPriority.URGENT,
    rationale="The customer asked for erasure; every department erases within 30 days.",
    facts={"request_id": "dsr-2025-0419"},
    deadline_hours=24,
    expiry_hours=24 * 30,
)
call_customer = _action(
    CallCustomer,
    CallCustomerParameters(
        topic="hot-lead",
        talking_points="Requested a demo of Analytics Suite; 200-499 staff; buying this quarter.",
    ),
    trigger=lead_scored,
    customer=AT_SALES,
    play_id="hot-lead-call",
    index=0,
    priority=ActionPriority.HIGH,
    rationale="Lead score jumped from 35 to 82 after a demo request: call within 4 hours.",
    facts={"lead_score": 82, "form": "form-demo-request"},
    deadline_hours=4,
    expiry_hours=48,
    expected_value=Money(amount_minor=900_000, currency="EUR"),
)
assign_owner = _action(
    AssignOwner,
    AssignOwnerParameters(
        owner=ACCOUNT_OWNER, previous_owner=PREVIOUS_OWNER, handoff=HandoffKind.LEAD_TO_SALES
    ),
    trigger=lead_scored,
    customer=AT_SALES,
    play_id="hot-lead-call",
    index=1,
    priority=ActionPriority.HIGH,
    rationale="Hot lead in Jonas Martin's territory (DACH, mid-market).",
    facts={"country": "DE", "segment": "mid-market"},
    deadline_hours=4,
    expiry_hours=48,
)
create_opportunity = _action(
    CreateOpportunity,
    CreateOpportunityParameters(
        kind=DealKind.RENEWAL,
        estimated_value=Money(amount_minor=2_850_000, currency="EUR"),
        contract_id="CTR-8841",
    ),
    trigger=renewal_due,
    customer=AT_SALES,
    play_id="renewal-90-days",
    index=0,
    priority=ActionPriority.NORMAL,
    rationale="Contract CTR-8841 renews in 90 days and does not renew automatically.",
    facts={"auto_renews": False, "days_to_renewal": 90},
    deadline_hours=72,
    expiry_hours=24 * 30,
)
offer_retention = _action(
    OfferRetention,
    OfferRetentionParameters(contract_id="CTR-8841", max_discount_percent=10),
    trigger=complaint_received,
    customer=AT_SALES,
    play_id="complaint-retention",
    index=0,
    priority=ActionPriority.HIGH,
    rationale="A complaint threatens cancellation of a high-value new account.",
    facts={"complaints_open": 1, "value.revenue_to_date_minor": 2_850_000},
    deadline_hours=24,
    expiry_hours=24 * 7,
)
sales_erase_personal_data = _action(
    SalesErasePersonalData,
    ErasePersonalDataParameters(request_id="dsr-2025-0419"),
    trigger=marketing_erasure_requested,
    customer=AT_SALES,
    play_id="erasure-request",
    index=1,
    priority=ActionPriority.URGENT,
    rationale="The customer asked for erasure; every department erases within 30 days.",
    facts={"request_id": "dsr-2025-0419"},
    deadline_hours=24,
    expiry_hours=24 * 30,
)
prioritise_case = _action(
    PrioritiseCase,
    PrioritiseCaseParameters(case_id="ZD-100482", priority=CasePriority.P1),
    trigger=complaint_received,
    customer=AT_SERVICE_DESK,
    play_id="complaint-retention",
    index=1,
    priority=ActionPriority.URGENT,
    rationale="Open case of a customer who just complained; the account is new and valuable.",
    facts={"case_priority": "P2", "complaints_open": 1},
    deadline_hours=1,
    expiry_hours=24,
)
assign_senior_agent = _action(
    AssignSeniorAgent,
    AssignSeniorAgentParameters(case_id="ZD-100482", skill="logistics"),
    trigger=complaint_received,
    customer=AT_SERVICE_DESK,
    play_id="complaint-retention",
    index=2,
    priority=ActionPriority.URGENT,
    rationale="A senior agent owns the case until the replacement is delivered.",
    facts={"escalation_level": 2},
    deadline_hours=1,
    expiry_hours=24,
)
proactive_outreach = _action(
    ProactiveOutreach,
    ProactiveOutreachParameters(
        topic="delivery-delay",
        channel=ContactChannel.PHONE,
        order_id="SO-55120",
        message="Explain the replacement shipment and its tracking number.",
    ),
    trigger=fulfilment_problem_reported,
    customer=AT_SERVICE_DESK,
    play_id="fulfilment-problem-care",
    index=0,
    priority=ActionPriority.HIGH,
    rationale="Damaged delivery on a new account: call before the customer chases us.",
    facts={"problem": "damaged", "order_id": "SO-55120"},
    deadline_hours=8,
    expiry_hours=72,
)
start_onboarding = _action(
    StartOnboarding,
    StartOnboardingParameters(
        onboarding_plan="analytics-pro-guided",
        opportunity_id="0065g00000OpP1",
        products=ANALYTICS_SUITE,
    ),
    trigger=deal_won,
    customer=AT_SERVICE_DESK,
    play_id="won-deal-onboarding",
    index=0,
    priority=ActionPriority.HIGH,
    rationale="Deal won with guided onboarding: hand the customer to onboarding.",
    facts={"deal_amount_minor": 2_850_000, "contract_term_months": 12},
    deadline_hours=24,
    expiry_hours=24 * 14,
)
service_desk_erase_personal_data = _action(
    ServiceDeskErasePersonalData,
    ErasePersonalDataParameters(request_id="dsr-2025-0419"),
    trigger=marketing_erasure_requested,
    customer=AT_SERVICE_DESK,
    play_id="erasure-request",
    index=2,
    priority=ActionPriority.URGENT,
    rationale="The customer asked for erasure; every department erases within 30 days.",
    facts={"request_id": "dsr-2025-0419"},
    deadline_hours=24,
    expiry_hours=24 * 30,
)

# Outcomes ----------------------------------------------------------------------------------


def _outcome(
    model: type[CloudEvent[Any]], action: Action[Any], after: timedelta, **fields: Any
) -> Any:
    data = model.data_model().model_validate(
        {
            "customer_id": action.data.customer_id,
            "action_id": action.id,
            "action_type": action.type,
            "department": action.data.department,
            **fields,
        }
    )
    return model.build(
        data,
        id=outcome_id(action.id, model.record_type()),
        time=action.time + after,
        correlationid=action.correlationid,
        causationid=action.id,
    )


action_accepted = _outcome(
    ActionAccepted,
    call_customer,
    timedelta(minutes=12),
    assignee=ACCOUNT_OWNER,
    expected_completion=call_customer.time + timedelta(hours=3),
)
action_completed = _outcome(
    ActionCompleted,
    call_customer,
    timedelta(hours=2),
    result_code="reached",
    note="Demo booked for Thursday.",
    value_realised=None,
)
action_declined = _outcome(
    ActionDeclined,
    send_offer,
    timedelta(hours=5),
    reason_code=DeclineReason.CONFLICTS_WITH_CUSTOMER_SITUATION,
    reason_text="Customer is mid-negotiation on the renewal; an offer now undercuts it.",
)
action_failed = _outcome(
    ActionFailed,
    enrol_in_journey,
    timedelta(minutes=1),
    error_code="journey-not-found",
    error_text="Journey jrn-analytics-nurture is archived in the marketing tool.",
    retryable=False,
)
action_expired = _outcome(
    ActionExpired,
    create_opportunity,
    timedelta(days=30, seconds=1),
    expired_at=create_opportunity.data.expires_at,
)

# Orchestrator outputs ----------------------------------------------------------------------


def _output(model: type[CloudEvent[Any]], data: Any, name: str, cause: CloudEvent[Any]) -> Any:
    return model.build(
        data,
        id=_id(name),
        time=cause.time + timedelta(seconds=2),
        correlationid=cause.correlationid,
        causationid=cause.id,
    )


customer_merged = _output(
    CustomerMerged,
    CustomerMergedData(
        customer_id=CUSTOMER_ID,
        merged_customer_id=ALIAS_CUSTOMER_ID,
        matched_on=(IdentifierKind.EMAIL,),
        evidence_event_id=lead_qualified.id,
    ),
    "customer-merged",
    lead_qualified,
)
segment_entered = _output(
    SegmentEntered,
    SegmentChangeData(
        customer_id=CUSTOMER_ID,
        segment_id="mid-market-growth",
        segment_version=2,
        segment_name="Mid-market, growing",
        manager=ACCOUNT_OWNER,
    ),
    "segment-entered",
    deal_won,
)
segment_exited = _output(
    SegmentExited,
    SegmentChangeData(customer_id=CUSTOMER_ID, segment_id="open-leads", segment_version=5),
    "segment-exited",
    deal_won,
)
owner_changed = _output(
    OwnerChanged,
    OwnerChangedData(
        customer_id=CUSTOMER_ID,
        owner=ONBOARDING_TEAM,
        previous_owner=ACCOUNT_OWNER,
        handoff=HandoffKind.SALE_TO_ONBOARDING,
        handoff_deadline=deal_won.time + timedelta(days=2),
        reason="Deal won; onboarding owns the customer until go-live.",
    ),
    "owner-changed",
    deal_won,
)
handoff_deadline_missed = _output(
    HandoffDeadlineMissed,
    HandoffDeadlineMissedData(
        customer_id=CUSTOMER_ID,
        action_id=call_customer.id,
        action_type=call_customer.type,
        department=Department.SALES,
        deadline=call_customer.data.deadline,
        play_id=call_customer.data.play_id,
        play_version=call_customer.data.play_version,
        escalated_to=OwnerRef(
            department=Department.SALES, owner_id="005-lbauer", display_name="Lena Bauer"
        ),
    ),
    "handoff-deadline-missed",
    call_customer,
)
# The seventh published playbook version (docs/orchestrator.md, live playbook).
EXAMPLE_PLAYBOOK_VERSION = PlaybookVersionRef(number=7, digest="sha256:" + "3f9a0c52e1d8b7a6" * 4)
decision_recorded = _output(
    DecisionRecorded,
    DecisionRecordedData(
        customer_id=CUSTOMER_ID,
        decision_id=decision_id(CUSTOMER_ID, complaint_received.id),
        trigger_event_id=complaint_received.id,
        trigger_event_type=complaint_received.type,
        control_group=False,
        candidates=(
            Candidate(
                action_type=offer_retention.type,
                department=Department.SALES,
                play_id="complaint-retention",
                play_version=3,
                score=0.61,
                score_components={"propensity": 0.7, "context": 1.0, "value": 0.87, "lever": 1.0},
                verdict=Verdict.WON,
                reason_code="highest-score",
                reason="Highest score among sales actions for this customer.",
                action_id=offer_retention.id,
            ),
            Candidate(
                action_type=send_offer.type,
                department=Department.MARKETING,
                play_id="promoter-cross-sell",
                play_version=3,
                score=0.18,
                verdict=Verdict.SUPPRESSED,
                reason_code="complaint-open",
                reason="No promotions while a complaint is open.",
            ),
            Candidate(
                action_type=call_customer.type,
                department=Department.SALES,
                play_id="renewal-90-days",
                play_version=1,
                score=0.22,
                verdict=Verdict.LOST,
                reason_code="mutually-exclusive",
                reason="Excludes the retention offer, which scored higher.",
            ),
        ),
        playbook=EXAMPLE_PLAYBOOK_VERSION,
    ),
    "decision-recorded",
    complaint_received,
)
customer_profile = _output(
    CustomerProfile,
    CustomerProfileData(
        customer_id=CUSTOMER_ID,
        profile_version=42,
        identifiers=(
            LinkedIdentifier(
                kind=IdentifierKind.EMAIL,
                value=EMAIL,
                department=Department.MARKETING,
                first_seen=_at(0),
            ),
            LinkedIdentifier(
                kind=IdentifierKind.MARKETING_CONTACT_ID,
                value=MARKETING_CONTACT_ID,
                department=Department.MARKETING,
                first_seen=_at(0),
            ),
            LinkedIdentifier(
                kind=IdentifierKind.CRM_ACCOUNT_ID,
                value=CRM_ACCOUNT_ID,
                department=Department.SALES,
                first_seen=_at(2),
            ),
            LinkedIdentifier(
                kind=IdentifierKind.PHONE,
                value=PHONE,
                department=Department.SALES,
                first_seen=_at(2),
            ),
            LinkedIdentifier(
                kind=IdentifierKind.HELPDESK_REQUESTER_ID,
                value=HELPDESK_REQUESTER_ID,
                department=Department.SERVICE_DESK,
                first_seen=_at(29),
            ),
        ),
        merged_customer_ids=(ALIAS_CUSTOMER_ID,),
        attributes=(
            ProfileAttribute(
                name="given_name", value="Ann", source=Department.MARKETING, updated_at=_at(0)
            ),
            ProfileAttribute(
                name="company",
                value="Fischer Logistik GmbH",
                source=Department.SALES,
                updated_at=_at(2),
            ),
        ),
        stages={
            LifecycleStage.ENGAGE: StageStatus.COMPLETED,
            LifecycleStage.TRANSACT: StageStatus.COMPLETED,
            LifecycleStage.FULFIL: StageStatus.ACTIVE,
            LifecycleStage.SERVICE: StageStatus.ACTIVE,
        },
        value=CustomerValue(
            currency="EUR",
            revenue_to_date_minor=2_850_000,
            open_pipeline_minor=600_000,
            predicted_lifetime_value_minor=9_400_000,
        ),
        health=CustomerHealth(
            open_cases={CasePriority.P1: 1},
            open_complaints=1,
            last_csat=None,
            last_nps=None,
            sentiment=-0.4,
        ),
        consents=(
            ConsentState(
                channel=ContactChannel.EMAIL, status=ConsentStatus.GRANTED, updated_at=_at(0)
            ),
            ConsentState(
                channel=ContactChannel.SMS, status=ConsentStatus.GRANTED, updated_at=_at(1, 2.4)
            ),
        ),
        segments=("mid-market-growth", "new-customers-90d"),
        owner=ONBOARDING_TEAM,
        last_engaged_at=_at(30, 2),
        control_group=False,
        open_action_ids=(offer_retention.id, prioritise_case.id),
    ),
    "customer-profile",
    complaint_received,
)

contact_decided = _output(
    ContactDecided,
    ContactDecidedData(
        customer_id=CUSTOMER_ID,
        contact_id=contact_id(marketing_contact_requested.id),
        request_id=marketing_contact_requested.id,
        department=Department.MARKETING,
        channel=ContactChannel.EMAIL,
        purpose=ContactPurpose.PROMOTIONAL,
        campaign_id="cmp-2025-q1-analytics",
        content_tag="spring-upsell",
        decision=ContactDecision.ALLOW,
        reason_code="within-policy",
        reason="within the contact policy: reserved against the caps",
        expires_at=marketing_contact_requested.time + timedelta(hours=1),
        control_group=False,
        playbook=EXAMPLE_PLAYBOOK_VERSION,
    ),
    "contact-decided",
    marketing_contact_requested,
)


def _collect() -> dict[str, AnyRecord]:
    examples: dict[str, AnyRecord] = {}
    for value in list(globals().values()):
        if isinstance(value, CloudEvent):
            record_type = value.type
            if record_type in examples:
                raise RuntimeError(f"two examples of {record_type}")
            examples[record_type] = value  # type: ignore[assignment]
    # Catalogue order, so docs list them as the catalogue does.
    return {t: examples[t] for t in RECORD_MODELS if t in examples}


EXAMPLES: dict[str, AnyRecord] = _collect()
"""One example record per record type, keyed by ``type`` (catalogue order)."""
