"""The catalogue, the models' configuration and the topic registry agree with each other."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from lifecycle_schemas import catalogue
from lifecycle_schemas.actions import Action
from lifecycle_schemas.catalogue import (
    ACTION_TYPES,
    DEPARTMENT_EVENT_TYPES,
    ERASE_ACTION_OF_DEPARTMENT,
    ERASURE_REQUEST_TYPES,
    ORCHESTRATOR_OUTPUT_TYPES,
    OUTCOME_TYPES,
    RECORD_MODELS,
    RecordFamily,
    UnknownRecordTypeError,
    action_types_for,
    data_model_for,
    department_of,
    event_types_for,
    family_of,
    model_for,
)
from lifecycle_schemas.departments import (
    ORCHESTRATOR_SOURCE,
    Department,
    Service,
    department_source,
    source_of,
)
from lifecycle_schemas.envelope import TYPE_PREFIX
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.outcomes import Outcome
from lifecycle_schemas.outputs import OrchestratorRecord
from lifecycle_schemas.topics import (
    TOPICS,
    CleanupPolicy,
    RecordKey,
    TopicSpec,
    actions_topic_for,
    events_topic_for,
    topic_for_type,
)

ALL_TYPES = list(RECORD_MODELS)
TYPE_SHAPE = re.compile(r"^com\.customerlifecycle(\.[a-z0-9][a-z0-9-]*)+\.v[1-9][0-9]*$")

# The issue's minimum catalogue, by the model names we gave it.
REQUIRED_MODELS = {
    Department.MARKETING: {
        "ContactCaptured",
        "CampaignMessageSent",
        "EmailOpened",
        "EmailClicked",
        "WebPageVisited",
        "FormSubmitted",
        "LeadScored",
        "ConsentChanged",
        "Unsubscribed",
        "MarketingErasureRequested",
    },
    Department.SALES: {
        "LeadQualified",
        "OpportunityCreated",
        "OpportunityStageChanged",
        "QuoteIssued",
        "DealWon",
        "DealLost",
        "OrderFulfilled",
        "RenewalDue",
        "AccountOwnerAssigned",
        "SalesErasureRequested",
    },
    Department.SERVICE_DESK: {
        "CaseOpened",
        "CaseEscalated",
        "CaseResolved",
        "FulfilmentProblemReported",
        "SatisfactionReceived",
        "ComplaintReceived",
        "ServiceDeskErasureRequested",
    },
}
REQUIRED_ACTIONS = {
    Department.MARKETING: {
        "SuppressPromotions",
        "ResumePromotions",
        "EnrolInJourney",
        "SendOffer",
        "MarketingErasePersonalData",
    },
    Department.SALES: {
        "CallCustomer",
        "AssignOwner",
        "CreateOpportunity",
        "OfferRetention",
        "SalesErasePersonalData",
    },
    Department.SERVICE_DESK: {
        "PrioritiseCase",
        "AssignSeniorAgent",
        "ProactiveOutreach",
        "StartOnboarding",
        "ServiceDeskErasePersonalData",
    },
}
REQUIRED_OUTCOMES = {
    "ActionAccepted",
    "ActionCompleted",
    "ActionDeclined",
    "ActionFailed",
    "ActionExpired",
}
REQUIRED_OUTPUTS = {
    "CustomerMerged",
    "SegmentEntered",
    "SegmentExited",
    "OwnerChanged",
    "HandoffDeadlineMissed",
    "DecisionRecorded",
    "CustomerProfile",
}


def _names(types: frozenset[str]) -> set[str]:
    return {RECORD_MODELS[t].__name__ for t in types}


@pytest.mark.parametrize("department", list(Department))
def test_each_department_has_at_least_the_issue_catalogue(department: Department) -> None:
    assert REQUIRED_MODELS[department] <= _names(event_types_for(department))
    assert REQUIRED_ACTIONS[department] <= _names(action_types_for(department))


def test_outcomes_and_orchestrator_outputs_are_complete() -> None:
    assert _names(OUTCOME_TYPES) == REQUIRED_OUTCOMES
    assert _names(ORCHESTRATOR_OUTPUT_TYPES) >= REQUIRED_OUTPUTS


def test_families_partition_the_catalogue() -> None:
    families = [DEPARTMENT_EVENT_TYPES, ACTION_TYPES, OUTCOME_TYPES, ORCHESTRATOR_OUTPUT_TYPES]
    assert sum(len(f) for f in families) == len(RECORD_MODELS)
    assert frozenset().union(*families) == frozenset(RECORD_MODELS)
    for department in Department:
        for other in Department:
            if other is not department:
                assert not event_types_for(department) & event_types_for(other)
                assert not action_types_for(department) & action_types_for(other)


def test_the_union_and_the_registry_list_the_same_models() -> None:
    union_members = get_args(get_args(catalogue.AnyRecord)[0])
    assert {m.record_type() for m in union_members} == set(RECORD_MODELS)
    assert len(union_members) == len(RECORD_MODELS)


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_type_strings_are_reverse_dns_and_versioned(record_type: str) -> None:
    assert TYPE_SHAPE.match(record_type)
    assert record_type.startswith(TYPE_PREFIX + ".")
    assert RECORD_MODELS[record_type].record_type() == record_type
    assert model_for(record_type) is RECORD_MODELS[record_type]


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_each_type_names_its_department_and_publisher(record_type: str) -> None:
    model = RECORD_MODELS[record_type]
    family = family_of(record_type)
    department = department_of(record_type)
    sources = model.allowed_sources()
    if family is RecordFamily.DEPARTMENT_EVENT:
        assert issubclass(model, DepartmentEvent)
        assert department is model.department
        assert sources == (department_source(department),)
        assert record_type in event_types_for(department)
    elif family is RecordFamily.ACTION:
        assert issubclass(model, Action)
        assert department is model.department
        assert sources == (ORCHESTRATOR_SOURCE,)
        assert record_type in action_types_for(department)
    elif family is RecordFamily.OUTCOME:
        assert issubclass(model, Outcome)
        assert department is None
        assert set(sources) == {department_source(d) for d in Department}
    else:
        assert issubclass(model, OrchestratorRecord)
        assert department is None
        assert sources == (source_of(Service.ORCHESTRATOR),)


def _models_inside(model: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    pending = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for field in current.model_fields.values():
            pending.extend(_model_classes(field.annotation))
    return seen


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _model_classes(arg)]


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_every_model_is_frozen_strict_and_forbids_unknown_fields(record_type: str) -> None:
    for model in _models_inside(RECORD_MODELS[record_type]):
        config = model.model_config
        assert config.get("frozen") is True, model
        assert config.get("strict") is True, model
        assert config.get("extra") == "forbid", model


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_data_model_is_the_data_field(record_type: str) -> None:
    data_model = data_model_for(record_type)
    assert RECORD_MODELS[record_type].model_fields["data"].annotation is data_model


def test_unknown_types_raise_a_key_error() -> None:
    for lookup in (model_for, family_of, department_of, topic_for_type):
        with pytest.raises(UnknownRecordTypeError):
            lookup("com.customerlifecycle.sales.deal.won.v99")


def test_erasure_flow_reaches_every_department() -> None:
    assert {department_of(t) for t in ERASURE_REQUEST_TYPES} == set(Department)
    for department, model in ERASE_ACTION_OF_DEPARTMENT.items():
        assert model.record_type() in action_types_for(department)


# Topic registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("record_type", ALL_TYPES)
def test_every_type_is_published_to_one_topic_with_the_right_key(record_type: str) -> None:
    spec = topic_for_type(record_type)
    # Reply topics carry copies for one reader (contact decisions): never where a type is published.
    carriers = [
        s for s in TOPICS.all() if record_type in s.value_types and not (s.internal or s.reply)
    ]
    assert carriers == [spec]
    family = family_of(record_type)
    if family is RecordFamily.DEPARTMENT_EVENT:
        department = department_of(record_type)
        assert department is not None
        assert spec is events_topic_for(department)
        assert spec.key is RecordKey.CUSTOMER_REFERENCE
    else:
        assert spec.key is RecordKey.CUSTOMER_ID
    if family is RecordFamily.ACTION:
        department = department_of(record_type)
        assert department is not None
        assert spec is actions_topic_for(department)


@pytest.mark.parametrize("spec", TOPICS.all(), ids=lambda spec: spec.name)
def test_topics_carry_only_catalogued_types(spec: TopicSpec) -> None:
    assert set(spec.value_types) <= set(RECORD_MODELS)
    assert len(set(spec.value_types)) == len(spec.value_types)
    # The dead-letter topic holds any bytes; the orchestrator's identity and command topics hold
    # its private messages (orchestrator.core.messages), the keys topic key records
    # (lifecycle_schemas.shredding), the playbook topic publications
    # (lifecycle_schemas.playbook_versions): none of them contract records.
    if spec in (
        TOPICS.dead_letter,
        TOPICS.identity_messages,
        TOPICS.customer_commands,
        TOPICS.subject_keys,
        TOPICS.playbook_versions,
    ):
        assert spec.value_types == ()
    else:
        assert spec.value_types
    assert spec.name.startswith("lifecycle.")
    assert spec.name_in("t1-") == "t1-" + spec.name
    config = spec.topic_config()
    assert config["cleanup.policy"] == spec.cleanup_policy.value
    assert ("retention.ms" in config) == (spec.retention_ms is not None)


def test_internal_topic_carries_the_department_events_keyed_by_customer_id() -> None:
    spec = TOPICS.events_by_customer
    assert spec.internal
    assert set(spec.value_types) == DEPARTMENT_EVENT_TYPES
    assert spec.key is RecordKey.CUSTOMER_ID


def test_profile_topic_is_compacted() -> None:
    spec = topic_for_type("com.customerlifecycle.orchestrator.customer.profile.v1")
    assert spec is TOPICS.customer_profiles
    assert spec.cleanup_policy is CleanupPolicy.COMPACT
    assert "retention.ms" not in spec.topic_config()


def test_topic_names_are_unique() -> None:
    names = [spec.name for spec in TOPICS.all()]
    assert len(names) == len(set(names))
