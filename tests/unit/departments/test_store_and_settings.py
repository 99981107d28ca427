"""The durable inbox (SQLite here; PostgreSQL in tests/integration) and the settings."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from department_kit.actions import ActionStatus
from department_kit.cli import main as department_main
from department_kit.event_claims import AcceptedEvent, EventClaim, PriorEvent
from department_kit.inbox_db import (
    HEAD_REVISION,
    MIGRATIONS,
    create_inbox_engine,
    parse_inbox_url,
)
from department_kit.settings import load_settings
from department_kit.store import DepartmentStore, WebhookState
from lifecycle_schemas.catalogue import AnyAction, action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from lifecycle_testing.waiting import eventually
from sales_service.department import SPEC as SALES
from service_kit.settings_errors import BAD_SETTINGS_EXIT_CODE

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# How long the claims of these tests live.
CLAIM_S = timedelta(seconds=15)
LAPSE = NOW + CLAIM_S


def action(index: int, expires_at: datetime) -> AnyAction:
    example: Any = EXAMPLES[sorted(action_types_for(Department.SALES))[index]]
    data = example.data.model_copy(update={"deadline": expires_at, "expires_at": expires_at})
    built: AnyAction = type(example).build(data, id=example.id, time=NOW - timedelta(hours=1))
    return built


def test_an_action_is_stored_once_and_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    store = DepartmentStore(url)
    first = action(0, NOW + timedelta(hours=1))
    assert store.add_action(first, NOW, WebhookState.PENDING)
    assert not store.add_action(first, NOW, WebhookState.PENDING), "a redelivery is a no-op"
    store.close()

    reopened = DepartmentStore(url)
    [stored] = reopened.list_actions(NOW)
    assert (stored.action_id, stored.status, stored.webhook_state) == (
        first.id,
        ActionStatus.OPEN,
        WebhookState.PENDING,
    )
    assert stored.record["id"] == first.id


def test_status_filters_and_counts_report_expiry(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    live, stale = action(0, NOW + timedelta(hours=1)), action(1, NOW - timedelta(seconds=1))
    store.add_action(live, NOW, WebhookState.NOT_CONFIGURED)
    store.add_action(stale, NOW, WebhookState.NOT_CONFIGURED)

    assert [a.action_id for a in store.list_actions(NOW, ActionStatus.OPEN)] == [live.id]
    assert [a.action_id for a in store.list_actions(NOW, ActionStatus.EXPIRED)] == [stale.id]
    counts = store.count_by_status(NOW)
    assert (counts[ActionStatus.OPEN], counts[ActionStatus.EXPIRED]) == (1, 1)


def test_the_inbox_age_is_the_oldest_action_nobody_took_up(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    assert store.oldest_open_received_at(NOW) is None, "an empty inbox has no age"
    taken, waiting = action(0, NOW + timedelta(days=1)), action(1, NOW + timedelta(days=1))
    lapsed = action(2, NOW + timedelta(minutes=1))
    store.add_action(lapsed, NOW - timedelta(hours=3), WebhookState.NOT_CONFIGURED)
    store.add_action(taken, NOW - timedelta(hours=2), WebhookState.NOT_CONFIGURED)
    store.add_action(waiting, NOW - timedelta(hours=1), WebhookState.NOT_CONFIGURED)
    later = NOW + timedelta(minutes=5)
    assert store.oldest_open_received_at(later) == NOW - timedelta(hours=2)
    with store.changing_action(taken.id) as change:
        change.record_outcome(taken.id, ActionStatus.ACCEPTED, {}, later)
    assert store.oldest_open_received_at(later) == NOW - timedelta(hours=1), (
        "accepted and expired actions are not waiting"
    )


def test_an_outcome_is_stored_with_its_locked_action_and_an_exception_stores_nothing(
    tmp_path: Path,
) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    stored = action(0, NOW + timedelta(hours=1))
    store.add_action(stored, NOW, WebhookState.NOT_CONFIGURED)
    with store.changing_action(stored.id) as change:
        assert [a.action_id for a in change.actions] == [stored.id]
        change.record_outcome(stored.id, ActionStatus.ACCEPTED, {"o": 1}, NOW)

    def decline_then_fail() -> None:
        with store.changing_action(stored.id) as change:
            change.record_outcome(stored.id, ActionStatus.DECLINED, {}, NOW)
            raise RuntimeError("the publish failed")

    with pytest.raises(RuntimeError):
        decline_then_fail()
    reloaded = store.get_action(stored.id)
    assert reloaded is not None
    assert (reloaded.status, reloaded.outcome) == (ActionStatus.ACCEPTED, {"o": 1})
    with store.changing_action("no-such-action") as change:
        assert change.actions == []


def test_accepted_event_ids_are_remembered_within_the_window_only(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    accepted = AcceptedEvent("e-1", "t", "topic", 3, 42)
    with store.claiming(NOW, LAPSE) as claims:
        assert claims.claim([EventClaim("e-1", "t", "d1")], NOW - timedelta(days=7)) == {"e-1"}
    assert store.record_published(claims.token, [accepted]) == 1
    with store.claiming(NOW, LAPSE) as claims:
        claimed = claims.claim(
            [EventClaim("e-1", "t", "d2"), EventClaim("e-2", "t", "d3")], NOW - timedelta(days=1)
        )
        assert claimed == {"e-2"}, "e-1 is taken within the window"
        assert claims.prior(["e-1"]) == {"e-1": PriorEvent(accepted, "d1")}
        claims.release(["e-2"])
    with store.claiming(NOW, LAPSE) as claims:
        later = NOW + timedelta(seconds=1)
        assert claims.claim([EventClaim("e-1", "t", "d2")], later) == {"e-1"}, "window passed"
    assert store.forget_accepted_before(NOW + timedelta(seconds=1)) == 1


def test_a_claim_rolled_back_by_an_exception_leaves_the_id_free(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")

    def claim_then_fail() -> None:
        with store.claiming(NOW, LAPSE) as claims:
            claims.claim([EventClaim("e-1", "t", "d1")], NOW - timedelta(days=7))
            raise RuntimeError("the request failed before its claims committed")

    with pytest.raises(RuntimeError):
        claim_then_fail()
    with store.claiming(NOW, LAPSE) as claims:
        assert claims.claim([EventClaim("e-1", "t", "d1")], NOW - timedelta(days=7)) == {"e-1"}


def test_a_pending_claim_is_shown_to_others_until_it_lapses_then_it_is_taken_over(
    tmp_path: Path,
) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    window_start = NOW - timedelta(days=7)
    # Given a claim its holder never marked published (it crashed after the claim committed).
    with store.claiming(NOW, LAPSE) as crashed:
        assert crashed.claim([EventClaim("e-1", "t", "d1")], window_start) == {"e-1"}

    # When another request claims the id before the claim lapses, it is not its own, and it
    # sees the claim pending with its digest and its lapse.
    before_lapse = LAPSE - timedelta(seconds=1)
    with store.claiming(before_lapse, before_lapse + CLAIM_S) as other:
        assert other.claim([EventClaim("e-1", "t", "d1")], window_start) == set()
        [(event_id, prior)] = other.prior(["e-1"]).items()
    assert (event_id, prior.digest, prior.pending_until) == ("e-1", "d1", LAPSE)

    # Then once it lapsed, the next claim takes it over (with its own body's digest).
    after_lapse = LAPSE + timedelta(seconds=1)
    with store.claiming(after_lapse, after_lapse + CLAIM_S) as retry:
        assert retry.claim([EventClaim("e-1", "t", "d2")], window_start) == {"e-1"}
    published = AcceptedEvent("e-1", "t", "topic", 0, 7)
    # And the lapsed holder can no longer mark or give it back; the new holder can.
    assert store.record_published(crashed.token, [published]) == 0
    store.release_claims(crashed.token, ["e-1"])
    assert store.record_published(retry.token, [published]) == 1
    with store.claiming(after_lapse, after_lapse + CLAIM_S) as later:
        assert later.claim([EventClaim("e-1", "t", "d2")], window_start) == set()
        assert later.prior(["e-1"]) == {"e-1": PriorEvent(published, "d2")}


def test_claims_given_back_are_free_at_once_and_only_the_holders_are_given_back(
    tmp_path: Path,
) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    window_start = NOW - timedelta(days=7)
    with store.claiming(NOW, LAPSE) as first:
        assert first.claim([EventClaim(f"e-{n}", "t", "d") for n in range(3)], window_start) == {
            "e-0",
            "e-1",
            "e-2",
        }
    with store.claiming(NOW, LAPSE) as second:
        assert second.claim([EventClaim("e-3", "t", "d")], window_start) == {"e-3"}
    # Kafka did not acknowledge the first request: it gives its claims back (e-3 is not its).
    store.release_claims(first.token, ["e-0", "e-1", "e-2", "e-3"])
    with store.claiming(NOW, LAPSE) as retry:
        claimed = retry.claim([EventClaim(f"e-{n}", "t", "d") for n in range(4)], window_start)
    assert claimed == {"e-0", "e-1", "e-2"}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgres:/nowhere", "not a database URL"),
        ("mysql://db/inbox", "unsupported database 'mysql'"),
        ("postgresql://db", "names its database"),
        ("postgresql+asyncpg://db/inbox", "psycopg"),
        ("sqlite://", "sqlite:///<path of a file>"),
    ],
)
def test_an_unusable_inbox_url_is_one_line_and_exit_status_2(
    url: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEPARTMENT_INBOX_URL", url)
    assert department_main(SALES, ["serve"]) == BAD_SETTINGS_EXIT_CODE
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("DEPARTMENT_INBOX_URL: ")
    assert problem in lines[0]
    assert len(lines) == 2, lines  # the problem, then where settings are documented


def test_postgresql_urls_use_psycopg() -> None:
    parsed = parse_inbox_url("postgresql://inbox:secret@db.internal:5433/sales")
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 5433, "sales")


def test_a_connection_to_a_new_inbox_file_being_written_waits_to_switch_it_to_wal(
    tmp_path: Path,
) -> None:
    # Switching a file to WAL takes its exclusive lock, and SQLite answers "database is locked"
    # at once instead of waiting for it: two replicas (or a pool's first two connections)
    # opening a new file together had one of them fail.
    path = tmp_path / "inbox.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE first_write (x)")
    writer.execute("BEGIN IMMEDIATE")  # a write under way; the file not in WAL mode yet
    engine = create_inbox_engine(f"sqlite:///{path}")
    switches: list[str] = []

    @sa.event.listens_for(engine, "connect", insert=True)  # before the engine's own pragmas
    def trace_switches(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(
            lambda sql: switches.append(sql) if "journal_mode=WAL" in sql else None
        )

    with ThreadPoolExecutor(1) as pool:
        connecting = pool.submit(engine.connect)
        # The switch was refused once and is being asked again (or the connect gave up).
        eventually(
            lambda: len(switches) >= 2 or connecting.done(),
            timeout_s=30,
            what="a second attempt to switch the file to WAL",
        )
        writer.execute("COMMIT")
        with connecting.result(timeout=60) as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    writer.close()


def test_an_inbox_made_before_versioned_migrations_is_adopted_with_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(PRE_MIGRATION_SCHEMA)
    old.execute(
        "INSERT INTO actions (action_id, action_type, customer_id, priority, deadline, "
        "expires_at, received_at, status, record, webhook_state) "
        "VALUES ('a-1', 't', 'c-1', 'high', 1, 2, 0, 'open', ?, 'not-configured')",
        (json.dumps({"id": "a-1"}),),
    )
    old.execute(
        "INSERT INTO accepted_events VALUES ('e-1', 't', 'topic', 0, 7, ?)", (NOW.timestamp(),)
    )
    old.commit()
    old.close()

    store = DepartmentStore(f"sqlite:///{path}")

    assert [a.action_id for a in store.list_actions(NOW)] == ["a-1"]
    assert store.last_cursor() == 1, "new actions continue after the old ones"
    assert store.add_action(action(0, NOW + timedelta(hours=1)), NOW, WebhookState.PENDING)
    assert [a.seq for a in store.list_actions(NOW)] == [1, 2]
    with store.claiming(NOW, LAPSE) as claims:
        prior = claims.prior(["e-1"])
    assert prior["e-1"].digest is None, "a row from before digests is answered as a replay"
    assert prior["e-1"].pending_until is None, "a row from before claims is a published one"


# The schema the service created before versioned migrations (for the adoption test).
PRE_MIGRATION_SCHEMA = """
CREATE TABLE actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, action_id TEXT NOT NULL UNIQUE,
    action_type TEXT NOT NULL, customer_id TEXT NOT NULL, priority TEXT NOT NULL,
    deadline REAL NOT NULL, expires_at REAL NOT NULL, received_at REAL NOT NULL,
    status TEXT NOT NULL, record TEXT NOT NULL, outcome_record TEXT, outcome_at REAL,
    webhook_state TEXT NOT NULL, webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX actions_by_status ON actions (status, seq);
CREATE INDEX actions_by_webhook ON actions (webhook_state, webhook_next_at);
CREATE TABLE accepted_events (
    event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, topic TEXT NOT NULL,
    partition INTEGER NOT NULL, offset INTEGER NOT NULL, accepted_at REAL NOT NULL
);
CREATE INDEX accepted_events_by_time ON accepted_events (accepted_at);
CREATE TABLE import_checkpoints (file_key TEXT PRIMARY KEY, line INTEGER NOT NULL);
"""


def test_settings_come_from_shared_and_department_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERVICE_DESK_PORT", "9103")
    monkeypatch.setenv("SERVICE_DESK_HOST", "0.0.0.0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("LIFECYCLE_TOPIC_PREFIX", "blue.")
    monkeypatch.setenv("DEPARTMENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DEPARTMENT_PUBLISH_TIMEOUT_S", "2.5")
    monkeypatch.setenv("SALES_PORT", "1")  # another department's variable is not read

    settings = load_settings(Department.SERVICE_DESK)

    assert (settings.host, settings.port) == ("0.0.0.0", 9103)
    assert settings.kafka_bootstrap_servers == "broker:9092"
    assert settings.group_id == "blue.lifecycle.service-desk-service"
    assert settings.inbox_database == f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    assert settings.publish_timeout_s == 2.5
    with pytest.raises(Exception, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_settings_defaults_are_safe_for_a_local_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "LIFECYCLE_TOPIC_PREFIX",
        "MARKETING_PORT",
        "MARKETING_HOST",
        "DEPARTMENT_DATA_DIR",
        "DEPARTMENT_INBOX_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(Department.MARKETING)
    assert (settings.host, settings.port) == ("127.0.0.1", 8101)
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.inbox_database == "sqlite:///.cache/marketing/inbox.sqlite3"
    assert (settings.max_batch_events, settings.max_body_bytes) == (500, 1024 * 1024)


def test_a_service_with_bad_settings_names_each_variable_and_no_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEPARTMENT_MAX_BATCH_EVENTS", "lots")
    monkeypatch.setenv("LIFECYCLE_SHREDDING", "true")
    monkeypatch.setenv("LIFECYCLE_SHREDDING_SECRET", "tiny-secret")  # under 16 characters
    assert department_main(SALES, ["serve"]) == BAD_SETTINGS_EXIT_CODE
    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        "DEPARTMENT_MAX_BATCH_EVENTS: Input should be a valid integer, unable to parse string as"
        " an integer",
        "LIFECYCLE_SHREDDING_SECRET: Value should have at least 16 items after validation, not 11",
        "2 problem(s) in the settings of the sales service (docs/configuration.md)",
    ]
    assert "tiny-secret" not in printed.out + printed.err


def test_the_head_revision_constant_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
