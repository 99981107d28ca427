"""Marketing events: leads, campaign contact, web and e-mail behaviour, consent."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lifecycle_schemas.envelope import CustomerEventData, EventId
from lifecycle_schemas.events.common import (
    ContactRequestedData,
    ErasureRequestedData,
    MarketingEvent,
)
from lifecycle_schemas.identifiers import ExternalId
from lifecycle_schemas.vocabulary import (
    Code,
    ConsentStatus,
    ContactChannel,
    Label,
    Note,
    ValueObject,
    WebUrl,
)

CountryCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 country code."),
]
LanguageTag = Annotated[
    str,
    StringConstraints(min_length=2, max_length=12, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$"),
    Field(description="Preferred language as a short BCP 47 tag, e.g. 'en' or 'de-AT'."),
]


class ContactProfile(ValueObject):
    """What a lead told us about themselves (all personal data)."""

    given_name: Label | None = None
    family_name: Label | None = None
    company: Label | None = None
    job_title: Label | None = None
    country: CountryCode | None = None
    preferred_language: LanguageTag | None = None


class ContactCapturedData(CustomerEventData):
    """A new lead: where it came from and which campaign brought it."""

    lead_source: Code = Field(description="e.g. 'web-form', 'webinar', 'referral', 'trade-show'.")
    campaign_id: ExternalId | None = None
    profile: ContactProfile | None = None


class ContactCaptured(MarketingEvent[ContactCapturedData]):
    """Marketing captured a contact (a lead), with its source and campaign."""

    type: Literal["com.customerlifecycle.marketing.contact.captured.v1"] = (
        "com.customerlifecycle.marketing.contact.captured.v1"
    )


class CampaignMessageSentData(CustomerEventData):
    """One campaign message delivered to the customer."""

    campaign_id: ExternalId
    message_id: ExternalId
    channel: ContactChannel
    promotional: bool = Field(description="Counts towards promotional frequency caps.")
    contact_id: EventId | None = Field(
        default=None,
        description="The contact id of the contact request that allowed this send: its "
        "reservation against the caps ends, the send itself now counts.",
    )


class CampaignMessageSent(MarketingEvent[CampaignMessageSentData]):
    """A campaign message was sent to the customer."""

    type: Literal["com.customerlifecycle.marketing.campaign.message-sent.v1"] = (
        "com.customerlifecycle.marketing.campaign.message-sent.v1"
    )


class EmailOpenedData(CustomerEventData):
    message_id: ExternalId
    campaign_id: ExternalId | None = None


class EmailOpened(MarketingEvent[EmailOpenedData]):
    """The customer opened a marketing e-mail."""

    type: Literal["com.customerlifecycle.marketing.email.opened.v1"] = (
        "com.customerlifecycle.marketing.email.opened.v1"
    )


class EmailClickedData(CustomerEventData):
    message_id: ExternalId
    campaign_id: ExternalId | None = None
    url: WebUrl


class EmailClicked(MarketingEvent[EmailClickedData]):
    """The customer clicked a link in a marketing e-mail."""

    type: Literal["com.customerlifecycle.marketing.email.clicked.v1"] = (
        "com.customerlifecycle.marketing.email.clicked.v1"
    )


class WebPageVisitedData(CustomerEventData):
    url: WebUrl
    page_title: Label | None = None
    product_interest: Code | None = Field(
        default=None, description="The product or product line the page is about."
    )
    session_id: ExternalId | None = None


class WebPageVisited(MarketingEvent[WebPageVisitedData]):
    """A known visitor viewed a page of the website."""

    type: Literal["com.customerlifecycle.marketing.web.page-visited.v1"] = (
        "com.customerlifecycle.marketing.web.page-visited.v1"
    )


class FormSubmittedData(CustomerEventData):
    form_id: ExternalId
    form_name: Label | None = None
    product_interest: Code | None = None
    answers: dict[Code, Label] = Field(
        default_factory=dict, max_length=30, description="Form fields as submitted."
    )


class FormSubmitted(MarketingEvent[FormSubmittedData]):
    """The customer submitted a web form (contact us, demo request, download)."""

    type: Literal["com.customerlifecycle.marketing.form.submitted.v1"] = (
        "com.customerlifecycle.marketing.form.submitted.v1"
    )


class LeadScoredData(CustomerEventData):
    score: int = Field(ge=0, le=100)
    previous_score: int | None = Field(default=None, ge=0, le=100)
    scoring_model: Code


class LeadScored(MarketingEvent[LeadScoredData]):
    """Marketing's lead score for the customer changed (0 cold .. 100 ready to buy)."""

    type: Literal["com.customerlifecycle.marketing.lead.scored.v1"] = (
        "com.customerlifecycle.marketing.lead.scored.v1"
    )


class ConsentChangedData(CustomerEventData):
    channel: ContactChannel
    status: ConsentStatus
    captured_via: Code | None = Field(
        default=None, description="e.g. 'preference-centre', 'web-form', 'phone-call'."
    )
    evidence: Note | None = None


class ConsentChanged(MarketingEvent[ConsentChangedData]):
    """The customer granted or withdrew consent to be contacted on one channel."""

    type: Literal["com.customerlifecycle.marketing.consent.changed.v1"] = (
        "com.customerlifecycle.marketing.consent.changed.v1"
    )


class UnsubscribedData(CustomerEventData):
    channel: ContactChannel
    list_id: ExternalId | None = Field(
        default=None, description="The list left; absent means every marketing list."
    )
    reason: Label | None = None


class Unsubscribed(MarketingEvent[UnsubscribedData]):
    """The customer unsubscribed from marketing on a channel (or from one list)."""

    type: Literal["com.customerlifecycle.marketing.unsubscribed.v1"] = (
        "com.customerlifecycle.marketing.unsubscribed.v1"
    )


class MarketingErasureRequested(MarketingEvent[ErasureRequestedData]):
    """The customer asked marketing to erase their personal data."""

    type: Literal["com.customerlifecycle.marketing.erasure.requested.v1"] = (
        "com.customerlifecycle.marketing.erasure.requested.v1"
    )


class MarketingContactRequested(MarketingEvent[ContactRequestedData]):
    """The marketing department asks whether it may contact the customer now."""

    type: Literal["com.customerlifecycle.marketing.contact.requested.v1"] = (
        "com.customerlifecycle.marketing.contact.requested.v1"
    )
