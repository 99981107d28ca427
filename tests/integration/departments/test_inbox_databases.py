"""The inbox store on both of its databases: SQLite (embedded) and a real PostgreSQL.

Two stores on one database stand for two replicas of a department service: what must happen
once (an event id claimed, an outcome recorded, a webhook push) happens once, and cursors are
never skipped by a reader paging while both write.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from department_kit.actions import ActionStatus
from department_kit.event_claims import AcceptedEvent, EventClaim, PriorEvent
from department_kit.inbox_db import create_inbox_engine, current_revision
from department_kit.store import DepartmentStore, WebhookState
from lifecycle_schemas.departments import Department
from lifecycle_testing.department_services import fresh_action

NOW = datetime.now(UTC)
WINDOW_START = NOW - timedelta(days=7)
CLAIM_S = timedelta(seconds=15)
LAPSE = NOW + CLAIM_S
LATEST_REVISION = "0003"
DEADLINE_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def inbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    url: str = request.getfixturevalue("postgres_inbox")
    return url


@pytest.fixture
def replicas(inbox_url: str) -> Iterator[tuple[DepartmentStore, DepartmentStore]]:
    with ThreadPoolExecutor(2) as pool:
        # Both migrate at once, as two replicas starting together do.
        first, second = pool.map(DepartmentStore, [inbox_url, inbox_url])
    yield first, second
    first.close()
    second.close()


def test_the_schema_is_at_the_latest_revision_after_two_replicas_started_at_once(
    replicas: tuple[DepartmentStore, DepartmentStore], inbox_url: str
) -> None:
    engine = create_inbox_engine(inbox_url)
    try:
        assert current_revision(engine) == LATEST_REVISION
    finally:
        engine.dispose()


def test_an_id_claimed_by_one_replica_is_pending_for_the_other_until_published(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    first, second = replicas
    accepted = AcceptedEvent("e-1", "t", "topic", 2, 40)
    # Given the first replica claimed the id (committed) and is publishing it.
    with first.claiming(NOW, LAPSE) as claims:
        assert claims.claim([EventClaim("e-1", "t", "digest")], WINDOW_START) == {"e-1"}

    # When the second claims it meanwhile, it is not its own: it sees it pending, at once.
    with second.claiming(NOW, LAPSE) as other:
        assert other.claim([EventClaim("e-1", "t", "digest")], WINDOW_START) == set()
        pending = other.prior(["e-1"])["e-1"]
    assert (pending.digest, pending.pending_until) == ("digest", LAPSE)

    # Then once the first marked it published, the second finds where it went.
    assert first.record_published(claims.token, [accepted]) == 1
    with second.claiming(NOW, LAPSE) as other:
        assert other.claim([EventClaim("e-1", "t", "digest")], WINDOW_START) == set()
        assert other.prior(["e-1"]) == {"e-1": PriorEvent(accepted, "digest")}


def test_concurrent_claims_on_two_replicas_give_each_id_to_one_request(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    ids = [f"e-{n:02d}" for n in range(40)]
    requests = 12

    def claim_some(number: int) -> tuple[str, set[str]]:
        # Overlapping sets in different orders: no deadlock, and no id claimed twice.
        chosen = random.Random(number).sample(ids, 25)
        store = replicas[number % 2]
        with store.claiming(NOW, LAPSE) as claims:
            ours = claims.claim([EventClaim(i, "t", "d") for i in chosen], WINDOW_START)
        return claims.token, ours

    with ThreadPoolExecutor(requests) as pool:
        results = list(pool.map(claim_some, range(requests)))
    owners: dict[str, list[str]] = {}
    for token, ours in results:
        for event_id in ours:
            owners.setdefault(event_id, []).append(token)
    assert all(len(tokens) == 1 for tokens in owners.values()), owners
    claimed_somewhere = {i for n in range(requests) for i in random.Random(n).sample(ids, 25)}
    assert set(owners) == claimed_somewhere


def test_a_claim_given_back_on_one_replica_is_free_for_the_other_and_a_lapsed_one_too(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    first, second = replicas
    with first.claiming(NOW, LAPSE) as given_back:
        assert given_back.claim([EventClaim("e-1", "t", "digest")], WINDOW_START) == {"e-1"}
    with first.claiming(NOW, LAPSE) as crashed:
        assert crashed.claim([EventClaim("e-2", "t", "digest")], WINDOW_START) == {"e-2"}
    first.release_claims(given_back.token, ["e-1"])  # Kafka did not acknowledge it
    with second.claiming(NOW, LAPSE) as claims:
        claimed = claims.claim(
            [EventClaim("e-1", "t", "digest"), EventClaim("e-2", "t", "digest")], WINDOW_START
        )
    assert claimed == {"e-1"}, "e-2's claim has not lapsed"
    after_lapse = LAPSE + timedelta(seconds=1)
    with second.claiming(after_lapse, after_lapse + CLAIM_S) as claims:
        assert claims.claim([EventClaim("e-2", "t", "digest")], WINDOW_START) == {"e-2"}
    assert first.record_published(crashed.token, [AcceptedEvent("e-2", "t", "t", 0, 1)]) == 0


def test_an_action_locked_by_one_replica_is_seen_changed_by_the_other(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    first, second = replicas
    action = fresh_action(Department.MARKETING)
    assert first.add_action(action, NOW, WebhookState.NOT_CONFIGURED)
    assert not second.add_action(action, NOW, WebhookState.NOT_CONFIGURED), "stored once"
    locked = threading.Event()
    release = threading.Event()

    def accept_on_first() -> None:
        with first.changing_action(action.id) as change:
            locked.set()
            assert release.wait(DEADLINE_S)
            change.record_outcome(action.id, ActionStatus.ACCEPTED, {"by": "first"}, NOW)

    def look_on_second() -> ActionStatus:
        with second.changing_action(action.id) as change:
            return change.actions[0].status

    with ThreadPoolExecutor(2) as pool:
        done = pool.submit(accept_on_first)
        assert locked.wait(DEADLINE_S)
        seen = pool.submit(look_on_second)
        with pytest.raises(TimeoutError):
            seen.result(timeout=0.5)
        release.set()
        done.result(DEADLINE_S)
        assert seen.result(DEADLINE_S) == ActionStatus.ACCEPTED


def test_a_reader_paging_by_cursor_while_two_replicas_store_misses_nothing(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    first, second = replicas
    actions = [fresh_action(Department.MARKETING) for _ in range(60)]
    stop = threading.Event()
    seen: list[str] = []

    def page_until_stopped() -> None:
        cursor = 0
        while True:
            finished = stop.is_set()  # read before the page: the last page follows every write
            page = second.list_actions(NOW, after_seq=cursor, limit=7)
            seen.extend(a.action_id for a in page)
            cursor = page[-1].seq if page else cursor
            if finished and not page:
                return

    with ThreadPoolExecutor(5) as pool:
        reader = pool.submit(page_until_stopped)
        writes = [
            pool.submit((first, second)[n % 2].add_action, a, NOW, WebhookState.NOT_CONFIGURED)
            for n, a in enumerate(actions)
        ]
        assert all(write.result(DEADLINE_S) for write in writes)
        stop.set()
        reader.result(DEADLINE_S)
    assert sorted(seen) == sorted(a.id for a in actions), "every action seen exactly once"
    assert first.last_cursor() == second.last_cursor() == len(actions)


def test_two_replicas_lease_disjoint_webhook_pushes_and_expire_each_action_once(
    replicas: tuple[DepartmentStore, DepartmentStore],
) -> None:
    first, second = replicas
    for _ in range(10):
        first.add_action(fresh_action(Department.MARKETING), NOW, WebhookState.PENDING)
    assert second.oldest_open_received_at(NOW) == NOW, "replicas report one inbox age"
    later = NOW + timedelta(days=1)
    with ThreadPoolExecutor(2) as pool:
        leases = list(
            pool.map(
                lambda store: store.lease_webhook_deliveries(later, later + timedelta(minutes=1)),
                (first, second),
            )
        )
    leased = [a.action_id for lease in leases for a in lease]
    assert len(leased) == len(set(leased)) == 10
    assert first.lease_webhook_deliveries(later, later) == [], "leased: not due until it ends"

    holding = threading.Event()
    second_sweeps = threading.Event()

    def sweep_on_first() -> list[str]:
        with first.expiring(later) as change:
            holding.set()
            for action in change.actions:
                change.record_outcome(action.action_id, ActionStatus.EXPIRED, {}, later)
            assert second_sweeps.wait(DEADLINE_S)
            return [a.action_id for a in change.actions]

    def sweep_on_second() -> list[str]:
        assert holding.wait(DEADLINE_S)
        second_sweeps.set()
        # PostgreSQL skips the rows the first sweep holds; SQLite waits for its commit. Either
        # way nothing is left for the second sweep to expire.
        with second.expiring(later) as change:
            return [a.action_id for a in change.actions]

    with ThreadPoolExecutor(2) as pool:
        by_first = pool.submit(sweep_on_first)
        by_second = pool.submit(sweep_on_second)
        assert len(by_first.result(DEADLINE_S)) == 10
        assert by_second.result(DEADLINE_S) == []
    assert second.count_by_status(later)[ActionStatus.EXPIRED] == 10
