"""Given the Helm chart's generated files, they match their sources and grant least privilege.

`make deploy-check` lints, renders and validates the chart against the Kubernetes and CRD
schemas; these checks are the fast half that `make test` runs: the KafkaTopics, KafkaUsers,
PrometheusRule and dashboard files are not stale, the ACLs are what point 2 of issue 14 asks
for, and every alert has a runbook section in deploy/README.md.
"""

from __future__ import annotations

import re

import pytest
import yaml

from lifecycle_admin.helm_chart import acls_for, generated_files, runbook_anchor
from lifecycle_schemas.departments import SERVICE_OF_DEPARTMENT, Department, Service
from lifecycle_schemas.topics import TOPICS, actions_topic_for, events_topic_for
from lifecycle_testing.paths import DEPLOY_DIR, REPOSITORY_ROOT

CHART = DEPLOY_DIR / "helm" / "customer-lifecycle"


def test_the_generated_chart_files_are_fresh() -> None:
    stale = [
        str(path.relative_to(REPOSITORY_ROOT))
        for path, content in generated_files(REPOSITORY_ROOT).items()
        if not path.exists() or path.read_text() != content
    ]
    assert not stale, f"stale, run `make chart`: {stale}"


def test_every_registry_topic_becomes_a_kafka_topic() -> None:
    topics = yaml.safe_load((CHART / "files" / "topics.yaml").read_text())
    assert [t["name"] for t in topics] == [spec.name for spec in TOPICS.all()]
    by_name = {t["name"]: t for t in topics}
    for spec in TOPICS.all():
        assert by_name[spec.name]["partitions"] == spec.partitions
        assert by_name[spec.name]["copartitioned"] == spec.copartitioned
        assert by_name[spec.name]["config"] == spec.topic_config()


def _topic_operations(service: Service) -> dict[str, set[str]]:
    return {
        acl.name: {operation.value for operation in acl.operations}
        for acl in acls_for(service)
        if acl.resource_type.value == "topic" and acl.pattern.value == "literal"
    }


@pytest.mark.parametrize("department", list(Department))
def test_a_department_writes_only_its_events_and_reads_only_its_actions(
    department: Department,
) -> None:
    operations = _topic_operations(SERVICE_OF_DEPARTMENT[department])
    for other in Department:
        own = other is department
        assert ("Write" in operations.get(events_topic_for(other).name, set())) is own
        assert ("Read" in operations.get(actions_topic_for(other).name, set())) is own
        assert "Read" not in operations.get(events_topic_for(other).name, set())
        assert "Write" not in operations.get(actions_topic_for(other).name, set())
    # Nothing of the orchestrator's internal topics, no prefix grants, no cluster rights.
    internal = {spec.name for spec in TOPICS.all() if spec.internal}
    assert not internal & set(operations)
    others = [a for a in acls_for(SERVICE_OF_DEPARTMENT[department]) if a.pattern.value == "prefix"]
    assert all(a.resource_type.value == "group" for a in others)


def test_the_orchestrator_reads_every_event_and_writes_every_action() -> None:
    operations = _topic_operations(Service.ORCHESTRATOR)
    for department in Department:
        assert "Read" in operations[events_topic_for(department).name]
        assert "Write" in operations[actions_topic_for(department).name]
        assert "Write" not in operations[events_topic_for(department).name]
    changelogs = [a for a in acls_for(Service.ORCHESTRATOR) if a.pattern.value == "prefix"]
    assert ("topic", "lifecycle-orchestrator-") in {
        (a.resource_type.value, a.name) for a in changelogs
    }


def test_every_alert_links_a_runbook_section_of_the_production_guide() -> None:
    guide = (DEPLOY_DIR / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", guide, re.MULTILINE)
    }
    rules = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert alerts
    for rule in alerts:
        anchor = runbook_anchor(rule["alert"])
        assert anchor in anchors, f"deploy/README.md has no section `### {rule['alert']}`"
        assert rule["annotations"]["runbook_url"] == f"deploy/README.md#{anchor}"


def test_the_orchestrator_grace_period_outlasts_its_stop_timeout() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["orchestrator"]
    assert values["terminationGracePeriodSeconds"] > values["stopTimeoutSeconds"]
    template = (CHART / "templates" / "orchestrator" / "statefulset.yaml").read_text()
    assert "max $o.terminationGracePeriodSeconds (add $o.stopTimeoutSeconds 10)" in template
