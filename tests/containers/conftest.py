"""The compose stack, started once for the container tests (make test-containers).

The images come from `make images` (the target builds them first); a test fails, never skips,
when they are missing. The stack's containers' logs go to test-artifacts/containers/ and the
stack is removed (containers, network, volumes) whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifecycle_admin.local_stack import development_cluster_secret, development_keys
from lifecycle_testing.containers import ComposeStack, missing_images
from lifecycle_testing.paths import REPOSITORY_ROOT

ARTIFACTS = REPOSITORY_ROOT / "test-artifacts" / "containers"


@pytest.fixture(scope="session")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    missing = missing_images()
    if missing:
        pytest.fail(f"images missing: {missing}; `make test-containers` builds them", pytrace=False)
    keys_dir = tmp_path_factory.mktemp("compose-keys")
    assert development_keys(keys_dir) is not None
    development_cluster_secret(keys_dir)
    # The services run as their own user: they read the hashed keys (the plain ones stay 0600).
    keys_dir.chmod(0o755)
    stack = ComposeStack.create(keys_dir)
    try:
        started = stack.compose("up", "-d")
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        yield stack
    finally:
        stack.save_logs(ARTIFACTS / stack.project)
        stopped = stack.down()
        assert stopped.returncode == 0, stopped.stderr[-3000:]
