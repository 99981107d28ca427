"""A department's action inbox across service crashes, service restarts and broker restarts.

Actions are produced (with acks) on the department's action topic; the ledger is the list of
acknowledged action ids. After each fault the open inbox (``GET /v1/actions?status=open``,
every page) must hold each of them exactly once: none lost, none shown twice.

The crash is a SIGKILL as soon as the first record of a 200-record batch is stored: the
service consumes in batches and commits a batch's offsets only after storing all of it, so
the restarted service reads the stored records again and the inbox must drop the repeats.
This module runs on a broker of its own (it restarts it).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from chaos.poison import group_lag

from lifecycle_schemas.catalogue import action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import actions_topic_for
from lifecycle_testing.department_services import (
    DevKeys,
    ServiceProcess,
    fresh_action,
    poll_until,
    produce,
)
from lifecycle_testing.kafka import KafkaNamespace, LocalBroker

pytestmark = pytest.mark.kafka
StartService = Callable[..., ServiceProcess]
DEPARTMENT = Department.SERVICE_DESK
# Indexes of ordinary action types in ``fresh_action``'s sorted list (1 is erasure, which would
# purge the other actions of the example customer).
KINDS = (0, 2, 3, 4)


def check_kinds() -> None:
    """The chosen indexes are not erasure actions (the catalogue may grow)."""
    types = sorted(action_types_for(DEPARTMENT))
    assert not any("erase" in types[i] for i in KINDS), types


def open_inbox(service: ServiceProcess, headers: dict[str, str]) -> list[str]:
    """Action ids of every open action in the inbox, page after page, in inbox order."""
    ids: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"status": "open", "limit": 200}
        if after is not None:
            params["after"] = after
        response = httpx.get(
            f"{service.base_url}/v1/actions", params=params, headers=headers, timeout=10
        )
        response.raise_for_status()
        page = response.json()
        ids += [item["action_id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            return ids


def assert_inbox_is(service: ServiceProcess, headers: dict[str, str], ledger: list[str]) -> None:
    """Once every acknowledged action arrived: each exactly once, nothing else."""
    # On timeout the comparison below says what is missing.
    with contextlib.suppress(AssertionError):
        poll_until(lambda: len(set(open_inbox(service, headers))) >= len(ledger), 60, 0.5)
    shown = Counter(open_inbox(service, headers))
    twice = [i for i, n in shown.items() if n > 1]
    assert (set(ledger) - set(shown), set(shown) - set(ledger), twice) == (set(), set(), [])


def test_service_crashes_restarts_and_broker_restarts_lose_no_action_and_show_none_twice(
    own_namespace: KafkaNamespace,
    own_broker: LocalBroker,
    dev_keys: DevKeys,
    start_service: StartService,
    tmp_path: Path,
) -> None:
    bootstrap, prefix = own_namespace.bootstrap_servers, own_namespace.prefix
    topic = own_namespace.topic(actions_topic_for(DEPARTMENT))
    headers = dev_keys.headers(DEPARTMENT)
    data_dir = tmp_path / "inbox"
    ledger: list[str] = []
    check_kinds()

    def send(count: int) -> None:
        actions = [fresh_action(DEPARTMENT, index=KINDS[n % len(KINDS)]) for n in range(count)]
        produce(bootstrap, topic, actions)  # waits for every acknowledgement
        ledger.extend(action.id for action in actions)

    def start(**fault_switches: str) -> ServiceProcess:
        return start_service(DEPARTMENT, bootstrap, prefix, data_dir=data_dir, **fault_switches)

    # 1. SIGKILL between storing a batch and committing it: the test-only switch holds the
    # consumer in that window (docs/configuration.md), so the kill lands there every run.
    send(200)
    crashing = start(LIFECYCLE_FAULT_PAUSE_BEFORE_COMMIT_S="60")
    assert crashing.process is not None
    poll_until(lambda: open_inbox(crashing, headers), 60, 0.02)
    crashing.process.kill()
    crashing.process.wait(10)
    # Stored records whose offsets were never committed: the restart must read them again.
    group = f"{prefix}lifecycle.{DEPARTMENT.value}-service"
    assert group_lag(bootstrap, group, [topic]) > 0, "the crash came after the commit"
    # 2. More actions while the service is down; it restarts on the same inbox.
    send(50)
    restarted = start()
    restarted.wait_ready(60)
    assert_inbox_is(restarted, headers, ledger)

    # 3. A graceful restart (SIGTERM), with actions produced before and after.
    send(25)
    restarted.stop()
    send(25)
    again = start()
    again.wait_ready(60)
    assert_inbox_is(again, headers, ledger)

    # 4. The broker restarted under the running service, then more actions.
    own_broker.stop()
    assert own_broker.start() == bootstrap
    send(50)
    again.wait_ready(60)
    assert_inbox_is(again, headers, ledger)
