"""The durable inbox (SQLite) and the settings read from the environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from department_kit.actions import ActionStatus
from department_kit.cli import main as department_main
from department_kit.settings import load_settings
from department_kit.store import AcceptedEvent, DepartmentStore, WebhookState
from lifecycle_schemas.catalogue import AnyAction, action_types_for
from lifecycle_schemas.departments import Department
from lifecycle_schemas.examples import EXAMPLES
from sales_service.department import SPEC as SALES
from service_kit.settings_errors import BAD_SETTINGS_EXIT_CODE

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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


def test_an_outcome_is_recorded_only_from_the_expected_status(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    stored = action(0, NOW + timedelta(hours=1))
    store.add_action(stored, NOW, WebhookState.NOT_CONFIGURED)
    assert store.record_outcome(stored.id, ActionStatus.OPEN, ActionStatus.ACCEPTED, {"o": 1}, NOW)
    assert not store.record_outcome(stored.id, ActionStatus.OPEN, ActionStatus.DECLINED, {}, NOW)
    reloaded = store.get_action(stored.id)
    assert reloaded is not None
    assert (reloaded.status, reloaded.outcome) == (ActionStatus.ACCEPTED, {"o": 1})


def test_accepted_event_ids_are_remembered_within_the_window_only(tmp_path: Path) -> None:
    store = DepartmentStore(f"sqlite:///{tmp_path / 'inbox.sqlite3'}")
    accepted = AcceptedEvent("e-1", "t", "topic", 3, 42)
    store.record_accepted([accepted], NOW, NOW - timedelta(days=7))
    assert store.accepted_events(["e-1", "e-2"], NOW - timedelta(days=1)) == {"e-1": accepted}
    assert store.accepted_events(["e-1"], NOW + timedelta(seconds=1)) == {}


def test_only_sqlite_urls_are_supported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite"):
        DepartmentStore(f"postgresql://{tmp_path}")


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
