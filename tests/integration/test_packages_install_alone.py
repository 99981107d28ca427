"""Given the workspace, each member installs alone and imports with only what it declares.

A module that imports a package its member does not declare works in the shared dev venv and
breaks in production; installing each member into its own venv catches that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lifecycle_testing.paths import REPOSITORY_ROOT

MEMBERS = {
    "lifecycle-schemas": "lifecycle_schemas",
    "lifecycle-admin": "lifecycle_admin",
    "service-kit": "service_kit",
    "department-kit": "department_kit",
    "marketing-service": "marketing_service",
    "sales-service": "sales_service",
    "service-desk-service": "service_desk_service",
    "orchestrator": "orchestrator",
    "company-simulator": "company_simulator",
    "lifecycle-bench": "lifecycle_bench",
}

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if module.name.rsplit(".", 1)[-1] != "__main__":
        importlib.import_module(module.name)
print("imported", package.__name__)
"""


def _uv() -> list[str]:
    # `uv run` tells its children where uv is; otherwise find it on PATH or as a module.
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


@pytest.mark.parametrize(("member", "package"), sorted(MEMBERS.items()))
def test_member_imports_with_only_its_declared_dependencies(
    member: str, package: str, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    environment = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    environment.pop("VIRTUAL_ENV", None)
    sync = subprocess.run(
        [*_uv(), "sync", "--frozen", "--no-dev", "--package", member, "-q"],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sync.returncode == 0, sync.stderr
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_EVERY_MODULE, package],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert f"imported {package}" in imported.stdout
