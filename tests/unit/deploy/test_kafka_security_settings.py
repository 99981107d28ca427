"""The Kafka security model: what combinations it accepts, how each client family gets it, and
the ACLs derived from the topic registry."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from lifecycle_admin.cli import main as admin_main
from lifecycle_schemas.access import DEFAULT_PRINCIPALS, Operation, ResourceType, kafka_acls
from lifecycle_schemas.departments import Department, Service
from lifecycle_schemas.topics import (
    TOPICS,
    actions_topic_for,
    contact_decisions_topic_for,
    events_topic_for,
)
from service_kit.kafka_security import (
    KafkaSecurity,
    SecurityProtocol,
    kafka_security_from_environment,
)
from service_kit.settings_errors import BAD_SETTINGS_EXIT_CODE


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text(Path(ssl.get_default_verify_paths().openssl_cafile).read_text())
    return path


def test_plaintext_is_the_default_and_reads_only_the_kafka_variables() -> None:
    # SSL_CERT_FILE is OpenSSL's own variable, not ours: it must not be taken for a client cert.
    security = kafka_security_from_environment({"SSL_CERT_FILE": "/nowhere"})
    assert security.protocol == SecurityProtocol.PLAINTEXT
    assert security.librdkafka_config() == {"security.protocol": "PLAINTEXT"}
    assert security.python_client_config() == {"security_protocol": "PLAINTEXT"}
    assert security.ssl_context() is None


def test_sasl_ssl_is_translated_for_each_client_family(ca_file: Path) -> None:
    security = kafka_security_from_environment(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "lifecycle-sales",
            "KAFKA_SASL_PASSWORD": "s3cret",
            "KAFKA_SSL_CA_FILE": str(ca_file),
        }
    )
    assert security.librdkafka_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "lifecycle-sales",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(ca_file),
    }
    python = security.python_client_config()
    assert python["sasl_plain_password"] == "s3cret"
    context = python["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert "s3cret" not in repr(security)
    assert "s3cret" not in str(security.describe())


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_USERNAME": "u"}, "uses no SASL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "PLAIN"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "SASL_SSL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/no/such/ca.pem"},
            "KAFKA_SSL_CA_FILE",
        ),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_problem(
    variables: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        kafka_security_from_environment(variables)


def test_a_client_certificate_needs_its_key(ca_file: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        KafkaSecurity(protocol=SecurityProtocol.SSL, ssl_cert_file=ca_file)


def test_lifecycle_admin_with_bad_security_settings_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    assert admin_main(["wait-broker", "--timeout", "1"]) == BAD_SETTINGS_EXIT_CODE
    assert "KAFKA_SASL_MECHANISM" in capsys.readouterr().err


def allowed(principal: str, topic: str, operation: Operation) -> bool:
    return any(
        rule.principal == principal
        and rule.resource_type == ResourceType.TOPIC
        and (rule.name == topic if rule.pattern.value == "literal" else topic.startswith(rule.name))
        and operation in rule.operations
        for rule in kafka_acls("p.")
    )


@pytest.mark.parametrize("department", list(Department))
def test_a_department_writes_only_its_events_and_reads_only_its_actions(
    department: Department,
) -> None:
    principal = DEFAULT_PRINCIPALS[Service(department.value)]
    for other in Department:
        mine = other == department
        assert allowed(principal, events_topic_for(other).name_in("p."), Operation.WRITE) == mine
        assert allowed(principal, actions_topic_for(other).name_in("p."), Operation.READ) == mine
        assert not allowed(principal, actions_topic_for(other).name_in("p."), Operation.WRITE)
        assert not allowed(principal, events_topic_for(other).name_in("p."), Operation.READ)
        # The answers to contact requests: its own department's only.
        answers = contact_decisions_topic_for(other).name_in("p.")
        assert allowed(principal, answers, Operation.READ) == mine
    assert allowed(principal, TOPICS.action_outcomes.name_in("p."), Operation.WRITE)
    assert not allowed(principal, TOPICS.decision_log.name_in("p."), Operation.READ)


def test_the_orchestrator_may_run_faust_and_every_acl_renders_for_strimzi() -> None:
    orchestrator = DEFAULT_PRINCIPALS[Service.ORCHESTRATOR]
    changelog = "p.lifecycle-orchestrator-customers-changelog"
    assert allowed(orchestrator, changelog, Operation.CREATE)
    assert allowed(orchestrator, TOPICS.events_by_customer.name_in("p."), Operation.CREATE)
    for department in Department:
        assert allowed(orchestrator, events_topic_for(department).name_in("p."), Operation.READ)
        assert allowed(orchestrator, actions_topic_for(department).name_in("p."), Operation.WRITE)
    entries = [rule.strimzi() for rule in kafka_acls()]
    assert {"resource": {"type": "cluster"}, "operations": ["Describe"]} in entries
    assert all(entry["operations"] for entry in entries)
