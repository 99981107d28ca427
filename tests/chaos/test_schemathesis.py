"""schemathesis against the running services: no 5xx, every answer as the OpenAPI document says.

Each department service and an orchestrator worker run as real processes on free ports against
the session's broker; schemathesis reads their ``/openapi.json`` over HTTP and calls them with
the development keys. Two passes per service: every operation alone (positive and negative
inputs), then stateful sequences that follow the documents' OpenAPI links (inbox -> action ->
outcome -> action; customer -> timeline, decisions). Both are bounded (examples and steps), and
each run must show the links were followed (a linked call answered 200), else it proves nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lifecycle_schemas.catalogue import ERASE_ACTION_OF_DEPARTMENT, action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import actions_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    produce,
)
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_io import Kafka, department_event
from lifecycle_testing.orchestrator_worker import TEST_KEYS, Worker
from lifecycle_testing.playbooks import fast_handoff_playbook_dir
from orchestrator.core.identity import new_customer_id

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
# Everyone treated (no control group): the customer's decisions and timeline are not empty.
playbook_dir = fast_handoff_playbook_dir

# What must hold for every answer; the other built-in checks judge API design choices
# (e.g. ``positive_data_acceptance`` expects any object to be a valid event), not conformance.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Bounds: the whole file runs in about a minute and a half on 2 cores.
EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 6
# The SSE stream never ends by itself; its auth and parameters are the inbox's (tested there).
UNBOUNDED = "/v1/actions/stream"


def hypothesis_settings(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **extra,
    )


def every_operation_alone(schema: Any, headers: dict[str, str]) -> Counter[tuple[str, int]]:
    """Each operation with generated input, positive and negative; answers counted by status."""
    seen: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == UNBOUNDED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(EXAMPLES_PER_OPERATION)
            def call(case: Any) -> None:
                response = case.call(headers=headers, timeout=15)
                seen[(case.operation.label, response.status_code)] += 1
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                call()
            except Unsatisfiable:
                # Nothing to make invalid (an operation without parameters or body).
                assert mode is GenerationMode.NEGATIVE, operation.label
    return seen


def follow_links(
    schema: Any, headers: dict[str, str], leave_out: tuple[str, ...] = ()
) -> Counter[tuple[str, int]]:
    """Stateful scenarios along the OpenAPI links; answers counted by operation and status.
    ``leave_out``: paths whose links would take every step (one chain per run)."""
    seen: Counter[tuple[str, int]] = Counter()
    machine = schema.exclude(path=[UNBOUNDED, *leave_out]).as_state_machine()

    class Authenticated(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers, "timeout": 15}

        def after_call(self, response: Any, case: Any) -> None:
            seen[(case.operation.label, response.status_code)] += 1

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    Authenticated.run(
        settings=hypothesis_settings(STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS)
    )
    return seen


def fill_inbox(namespace: KafkaNamespace, service: ServiceProcess, headers: dict[str, str]) -> None:
    """One action of every type of the department in its inbox, for the links to lead somewhere
    (the erase action left out: once delivered it purges the customer's other actions)."""
    department = service.department
    erase = ERASE_ACTION_OF_DEPARTMENT[department].record_type()
    types = sorted(action_types_for(department))
    actions = [fresh_action(department, i) for i, t in enumerate(types) if t != erase]
    produce(namespace.bootstrap_servers, namespace.topic(actions_topic_for(department)), actions)
    inbox = f"{service.base_url}/v1/actions?limit=200"
    poll_until(lambda: len(httpx.get(inbox, headers=headers).json()["items"]) >= len(actions), 30)


@pytest.mark.parametrize("department", list(Department), ids=lambda d: d.value)
def test_department_service_answers_every_generated_request_as_documented(
    department: Department,
    namespace: KafkaNamespace,
    dev_keys: DevKeys,
    start_service: StartService,
) -> None:
    # No worker answers contact requests here: each gets its fallback after a short wait.
    service = start_service(
        department,
        namespace.bootstrap_servers,
        namespace.prefix,
        DEPARTMENT_CONTACT_TIMEOUT_S="0.02",
    )
    service.wait_ready()
    headers = dev_keys.headers(department)
    fill_inbox(namespace, service, headers)
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json")

    alone = every_operation_alone(schema, headers)
    assert alone[("POST /v1/events", 202)] + alone[("POST /v1/events", 422)] > 0, alone
    linked = follow_links(schema, headers)
    # The links were followed: an action named by an earlier answer was read or answered.
    followed = linked[("GET /v1/actions/{action_id}", 200)] + sum(
        n
        for (label, status), n in linked.items()
        if label == "POST /v1/actions/{action_id}/outcome" and status in (200, 409, 422)
    )
    assert followed > 0, linked


def test_orchestrator_api_answers_every_generated_request_as_documented(
    make_worker: Callable[..., Worker], kafka_io: Kafka
) -> None:
    worker = make_worker()
    crm = f"crm-schemathesis-{uuid.uuid4().hex[:8]}"
    customer_id = new_customer_id(f"crm_account_id:{crm}")
    kafka_io.publish(department_event("sales.deal.won", {"crm_account_id": crm}))
    poll_until(
        lambda: (
            httpx.get(
                f"{worker.url}/v1/customers/{customer_id}", headers=TEST_KEYS.headers()
            ).status_code
            == 200
        ),
        60,
    )
    schema = schemathesis.openapi.from_url(f"{worker.url}/openapi.json")

    @schema.hook
    def map_path_parameters(
        context: Any, path_parameters: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        # Half the generated keys name the known customer, so scenarios start from a 200.
        key = (path_parameters or {}).get("key")
        if isinstance(key, str) and hashlib.sha256(key.encode()).digest()[0] % 2 == 0:
            return {**(path_parameters or {}), "key": customer_id}
        return path_parameters

    # The operator's key (every scope): refusals are tested in test_orchestrator_access.py.
    alone = every_operation_alone(schema, TEST_KEYS.headers())
    assert alone[("GET /v1/customers/{key}", 200)] > 0, alone
    # Two chains of links: a customer's record to its timeline and decisions, and the segments
    # list to a segment's PATCH. Run together, the segments chain took every step.
    linked = follow_links(schema, TEST_KEYS.headers(), leave_out=("/v1/segments/{segment_id}",))
    followed = linked[("GET /v1/customers/{key}/timeline", 200)]
    followed += linked[("GET /v1/customers/{key}/decisions", 200)]
    assert followed > 0, linked
    segments = follow_links(schema, TEST_KEYS.headers(), leave_out=("/v1/customers/{key}",))
    # The operator's key names no segment: a PATCH reached from the list is refused with 403.
    assert segments[("PATCH /v1/segments/{segment_id}", 403)] > 0, segments
