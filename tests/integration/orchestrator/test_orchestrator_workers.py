"""Workers come and go: a restarted worker loses no state; two workers both serve the API; a
playbook version published while events flow switches both without a restart (and back)."""

from __future__ import annotations

import functools
import itertools
import json
import re
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifecycle_schemas.topics import TOPICS
from lifecycle_testing.kafka import KafkaNamespace
from lifecycle_testing.orchestrator_worker import (
    TEST_KEYS,
    Worker,
    orchestrator_command,
    publish_playbook,
)
from lifecycle_testing.processes import poll_json
from lifecycle_testing.waiting import eventually
from orchestrator.cli import main as orchestrator_main
from orchestrator.core.engine import LocalEngine, published
from orchestrator.core.identity import new_customer_id
from orchestrator.core.playbook import load_playbook
from service_kit.api_keys import Scope

pytestmark = pytest.mark.kafka


def test_restarted_worker_keeps_every_customer(
    make_worker: Callable[..., Any], kafka_io: Any, tmp_path: Any
) -> None:
    data_dir = tmp_path / "data"
    worker = make_worker(data_dir)
    ids, customer_id = kafka_io.customer_who_bought("restart")
    before = worker.get(f"/v1/customers/{customer_id}")
    worker.stop()

    restarted = make_worker(data_dir)
    after = poll_json(
        f"{restarted.url}/v1/customers/{customer_id}",
        lambda body: body.get("customer_id") == customer_id,
        30,
        headers=TEST_KEYS.headers(),
    )
    assert after["revenue_to_date_minor"] == before["revenue_to_date_minor"] > 0
    assert after["segments"] == before["segments"]
    # The value learnt before the restart still drives decisions after it.
    kafka_io.publish(
        kafka_io.event(
            "servicedesk.case.opened",
            {"helpdesk_requester_id": ids["desk"], "email": ids["email"]},
            priority="P1",
        )
    )
    kafka_io.read(
        [TOPICS.service_desk_actions.name],
        lambda ms: any(
            v["data"]["play_id"] == "urgent-case-high-value"
            for v in kafka_io.values(ms, customer_id)
        ),
    )
    # And the replayed deal (same event id) is not decided twice.
    onboarding = [
        v
        for v in kafka_io.values(
            kafka_io.read([TOPICS.service_desk_actions.name], lambda ms: True), customer_id
        )
        if v["data"]["play_id"] == "deal-won-onboarding"
    ]
    assert len({v["id"] for v in onboarding}) == 1
    restarted.stop()


@pytest.fixture(scope="module")
def pair(make_worker: Callable[..., Worker]) -> tuple[Worker, Worker]:
    """Two workers sharing the module's partitions (and its playbook topic)."""
    return make_worker(), make_worker()


def test_two_workers_both_serve_every_customer(pair: tuple[Worker, Worker], kafka_io: Any) -> None:
    first, second = pair
    customers = []
    for n in range(12):  # 8 partitions, 2 workers: all on one side is ~1 in 2000
        ids = kafka_io.unique(f"pair{n}")
        customers.append((new_customer_id(f"crm_account_id:{ids['crm']}"), ids["email"]))
        kafka_io.publish(
            kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"], "email": ids["email"]})
        )
    for customer_id, _ in customers:
        kafka_io.wait_for_onboarding(customer_id)
    served_by: set[str] = set()
    deadline = time.monotonic() + 60
    for customer_id, email in customers:
        for worker in (first, second):
            for key in (customer_id, f"email:{email}"):
                body = poll_json(
                    f"{worker.url}/v1/customers/{key}",
                    lambda b, cid=customer_id: b.get("customer_id") == cid,
                    max(1.0, deadline - time.monotonic()),
                    headers=TEST_KEYS.headers(),
                )
                served_by.add(body["served_by"])
    # Both workers own some partitions, and each answered for the other's customers.
    assert served_by == {first.url, second.url}, json.dumps(sorted(served_by))
    # Segment and play counts are summed over both workers, whichever is asked.
    for worker in (first, second):
        segments = worker.get("/v1/segments")
        assert sorted(segments["workers"]) == sorted([first.url, second.url])
        onboarding = next(s for s in segments["segments"] if s["segment_id"] == "onboarding")
        assert onboarding["members"] >= len(customers)
        plays = {p["play_id"]: p for p in worker.get("/v1/plays")["plays"]}
        assert plays["deal-won-onboarding"]["emitted"] >= 2 * len(customers)


# A new version of the onboarding play: its actions carry play_version 2 (and new ids).
ONBOARDING_V2 = ("  - id: deal-won-onboarding\n", "  - id: deal-won-onboarding\n    version: 2\n")
PUBLISHED = re.compile(r"^published playbook version (\d+) \((sha256:[0-9a-f]{64})\)$")


def edited_copy(source: Path, target: Path, name: str, old: str, new: str) -> Path:
    """``source`` copied to ``target`` with ``old`` replaced once in file ``name``."""
    shutil.copytree(source, target)
    text = (target / name).read_text()
    assert old in text, f"{name} no longer contains {old!r}"
    (target / name).write_text(text.replace(old, new, 1))
    return target


def published_version(namespace: KafkaNamespace, directory: Path) -> tuple[int, str]:
    """Publish a playbook directory as an operator does (a process); its number and digest."""
    done = publish_playbook(namespace, directory)
    assert done.returncode == 0, done.stderr
    return version_published(done.stdout)


def version_published(printed: str) -> tuple[int, str]:
    """The number and digest ``orchestrator playbook publish`` printed."""
    match = PUBLISHED.match(printed.strip())
    assert match, printed
    return int(match.group(1)), match.group(2)


Publish = Callable[[Path], tuple[int, str]]


@pytest.fixture
def publish_here(
    namespace: KafkaNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Publish:
    """``orchestrator playbook publish`` run in this process (the same code as the command,
    without a Python start each time: a second or two of CPU saved per publication)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", namespace.bootstrap_servers)
    monkeypatch.setenv("LIFECYCLE_TOPIC_PREFIX", namespace.prefix)

    def publish(directory: Path) -> tuple[int, str]:
        capsys.readouterr()
        status = orchestrator_main(["playbook", "publish", str(directory)])
        printed = capsys.readouterr()
        assert status == 0, printed.err
        return version_published(printed.out)

    return publish


def active_everywhere(workers: tuple[Worker, ...], number: int) -> None:
    """Until every worker says it decides under version ``number``."""
    for worker in workers:
        eventually(
            functools.partial(worker.get, "/v1/playbook"),
            lambda body: body["active"]["number"] == number,
            timeout_s=30,
            interval_s=0.1,
            what=f"{worker.url} switching to playbook version {number}",
        )


class PacedDeals:
    """New-business deals produced with acks at a steady rate in a thread, until ``until``
    deals are in the ledger (the acknowledged ones, in order): every other deal is a new
    customer's, the others earlier customers' next deals."""

    def __init__(self, kafka_io: Any, interval_s: float) -> None:
        self.kafka_io = kafka_io
        self.interval_s = interval_s
        self.people: list[dict[str, str]] = []
        self.customers: list[str] = []
        self.until: int | None = None
        self.ledger: list[Any] = []
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self.produce, daemon=True)

    def produce(self) -> None:
        try:
            for n in itertools.count():
                if self.until is not None and len(self.ledger) >= self.until:
                    return
                if n % 2 == 0:
                    self.people.append(self.kafka_io.unique(f"live{n}"))
                    self.customers.append(
                        new_customer_id(f"crm_account_id:{self.people[-1]['crm']}")
                    )
                person = self.people[-1 if n % 2 == 0 else n // 4]
                event = self.kafka_io.event(
                    "sales.deal.won",
                    {"crm_account_id": person["crm"], "email": person["email"]},
                    opportunity_id=f"opp-{n}",
                )
                self.kafka_io.publish(event)  # waits for Kafka's acknowledgement
                self.ledger.append(event)
                time.sleep(self.interval_s)  # a steady rate, not synchronisation
        except BaseException as error:  # reported by the test thread
            self.failures.append(error)

    def finish_after(self, more: int) -> None:
        """Produce ``more`` deals, then stop."""
        self.until = len(self.ledger) + more
        self.thread.join(timeout=120)
        assert not self.failures, self.failures
        assert len(self.ledger) == self.until


def decisions_of(kafka_io: Any, triggers: set[str]) -> dict[str, set[tuple[str, int]]]:
    """(decision id, playbook version) of every decision-log record about ``triggers``, once
    each trigger has one."""
    records = kafka_io.read(
        [TOPICS.decision_log.name],
        lambda ms: triggers <= {v["data"]["trigger_event_id"] for v in kafka_io.values(ms)},
    )
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for value in kafka_io.values(records):
        trigger = value["data"]["trigger_event_id"]
        if trigger in triggers:
            found[trigger].add((value["id"], value["data"]["playbook"]["number"]))
    return found


def test_a_version_published_while_events_flow_switches_every_worker_without_a_restart(
    pair: tuple[Worker, Worker],
    kafka_io: Any,
    namespace: KafkaNamespace,
    playbook_dir: Path,
    tmp_path: Path,
) -> None:
    processes = [worker.process for worker in pair]
    before = pair[0].get("/v1/playbook")["active"]
    new_dir = edited_copy(playbook_dir, tmp_path / "v2", "plays.yaml", *ONBOARDING_V2)
    load = PacedDeals(kafka_io, interval_s=0.1)
    load.thread.start()
    eventually(
        lambda: len(load.ledger),
        lambda produced: produced >= 6,
        timeout_s=30,
        interval_s=0.05,
        what="the first deals produced",
    )
    number, digest = published_version(namespace, new_dir)
    assert number > before["number"]
    active_everywhere(pair, number)
    # New customers and known ones after both workers switched.
    load.finish_after(8)

    # The same processes: switched, not restarted.
    assert [worker.process for worker in pair] == processes
    assert all(p is not None and p.poll() is None for p in processes)
    for worker in pair:
        body = worker.get("/v1/playbook")
        assert body["active"] == {**body["active"], "number": number, "digest": digest}
        assert body["history"][0]["status"] == "active"
    # Every deal decided once (copies share their id), under one version; a customer's
    # versions only go forward; deals came before and after the switch.
    decided = decisions_of(kafka_io, {event.id for event in load.ledger})
    assert all(len(found) == 1 for found in decided.values()), decided
    version_of = {trigger: next(iter(found))[1] for trigger, found in decided.items()}
    assert set(version_of.values()) == {before["number"], number}
    by_customer: dict[str, list[int]] = defaultdict(list)
    for event in load.ledger:
        by_customer[event.data.customer.crm_account_id].append(version_of[event.id])
    assert all(versions == sorted(versions) for versions in by_customer.values()), by_customer

    # The oracle: the pure core over the ledger, each deal under the version it names, gives
    # exactly the actions the workers sent: none lost, none doubled.
    files = load_playbook(playbook_dir)
    candidate = load_playbook(new_dir)
    oracle = LocalEngine(files)
    expected: Counter[tuple[str, str, str, int]] = Counter()
    for event in load.ledger:
        oracle.playbook = candidate if version_of[event.id] == number else files
        for record in published(oracle.submit_event(event, event.time)):
            if ".action." in record.type:
                expected[
                    (record.subject, record.type, record.data.play_id, record.data.play_version)
                ] += 1
    customers = set(load.customers)
    sent = kafka_io.read(
        [TOPICS.service_desk_actions.name, TOPICS.marketing_actions.name],
        lambda ms: (
            sum(1 for v in kafka_io.values(ms) if v["subject"] in customers)
            >= sum(expected.values())
        ),
    )
    unique_sent = {
        v["id"]: (v["subject"], v["type"], v["data"]["play_id"], v["data"]["play_version"])
        for v in kafka_io.values(sent)
        if v["subject"] in customers
    }
    assert Counter(unique_sent.values()) == expected
    assert {version for *_, version in expected} == {1, 2}


def test_rolling_back_is_publishing_the_previous_files_and_a_broken_one_is_refused(
    pair: tuple[Worker, Worker],
    kafka_io: Any,
    namespace: KafkaNamespace,
    playbook_dir: Path,
    tmp_path: Path,
    publish_here: Publish,
) -> None:
    files_digest = load_playbook(playbook_dir).version.digest
    changed, _ = publish_here(
        edited_copy(playbook_dir, tmp_path / "v2", "plays.yaml", *ONBOARDING_V2)
    )
    active_everywhere(pair, changed)
    # Rolling back: the previous files published again, a new number with the old digest.
    rolled_back, digest = publish_here(playbook_dir)
    assert (rolled_back, digest) == (changed + 1, files_digest)
    active_everywhere(pair, rolled_back)
    history = pair[1].get("/v1/playbook")["history"]
    assert [(v["number"], v["status"]) for v in history[:2]] == [
        (rolled_back, "active"),
        (changed, "superseded"),
    ]
    assert history[-1] == {**history[-1], "number": 0, "digest": files_digest}
    # Decided under the rolled-back version: the onboarding play's first version again.
    _, customer_id = kafka_io.customer_who_bought("rollback")
    onboarding = [
        v
        for v in kafka_io.values(
            kafka_io.read([TOPICS.service_desk_actions.name], lambda ms: True), customer_id
        )
        if v["data"]["play_id"] == "deal-won-onboarding"
    ]
    assert [v["data"]["play_version"] for v in onboarding] == [1]
    log = [
        v
        for v in kafka_io.values(kafka_io.read([TOPICS.decision_log.name], lambda ms: True))
        if v["data"]["customer_id"] == customer_id
    ]
    assert [v["data"]["playbook"]["number"] for v in log] == [rolled_back]

    # A broken playbook is refused before anything is sent: the topic and the workers stay.
    broken = edited_copy(
        playbook_dir, tmp_path / "broken", "plays.yaml", "when: event.score >= 80", "when: )"
    )
    refused = publish_playbook(namespace, broken)
    assert refused.returncode == 1
    assert "plays.yaml:" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"refused: {broken} is not a valid playbook; nothing published"
    )
    assert refused.stdout == ""
    on_topic = kafka_io.read([TOPICS.playbook_versions.name], lambda ms: len(ms) >= rolled_back)
    assert len(on_topic) == rolled_back
    for worker in pair:
        assert worker.get("/v1/playbook")["active"]["number"] == rolled_back


def test_the_diff_replays_the_days_events_and_shows_what_a_budget_cut_changes(
    kafka_io: Any, namespace: KafkaNamespace, playbook_dir: Path, tmp_path: Path
) -> None:
    # A day's worth: customers who bought, then looked at a product (a promotional offer).
    for n in range(6):
        ids = kafka_io.unique(f"diff{n}")
        kafka_io.publish(
            kafka_io.event("sales.deal.won", {"crm_account_id": ids["crm"], "email": ids["email"]}),
            kafka_io.event(
                "marketing.web.page-visited", {"email": ids["email"]}, product_interest="analytics"
            ),
        )
    onboarding_budget = (
        "budget: {amount_minor: 150000000, currency: EUR}\n    when: customer.is_customer"
    )
    cut = edited_copy(
        playbook_dir,
        tmp_path / "cut",
        "segments.yaml",
        onboarding_budget,
        onboarding_budget.replace("150000000", "5000"),
    )
    done = orchestrator_command(
        namespace,
        "playbook",
        "diff",
        str(cut),
        "--since",
        "24h",
        "--only-changed",
        ORCHESTRATOR_PLAYBOOK_DIR=str(playbook_dir),
    )
    assert done.returncode == 0, done.stderr
    header, _, *rows = done.stdout.strip().splitlines()
    assert "department events since" in header
    changed = {row.split()[1]: row for row in rows}
    # Every offer to the new customers is suppressed under the cut: none lost elsewhere.
    offer = changed["product-interest-offer"]
    before, after = (int(n) for n in re.findall(r"(\d+) -> (\d+)", offer)[0])
    assert before > 0, offer
    assert after == 0, offer
    assert "onboarding" in changed
    assert "deal-won-onboarding" not in changed


def test_a_segment_manager_changes_their_budget_and_every_worker_switches(
    pair: tuple[Worker, Worker], playbook_dir: Path, publish_here: Publish
) -> None:
    first, second = pair
    url = f"{first.url}/v1/segments/onboarding"
    manager = {"Authorization": f"Bearer {TEST_KEYS.segment_manager}"}
    body = {"budget": {"amount_minor": 7_500_000, "currency": "EUR"}, "note": "Q1 cut"}
    # A key without the scope, or with it but not naming the segment, changes nothing.
    for headers in (
        TEST_KEYS.headers(Scope.REPORTS_READ),
        TEST_KEYS.headers(Scope.SEGMENTS_WRITE),
        TEST_KEYS.headers(),
    ):
        assert httpx.patch(url, json=body, headers=headers, timeout=30).status_code == 403
    assert (
        httpx.patch(f"{first.url}/v1/segments/new-lead", json=body, headers=manager, timeout=30)
    ).status_code == 403
    # Budget and nothing else; a bad currency is named by its field.
    wrong = httpx.patch(
        url, json={"budget": {"amount_minor": 1, "currency": "eur"}}, headers=manager
    )
    assert wrong.status_code == 422
    assert "/budget/currency" in wrong.text
    assert httpx.patch(url, json={**body, "when": "true"}, headers=manager).status_code == 422

    changed = httpx.patch(url, json=body, headers=manager, timeout=30)
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["budget"] == {"amount_minor": 7_500_000, "currency": "EUR"}
    assert answer["budget_before"]["amount_minor"] == 150_000_000
    active_everywhere(pair, answer["version"])
    for worker in pair:
        segments = {s["segment_id"]: s for s in worker.get("/v1/segments")["segments"]}
        assert segments["onboarding"]["budget"]["amount_minor"] == 7_500_000
        assert segments["new-lead"]["budget"]["amount_minor"] == 40_000_000
    (latest, *_) = second.get("/v1/playbook")["history"]
    assert (latest["published_by"], latest["note"]) == ("api:test-segment-manager", "Q1 cut")
    # Audit-logged by the worker that took the change: who, which segment, what, no customer.
    audit = [
        json.loads(line)
        for line in first.log_path.read_text().splitlines()
        if '"segment changed"' in line
    ]
    assert [(a["key_id"], a["segment_id"], a["version"]) for a in audit] == [
        ("test-segment-manager", "onboarding", answer["version"])
    ]
    # Put back: the module's other tests expect the playbook's own budgets.
    publish_here(playbook_dir)
