"""Who may do what on Kafka: the ACLs of each service's principal, derived from the registry.

A service may write the topics the registry lists it as a producer of and read the topics it
lists it as a consumer of (so a department writes only its own event topic among the event
topics and reads only its own action topic among the action topics), read through its own
consumer group, and, for the orchestrator, create and use its internal topics and faust's
(table changelogs, the assignor's leader topic: names starting with the app id).

The one list for every place that grants them: ``lifecycle-admin create-acls`` (a self-run
cluster), the Helm chart's Strimzi ``KafkaUser`` resources, and the secured-broker tests.
An operator principal (``lifecycle-admin create-topics``, the ACLs themselves) is not here:
it is the cluster's administrator (a super user, or Strimzi's topic operator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from lifecycle_schemas.departments import SERVICE_OF_DEPARTMENT, Department, Service
from lifecycle_schemas.topics import TOPICS

# The user name of each service's credentials (KAFKA_SASL_USERNAME, or the CN of its client
# certificate). A deployment whose provider names its users may pass its own.
DEFAULT_PRINCIPALS: dict[Service, str] = {
    Service.MARKETING: "lifecycle-marketing",
    Service.SALES: "lifecycle-sales",
    Service.SERVICE_DESK: "lifecycle-service-desk",
    Service.ORCHESTRATOR: "lifecycle-orchestrator",
}
# The orchestrator's faust app id, without the namespace prefix (its consumer group, and the
# start of every topic faust creates).
ORCHESTRATOR_APP_ID = "lifecycle-orchestrator"


class ResourceType(StrEnum):
    """Kafka resource types, spelled as Strimzi's ``KafkaUser`` spells them."""

    TOPIC = "topic"
    GROUP = "group"
    CLUSTER = "cluster"


class PatternType(StrEnum):
    """How a resource name matches (Strimzi's ``patternType``)."""

    LITERAL = "literal"
    PREFIX = "prefix"


class Operation(StrEnum):
    """Kafka ACL operations (Strimzi's spelling)."""

    READ = "Read"
    WRITE = "Write"
    CREATE = "Create"
    DESCRIBE = "Describe"
    DESCRIBE_CONFIGS = "DescribeConfigs"


@dataclass(frozen=True)
class KafkaAcl:
    """One allow rule: ``principal`` may do ``operations`` on a resource."""

    principal: str
    resource_type: ResourceType
    name: str
    pattern: PatternType
    operations: tuple[Operation, ...]

    def strimzi(self) -> dict[str, object]:
        """This rule as an entry of a Strimzi ``KafkaUser``'s ``spec.authorization.acls``."""
        resource: dict[str, object] = {"type": self.resource_type.value}
        if self.resource_type != ResourceType.CLUSTER:
            resource["name"] = self.name
            resource["patternType"] = self.pattern.value
        return {"resource": resource, "operations": [o.value for o in self.operations]}


def department_group(department: Department, prefix: str = "") -> str:
    """The consumer group of a department service's action consumer."""
    return f"{prefix}lifecycle.{department.value}-service"


def kafka_acls(
    prefix: str = "", principals: Mapping[Service, str] = DEFAULT_PRINCIPALS
) -> list[KafkaAcl]:
    """Every allow rule of every service, for topics under the namespace ``prefix``."""
    rules: list[KafkaAcl] = []
    for service in Service:
        principal = principals[service]
        for spec in TOPICS.all():
            operations: list[Operation] = []
            if service in spec.producers:
                operations.append(Operation.WRITE)
            if service in spec.consumers:
                operations.append(Operation.READ)
            if operations:
                if service == Service.ORCHESTRATOR and spec.internal:
                    operations.append(Operation.CREATE)  # made by the worker when missing
                rules.append(
                    KafkaAcl(
                        principal,
                        ResourceType.TOPIC,
                        spec.name_in(prefix),
                        PatternType.LITERAL,
                        (*operations, Operation.DESCRIBE),
                    )
                )
    for department, service in SERVICE_OF_DEPARTMENT.items():
        rules.append(
            KafkaAcl(
                principals[service],
                ResourceType.GROUP,
                department_group(department, prefix),
                PatternType.LITERAL,
                (Operation.READ,),
            )
        )
    orchestrator = principals[Service.ORCHESTRATOR]
    app_id = f"{prefix}{ORCHESTRATOR_APP_ID}"
    rules += [
        KafkaAcl(
            orchestrator,
            ResourceType.TOPIC,
            f"{app_id}-",
            PatternType.PREFIX,
            (
                Operation.READ,
                Operation.WRITE,
                Operation.CREATE,
                Operation.DESCRIBE,
                Operation.DESCRIBE_CONFIGS,
            ),
        ),
        KafkaAcl(orchestrator, ResourceType.GROUP, app_id, PatternType.LITERAL, (Operation.READ,)),
        # The worker reads the cluster's size to choose the replication factor.
        KafkaAcl(
            orchestrator,
            ResourceType.CLUSTER,
            "kafka-cluster",
            PatternType.LITERAL,
            (Operation.DESCRIBE,),
        ),
    ]
    return rules
