"""Given the test suite's own source, its shape holds: helpers shared between folders come from
``tests/lifecycle_testing``, no test module imports a conftest or another test module, and no
hand-written polling loop waits outside ``lifecycle_testing.waiting``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from lifecycle_testing.paths import REPOSITORY_ROOT

TESTS = REPOSITORY_ROOT / "tests"
TIERS = {"unit", "integration", "e2e", "chaos"}
WAITING = TESTS / "lifecycle_testing" / "waiting.py"
CLOCKS = {"sleep", "monotonic", "perf_counter", "time"}
# Loops that sleep on purpose and wait for nothing: (file, function) and why.
PACED_LOOPS = {
    ("tests/chaos/load.py", "_produce"): "produces at a steady rate (the load), waits for nothing",
    ("tests/unit/orchestrator/test_faust_fixes.py", "drain"): "a buffer that hands over slowly",
    ("tests/chaos/test_security.py", "raw_answer"): "a slow client (slowloris), by design",
    ("tests/chaos/test_orchestrator_access.py", "publish_paced"): "events flowing during an attack",
    ("tests/integration/orchestrator/test_orchestrator_workers.py", "produce"): (
        "deals flowing while a playbook version is published"
    ),
}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import; ``from a.b import c`` names ``a.b`` and, when
    ``c`` is a test module or a conftest, ``a.b.c``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                if alias.name == "conftest" or alias.name.startswith("test_"):
                    yield node.lineno, f"{node.module}.{alias.name}"


def wrong_import(path: Path, module: str) -> str | None:
    """Why importing ``module`` from ``path`` breaks the layout (None: it does not)."""
    parts = module.split(".")
    if parts[0] not in TIERS:
        return None
    if parts[-1] == "conftest":
        return "imports a conftest (pytest loads it; shared helpers go to lifecycle_testing)"
    if parts[-1].startswith("test_"):
        return "imports a test module (shared helpers go to lifecycle_testing)"
    if tuple(parts[:-1]) != path.parent.relative_to(TESTS).parts:
        return "imports a helper of another folder (shared helpers go to lifecycle_testing)"
    return None


def test_test_modules_import_shared_helpers_only_from_lifecycle_testing() -> None:
    found = [
        f"{path.relative_to(REPOSITORY_ROOT)}:{line}: {module}: {reason}"
        for path, tree in sources()
        for line, module in imported_modules(tree)
        if (reason := wrong_import(path, module)) is not None
    ]
    assert found == []


def called(node: ast.AST) -> str | None:
    """The name a call node calls (``time.sleep`` -> ``sleep``)."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def clock_calls(loop: ast.AST) -> list[str]:
    """What makes a loop a polling loop: a sleep in it, or a clock read compared with
    something (``time.monotonic() < deadline``); a timestamp taken in a loop is neither."""
    sleeps = [name for node in ast.walk(loop) if (name := called(node)) == "sleep"]
    compared = [
        name
        for comparison in ast.walk(loop)
        if isinstance(comparison, ast.Compare)
        for node in ast.walk(comparison)
        if (name := called(node)) in CLOCKS
    ]
    return sleeps + compared


def polling_loops(tree: ast.Module) -> Iterator[tuple[str, int, list[str]]]:
    """(enclosing function, line, clock calls) of every loop that sleeps or reads a clock."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.While | ast.For | ast.AsyncFor) and (
                calls := clock_calls(node)
            ):
                yield function.name, node.lineno, calls


def test_every_wait_goes_through_eventually() -> None:
    found = sorted(
        {
            f"{path.relative_to(REPOSITORY_ROOT)}:{line} in {function}(): {', '.join(calls)}"
            for path, tree in sources()
            if path != WAITING
            for function, line, calls in polling_loops(tree)
            if (str(path.relative_to(REPOSITORY_ROOT)), function) not in PACED_LOOPS
        }
    )
    assert found == [], "poll with lifecycle_testing.waiting.eventually instead"


def test_the_scans_see_what_they_forbid() -> None:
    # The scans themselves, on a sample of what they must catch.
    sample = ast.parse(
        "import time\ndef wait():\n    while not ready():\n        time.sleep(0.1)\n"
    )
    assert [(f, calls) for f, _, calls in polling_loops(sample)] == [("wait", ["sleep"])]
    chaos_test = TESTS / "chaos" / "test_x.py"
    assert wrong_import(chaos_test, "integration.orchestrator.conftest")
    assert wrong_import(chaos_test, "chaos.test_erasure")
    assert wrong_import(chaos_test, "integration.departments.service_helpers")
    assert wrong_import(chaos_test, "chaos.poison") is None
    assert wrong_import(chaos_test, "lifecycle_testing.orchestrator_io") is None
