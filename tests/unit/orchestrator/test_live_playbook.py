"""The live playbook without Kafka: versions numbered and digested, a worker's switch, refusals,
rollback, and every decision naming the version it was made under."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifecycle_schemas.outputs import ContactDecided, DecisionRecorded
from lifecycle_schemas.playbook_versions import PlaybookPublication, playbook_digest
from lifecycle_testing.core_events import EventFactory
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.playbook import (
    DEFAULT_PLAYBOOK_DIR,
    Playbook,
    load_playbook,
    parse_playbook,
    read_playbook_files,
)
from orchestrator.core.segment_edits import UnknownSegmentError, with_segment_budget
from orchestrator.kafka_setup import ClusterLayout
from orchestrator.live_playbook import LivePlaybook
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.playbook_topic import read_record
from orchestrator.settings import OrchestratorSettings
from orchestrator.streaming import Topology

FILES = read_playbook_files()
# The new-lead segment's budget, cut (a change a segment manager makes).
BUDGET_CUT = FILES["segments.yaml"].replace("amount_minor: 150000000", "amount_minor: 1000", 1)


def publication(files: dict[str, str], note: str = "") -> PlaybookPublication:
    return PlaybookPublication(
        files=files,
        digest=playbook_digest(files),
        published_at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        published_by="cli:test",
        note=note,
    )


def record(files: dict[str, str], note: str = "") -> bytes:
    return publication(files, note).model_dump_json().encode()


def test_the_files_are_version_zero_named_by_their_digest() -> None:
    playbook = load_playbook()
    assert playbook.version.number == 0
    assert playbook.version.digest == playbook_digest(FILES)
    assert playbook.version.digest.startswith("sha256:")
    # The same content, the same digest; any change, another.
    assert parse_playbook(dict(FILES), 4).version.digest == playbook.version.digest
    changed = {**FILES, "segments.yaml": BUDGET_CUT}
    assert playbook_digest(changed) != playbook.version.digest
    # A time scale keeps the version it scales.
    assert playbook.time_scaled(1440).version == playbook.version


def test_a_publication_whose_digest_does_not_match_its_files_is_not_one() -> None:
    good = read_record(6, record(dict(FILES)))
    assert good.number == 7
    assert good.publication is not None
    bad = publication(FILES).model_dump(mode="json")
    bad["files"]["plays.yaml"] += "\n# edited after the digest\n"
    edited = read_record(2, json.dumps(bad).encode())
    assert edited.publication is None
    assert "digest does not match" in edited.problem
    assert read_record(3, None).problem == "a tombstone"


def test_a_worker_switches_to_each_version_it_reads_and_keeps_the_history() -> None:
    live = LivePlaybook(load_playbook(), time_scale=1440)
    switched: list[Playbook] = []
    live.on_switch = switched.append
    live.receive(read_record(0, record({**FILES, "segments.yaml": BUDGET_CUT}, "cut")))
    assert [p.version.number for p in switched] == [1]
    assert live.active.version.digest == playbook_digest({**FILES, "segments.yaml": BUDGET_CUT})
    # Under the worker's time scale, as the files' playbook was.
    assert live.active.calendar.time_scale == 1440
    new_lead = next(s for s in live.active.segments if s.budget and s.budget.amount_minor == 1000)
    assert new_lead is not None
    # Rolling back is publishing the earlier files again: a new number, the old digest.
    live.receive(read_record(1, record(dict(FILES), "rollback")))
    assert live.active.version.number == 2
    assert live.active.version.digest == playbook_digest(FILES)
    # A re-read from the start changes nothing.
    live.receive(read_record(0, record({**FILES, "segments.yaml": BUDGET_CUT})))
    assert live.active.version.number == 2
    assert len(switched) == 2
    report = live.report()
    assert report["active"]["number"] == 2
    assert [(v["number"], v["status"], v["note"]) for v in report["history"]] == [
        (2, "active", "rollback"),
        (1, "superseded", "cut"),
        (0, "superseded", ""),
    ]
    assert report["history"][2]["published_by"] == "files"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("plays.yaml", "when: event.score >= 80", "when: event.score >>= 80"), "invalid CEL"),
        (("segments.yaml", "\nsegments:", "\nsegmentz:"), "segments"),
    ],
)
def test_a_version_that_does_not_compile_is_refused_and_changes_nothing(
    edit: tuple[str, str, str], problem: str
) -> None:
    name, old, new = edit
    assert old in FILES[name]
    live = LivePlaybook(load_playbook())
    switched: list[Playbook] = []
    live.on_switch = switched.append
    live.receive(read_record(0, record({**FILES, name: FILES[name].replace(old, new, 1)})))
    assert switched == []
    assert live.active.version.number == 0
    (refused, files) = live.report()["history"]
    assert (refused["number"], refused["status"]) == (1, "refused")
    assert problem in refused["problem"]
    assert files["status"] == "active"
    # Not a publication at all: refused too, and the next good one still applies.
    live.receive(read_record(1, b"{}"))
    live.receive(read_record(2, record(dict(FILES))))
    assert [p.version.number for p in switched] == [3]


def test_every_decision_names_the_version_it_was_made_under(make_event: EventFactory) -> None:
    files = load_playbook()
    cut = parse_playbook({**FILES, "segments.yaml": BUDGET_CUT}, 1)
    engine = LocalEngine(files)
    customer = {"crm_account_id": "crm-live", "email": "live@example.com"}
    first = make_event("sales.deal.won", customer)
    decided = published(engine.submit_event(first, first.time))
    engine.playbook = cut  # the switch, between two records
    second = make_event("sales.deal.won", customer)
    decided_after = published(engine.submit_event(second, second.time))
    request = make_event("marketing.contact.requested", customer)
    decided_after += published(engine.submit_event(request, request.time))

    def versions(records: list[object]) -> set[int]:
        return {
            r.data.playbook.number
            for r in records
            if isinstance(r, DecisionRecorded | ContactDecided) and r.data.playbook is not None
        }

    assert versions(decided) == {0}
    assert versions(decided_after) == {1}
    assert any(isinstance(r, ContactDecided) for r in decided_after)
    logged = [r for r in decided_after if isinstance(r, DecisionRecorded)]
    assert logged
    assert logged[0].data.playbook is not None
    assert logged[0].data.playbook.digest == cut.version.digest


def test_a_switch_reaches_every_part_that_decides_counts_or_reports(tmp_path: Path) -> None:
    settings = OrchestratorSettings(ORCHESTRATOR_DATA_DIR=tmp_path)
    files = load_playbook(DEFAULT_PLAYBOOK_DIR)
    metrics = OrchestratorMetrics(files.plays)
    topology = Topology(settings, files, metrics, ClusterLayout(8, 1), LivePlaybook(files))
    cut = parse_playbook({**FILES, "segments.yaml": BUDGET_CUT}, 5)
    topology.live.receive(read_record(4, record({**FILES, "segments.yaml": BUDGET_CUT})))
    for part in (topology, topology.customer_agent, topology.upkeep, topology.observation):
        assert part.playbook.version == cut.version, part
    assert metrics.registry.get_sample_value("lifecycle_playbook_version") == 5


def test_a_segment_managers_budget_change_is_new_files_that_compile() -> None:
    edited, before = with_segment_budget(
        FILES, "new-lead", {"amount_minor": 1_000, "currency": "EUR", "period": "30d"}, "api:k"
    )
    assert before == {"amount_minor": 40_000_000, "currency": "EUR"}
    playbook = parse_playbook(edited, 9)
    budgets = {s.id: s.budget for s in playbook.segments}
    new_lead = budgets["new-lead"]
    assert new_lead is not None
    assert (new_lead.amount_minor, new_lead.period) == (1_000, "30d")
    # Nothing else changed: every other segment, play and rule as before.
    original = parse_playbook(FILES)
    assert {k: v for k, v in budgets.items() if k != "new-lead"} == {
        s.id: s.budget for s in original.segments if s.id != "new-lead"
    }
    assert (playbook.plays, playbook.policy) == (original.plays, original.policy)
    assert edited["segments.yaml"].startswith("# Segment new-lead's budget last changed by api:k")
    with pytest.raises(UnknownSegmentError):
        with_segment_budget(FILES, "no-such-segment", {"amount_minor": 1}, "api:k")
