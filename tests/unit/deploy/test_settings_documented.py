"""Every environment variable a service reads is in its configuration reference.

A setting added without a line in the docs is a knob operators cannot find; this keeps the
reference true as settings come and go.
"""

from __future__ import annotations

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from department_kit.settings import DepartmentSettings, env_prefix
from lifecycle_schemas.departments import Department
from lifecycle_testing.paths import REPOSITORY_ROOT
from orchestrator.settings import OrchestratorSettings
from service_kit.kafka_security import VARIABLES as KAFKA_SECURITY_VARIABLES
from service_kit.server import HttpServerSettings

DOCS = REPOSITORY_ROOT / "docs"
# Per-department variables, read by department_kit.settings.load_settings.
OWN_DEPARTMENT_VARIABLES = ("HOST", "PORT", "WEBHOOK_URL", "WEBHOOK_SECRET")


def variables_of(settings: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads (its aliases)."""
    names = []
    for field in settings.model_fields.values():
        alias = field.alias or field.validation_alias
        if isinstance(alias, str):
            names.append(alias)
        elif isinstance(alias, AliasChoices):
            names.extend(choice for choice in alias.choices if isinstance(choice, str))
    return names


def reference(*pages: str) -> str:
    return "".join((DOCS / page).read_text() for page in pages)


@pytest.mark.parametrize(
    ("settings", "pages"),
    [
        (OrchestratorSettings, ("orchestrator.md", "configuration.md")),
        (DepartmentSettings, ("departments.md", "configuration.md")),
        (HttpServerSettings, ("configuration.md",)),
    ],
)
def test_every_setting_is_documented(settings: type[BaseSettings], pages: tuple[str, ...]) -> None:
    text = reference(*pages)
    variables = variables_of(settings)
    assert len(variables) >= 4
    missing = [name for name in variables if f"`{name}`" not in text]
    assert not missing, f"not in docs/{' or docs/'.join(pages)}: {missing}"


def test_every_kafka_security_variable_is_documented() -> None:
    text = reference("configuration.md")
    assert len(KAFKA_SECURITY_VARIABLES) == 7
    missing = [name for name in KAFKA_SECURITY_VARIABLES if f"`{name}`" not in text]
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_every_per_department_variable_is_documented() -> None:
    text = reference("departments.md")
    missing = [
        f"{env_prefix(department)}{name}"
        for department in Department
        for name in OWN_DEPARTMENT_VARIABLES
        if f"`{env_prefix(department)}{name}`" not in text
    ]
    assert not missing, missing
