"""Given `make run`'s stack with a 10 % control group, the dashboard shows live data in every view
in headless Chromium (Debian's, driven by Playwright): the proof-of-value report splits treated from
control with intervals and its charts show the treated customers' conversions and revenue, the
siloed run of the same seed has conflicting contacts, the search finds customers by a phone number
and by a bare CRM account id, each decision shows the facts behind it, and the process view shows
every process's owner and received hand-off kinds with hand-offs timed against their SLAs. The
last hour is charted from the workers' samples, rates say their window, missed deadlines stand
against those set, the lift has its interval, and a chosen department and segment show their
own figures. The dashboard and the orchestrator's and a department's API pages (Swagger UI)
render with no request leaving 127.0.0.1.

Screenshots go to ``test-artifacts/dashboard/``; the README's image (``docs/images/dashboard.png``)
is refreshed only when ``LIFECYCLE_UPDATE_README_SCREENSHOT=1`` is set."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import sync_playwright

from lifecycle_testing.kafka import KafkaBroker
from lifecycle_testing.local_stack import local_stack
from lifecycle_testing.paths import REPOSITORY_ROOT
from lifecycle_testing.processes import get_json, poll_json
from lifecycle_testing.waiting import eventually
from orchestrator.core.playbook import DEFAULT_PLAYBOOK_DIR
from service_kit.api_keys import hash_key, new_key

LIVE_DATA_TIMEOUT_S = 120.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPOSITORY_ROOT / "test-artifacts" / "dashboard"
README_SCREENSHOT = REPOSITORY_ROOT / "docs" / "images" / "dashboard.png"
UPDATE_README_SCREENSHOT = os.environ.get("LIFECYCLE_UPDATE_README_SCREENSHOT") == "1"
VIEWS = (
    "flow",
    "history",
    "deadlines",
    "funnel",
    "customer",
    "plays",
    "processes",
    "proof",
    "department",
    "segment",
)
HISTORY_SERIES = 5
HANDOFF_KINDS = {"lead-to-sales", "sale-to-onboarding", "case-escalation", "reassignment"}


def playbook_with_control_group(directory: Path, share: float) -> Path:
    """A copy of the default playbook with the control group switched on."""
    shutil.copytree(DEFAULT_PLAYBOOK_DIR, directory)
    policy = directory / "policy.yaml"
    lines = [
        line
        for line in policy.read_text().splitlines()
        if not line.startswith("control_group_share:")
    ]
    policy.write_text("\n".join([*lines, f"control_group_share: {share}"]) + "\n")
    return directory


def both_groups_and_a_siloed_twin(body: dict[str, Any]) -> bool:
    groups = body["groups"]
    return (
        groups["treated"]["customers"] > 0
        and groups["control"]["customers"] > 0
        and "coordinated" in body["simulation"]
        # The siloed twin reaches its first promotion during an urgent case within 60 days.
        and body["simulation"].get("siloed", {}).get("conflicting_contacts", 0) > 0
        # Real conversions, not zeros: offline, this seed's first treated customer buys on
        # about simulated day 35 and 21 have bought by day 60 (the run's end).
        and groups["treated"]["conversion_rate"]["count"] > 0
        and groups["treated"]["revenue_per_customer_eur"]["value"] > 0
    )


def identifier(card: dict[str, Any], kind: str) -> str | None:
    """The customer's first identifier of ``kind`` on a recent-customer card, if any."""
    return next((i.split(":", 1)[1] for i in card["identifiers"] if i.startswith(f"{kind}:")), None)


# The operator key `make run` writes (set once the stack is up), for the test's own API calls.
OPERATOR: dict[str, str] = {}


def has_decision_facts(base: str, customer_id: str) -> bool:
    """Whether one of the decisions the 360 view shows (the last five) has facts.

    A customer on the card list may be gone by now: the simulated company erases customers
    (404 on every identifier after an erasure), and a customer merged into another answers
    404 by its old id."""
    try:
        body = get_json(
            f"{base}/v1/customers/customer_id:{quote(customer_id, safe='')}/decisions",
            headers=OPERATOR,
        )
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return any(d.get("facts") for d in body["decisions"][-5:])


def with_decision_facts(base: str, cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A card of a customer whose decisions keep facts now, found by its CRM account id now.

    A card lists the identifiers in the customer's state; the lookup by one of them answers
    once the identity agent settled its claim, later under load (a bare CRM id from a card was
    once not found yet)."""
    return next(
        (
            c
            for c in cards
            if (crm := identifier(c, "crm_account_id"))
            and has_decision_facts(base, c["customer_id"])
            and finds(base, crm)
        ),
        None,
    )


def search_targets(base: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(CRM account id, customer id) of a customer whose decisions keep facts, and
    (phone number, customer id) of a customer with a phone: what the test types."""

    def by_phone(cards: list[dict[str, Any]]) -> dict[str, Any] | None:
        # The card list is a few seconds old and the company lives on: the phone still finds
        # them now (people change numbers).
        return next((c for c in cards if (p := identifier(c, "phone")) and finds(base, p)), None)

    cards = poll_json(
        f"{base}/v1/dashboard/customers",
        lambda body: by_phone(body["customers"]) and with_decision_facts(base, body["customers"]),
        LIVE_DATA_TIMEOUT_S,
        headers=OPERATOR,
    )["customers"]
    crm_card, phone_card = with_decision_facts(base, cards), by_phone(cards)
    assert crm_card is not None
    assert phone_card is not None
    return (
        (str(identifier(crm_card, "crm_account_id")), crm_card["customer_id"]),
        (str(identifier(phone_card, "phone")), phone_card["customer_id"]),
    )


def finds(base: str, key: str) -> bool:
    """Whether the customer API finds someone by ``key`` now."""
    try:
        found = get_json(f"{base}/v1/customers/{quote(key, safe='')}", headers=OPERATOR)
        return bool(found["customer_id"])
    except urllib.error.HTTPError:
        return False


def chart_value(page: Any, chart: str, row: str) -> float:
    """The value a proof-of-value bar chart draws for a row (its bar's ``data-value``)."""
    bar = page.locator(f'#proof-charts svg[aria-label="{chart}"] rect[data-label="{row}"]')
    return float(bar.get_attribute("data-value") or "nan")


def page_shows(page: Any, script: str, what: str) -> Any:
    """Until ``script`` (a JavaScript expression) is truthy in the page; its value. The page
    refreshes itself every few seconds; a timeout shows what the expression last gave."""
    return eventually(
        lambda: page.evaluate(script),
        timeout_s=LIVE_DATA_TIMEOUT_S,
        interval_s=0.5,
        what=f"the dashboard showing {what}",
    )


def search(page: Any, base: str, typed: str, customer_id: str) -> None:
    """Type into the 360 view's search box; the card shows ``customer_id`` (or, should a merge
    have happened meanwhile, the customer the API answers for ``typed`` now)."""
    # The previous answer goes first: the same customer may be found twice in a row.
    page.evaluate("document.getElementById('customer-card').replaceChildren()")
    page.fill("#search-input", typed)
    page.click("#search button[type=submit]")
    page_shows(
        page,
        "document.querySelector('#customer-card > *') && "
        "document.getElementById('customer-card').innerText",
        f"a card for {typed!r}",
    )
    assert page.locator("#customer-id").count() == 1, page.locator("#customer-card").inner_text()
    shown = page.locator("#customer-id").inner_text()
    if shown != customer_id:
        again = get_json(f"{base}/v1/customers/{quote(typed, safe='')}", headers=OPERATOR)
        assert shown == again["customer_id"]


def sign_in(page: Any, base: str, key: str) -> None:
    """Open the dashboard and give it a key once, as a person does."""
    page.goto(f"{base}/dashboard")
    page_shows(page, "document.getElementById('login-form').checkVisibility()", "the sign-in form")
    page.fill("#key-input", key)
    page.click("#login-form button[type=submit]")
    page_shows(page, "document.getElementById('views').checkVisibility()", "the views, signed in")


def search_showing_facts(page: Any, base: str, crm_id: str, customer_id: str) -> None:
    """Search by a bare CRM account id; the card shows a facts line for each of the decisions
    it lists (the last five) that has facts, and at least one.

    Compared with the very answer the page rendered: the company lives on, and between the
    test's choice and the page's request the customer may get decisions with no action chosen,
    whose facts are not kept (under load this happened: the card showed none). Then a customer
    whose decisions keep facts now is searched instead.
    """
    targets = [(crm_id, customer_id)]

    def shown_and_expected() -> tuple[int, int]:
        typed, expected_customer = targets[-1]
        with page.expect_response(lambda r: r.url.endswith("/decisions")) as answer:
            search(page, base, typed, expected_customer)
        listed = answer.value.json()["decisions"][-5:]
        shown = page.locator("#customer-card .facts").count()
        expected = sum(1 for d in listed if d.get("facts"))
        if not shown == expected > 0:
            cards = poll_json(
                f"{base}/v1/dashboard/customers",
                lambda body: with_decision_facts(base, body["customers"]),
                LIVE_DATA_TIMEOUT_S,
                headers=OPERATOR,
            )["customers"]
            chosen = with_decision_facts(base, cards)
            assert chosen is not None
            targets.append((str(identifier(chosen, "crm_account_id")), chosen["customer_id"]))
        return shown, expected

    eventually(
        shown_and_expected,
        lambda counts: counts[0] == counts[1] > 0,
        timeout_s=LIVE_DATA_TIMEOUT_S,
        interval_s=0,
        what="a card showing the facts of its decisions (facts lines shown, decisions with facts)",
    )


def check_process_view(page: Any, base: str) -> None:
    """Every process's owner and hand-off kinds are on the page, and some hand-off was timed:
    open ones with their age, or ones taken up in the window with an SLA attainment."""
    processes = get_json(f"{base}/v1/processes", headers=OPERATOR)["processes"]
    assert [p["process"] for p in processes] == ["engage", "transact", "fulfil", "service"]
    rows = page.locator("#process-rows tr[data-process]")
    received = {(p["process"], h["handoff"]) for p in processes for h in p["handoffs"]}
    assert rows.count() == len(received)
    shown = {
        (rows.nth(i).get_attribute("data-process"), rows.nth(i).get_attribute("data-handoff"))
        for i in range(rows.count())
    }
    assert shown == received
    text = page.locator("#process-rows").inner_text()
    assert all(p["owner"]["display_name"] in text for p in processes)
    # The company hands customers over from its first minutes: onboarding after won deals.
    page_shows(
        page,
        "[...document.querySelectorAll('#process-rows tr[data-handoff=\"sale-to-onboarding\"]')]"
        ".some(tr => Number(tr.dataset.open) + Number(tr.dataset.ended) > 0)",
        "sale-to-onboarding hand-offs in the process view",
    )
    page_shows(
        page,
        "[...document.querySelectorAll('#process-rows tr')].some(tr => tr.dataset.attainment)",
        "an SLA attainment in the process view",
    )


def kept_on_this_machine(page: Any) -> list[str]:
    """Every request ``page`` makes from now on, recorded; one leaving 127.0.0.1 is refused."""
    requested: list[str] = []

    def only_here(route: Any) -> None:
        requested.append(route.request.url)
        parts = urlsplit(route.request.url)
        if parts.scheme in ("http", "https") and parts.hostname != "127.0.0.1":
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_here)
    return requested


def none_left_this_machine(requested: list[str]) -> None:
    away = [u for u in requested if urlsplit(u).scheme in ("http", "https")]
    assert away, "the page made no request at all"
    assert [u for u in away if urlsplit(u).hostname != "127.0.0.1"] == []


def swagger_ui_renders_offline(browser: Any, url: str, operations: int) -> None:
    """``url``'s API page renders in Chromium at least ``operations`` operations while every
    request the page makes stays on 127.0.0.1 (any other is refused and recorded)."""
    page = browser.new_page()
    requested = kept_on_this_machine(page)
    page.goto(f"{url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= operations
    none_left_this_machine(requested)
    page.close()


def check_history_and_deadlines(page: Any) -> None:
    """The last hour's charts draw the counters' samples; rates come from a real window;
    missed deadlines stand against those set; the proof of value gives each lift."""
    page_shows(
        page,
        "Number(document.querySelector('#history-charts svg[data-series=\"events_in\"]')"
        "?.dataset.total) > 0",
        "events in the last hour's chart",
    )
    assert page.locator("#history-charts svg").count() == HISTORY_SERIES
    assert "per minute over the last" in page.locator("#flow-window").inner_text()
    share = page_shows(
        page,
        "Number(document.getElementById('deadlines-share').dataset.set) > 0"
        " && document.getElementById('deadlines-share').textContent",
        "missed deadlines against those set",
    )
    assert share.endswith("%")
    lifts = page.locator("#lift-rows tr[data-measure]")
    assert lifts.count() == 5
    conversion = page.locator('#lift-rows tr[data-measure="conversion_rate"]')
    assert conversion.get_attribute("data-lift") != ""
    assert " to " in conversion.locator("td").nth(4).inner_text()


def check_department_and_segment(page: Any, base: str) -> None:
    """A department chosen shows how fast it takes hand-offs up and its open ones; a segment
    chosen shows its budget spent over the last hour, as its manager sees it."""
    history = poll_json(
        f"{base}/v1/dashboard/history",
        lambda b: any(d.get("acknowledged", 0) > 0 for d in b["departments"].values()),
        LIVE_DATA_TIMEOUT_S,
        headers=OPERATOR,
    )
    department = next(n for n, d in history["departments"].items() if d["acknowledged"] > 0)
    page.select_option("#department-select", department)
    page_shows(
        page,
        f"document.querySelector('section#department[data-department=\"{department}\"].live')"
        " && document.getElementById('department-ack').textContent.includes('/')",
        f"{department}'s time to acknowledge",
    )
    assert f"department={department}" in page.url
    assert page.locator("#department-aging svg").count() == 1
    funnel = poll_json(
        f"{base}/v1/dashboard/funnel",
        lambda b: any(v > 0 for v in b["segment_spend_minor"].values()),
        LIVE_DATA_TIMEOUT_S,
        headers=OPERATOR,
    )
    segment = next(s for s, v in funnel["segment_spend_minor"].items() if v > 0)
    page.select_option("#segment-select", segment)
    page_shows(
        page,
        f"document.querySelector('section#segment[data-segment=\"{segment}\"].live')"
        " && Number(document.querySelector('#segment-spend-chart svg').dataset.total) > 0",
        f"segment {segment}'s budget spent over the last hour",
    )


@pytest.mark.alone
def test_dashboard_shows_live_data_in_every_view(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    reports_only = new_key()
    environment = {
        "LIFECYCLE_SIMULATOR_ARGS": "--customers 300 --days-per-minute 90 --rate 300 --sim-days 60",
        "ORCHESTRATOR_PLAYBOOK_DIR": str(playbook_with_control_group(tmp_path / "playbook", 0.1)),
        # Beside the key file make run writes: a key that may read reports but no customer.
        "LIFECYCLE_API_KEYS": json.dumps(
            {
                "keys": [
                    {
                        "id": "e2e-reports",
                        "scopes": ["reports:read"],
                        "sha256": hash_key(reports_only),
                    }
                ]
            }
        ),
    }
    with local_stack(kafka_broker, tmp_path, environment) as stack:
        base = stack.url("ORCHESTRATOR_PORT")
        operator_key = stack.operator_key
        OPERATOR.update(Authorization=f"Bearer {operator_key}")
        report = poll_json(
            f"{base}/v1/reports/proof-of-value",
            both_groups_and_a_siloed_twin,
            LIVE_DATA_TIMEOUT_S,
            headers=OPERATOR,
        )
        for group in ("treated", "control"):
            measures = report["groups"][group]
            rate = measures["conversion_rate"]
            assert rate["n"] == measures["customers"]
            assert 0.0 <= rate["low"] <= rate["value"] <= rate["high"] <= 1.0
            handoff = measures["handoff_hours"]
            assert set(handoff) == {"median", "low", "high", "p90", "n"}
            assert set(measures["handoffs_by_kind"]) == HANDOFF_KINDS
            assert isinstance(measures["missed_deadlines"], int)
        (crm_id, crm_customer), (phone, phone_customer) = search_targets(base)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                requested = kept_on_this_machine(page)
                sign_in(page, base, operator_key)
                # The key became an HttpOnly, SameSite=Strict cookie; the page holds no key.
                [cookie] = page.context.cookies()
                assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
                assert operator_key not in cookie["value"]
                assert page.input_value("#key-input") == ""
                # A phone number as a person types it (spaced), then a bare CRM account id.
                search(page, base, f"{phone[:6]} {phone[6:]}", phone_customer)
                # The "why" of each decision shows the facts behind its chosen actions.
                search_showing_facts(page, base, crm_id, crm_customer)
                assert "segments" in page.locator("#customer-card .facts").first.inner_text()
                for view in VIEWS:
                    page_shows(
                        page,
                        f"document.querySelector('section#{view}.live') !== null",
                        f"live data in the {view} view",
                    )
                # Rates per minute need two samples of the counters; every department's events
                # reach the orchestrator within seconds of each other.
                page_shows(
                    page,
                    "document.getElementById('flow-events').textContent !== '\u2013'"
                    " && document.querySelectorAll('#flow-rows tr').length >= 3",
                    "an event rate and three departments in the flow view",
                )
                assert page.locator("#segment-rows tr").count() > 0
                # Budget spent per segment: the core charges every sent action's cost.
                page_shows(
                    page,
                    "[...document.querySelectorAll('#segment-rows td[data-spent-minor]')]"
                    ".some(td => Number(td.dataset.spentMinor) > 0)",
                    "budget spent in some segment",
                )
                # Plays active: plays with actions open for some segment's members now.
                page_shows(
                    page,
                    "[...document.querySelectorAll('#segment-rows td[data-plays]')]"
                    ".some(td => Number(td.dataset.plays) > 0)",
                    "plays active for some segment",
                )
                assert page.locator("#play-rows tr").count() > 0
                check_process_view(page, base)
                assert page.locator("#proof-charts svg").count() == 7
                # The charts carry the report's real figures (bars drawn from the report).
                assert chart_value(page, "conversion rate", "treated") > 0
                assert chart_value(page, "revenue per customer", "treated") > 0
                assert page.locator("#sim-charts svg").count() == 6
                check_history_and_deadlines(page)
                check_department_and_segment(page, base)
                none_left_this_machine(requested)
                assert page.locator("#customer-id").inner_text()
                assert page.locator("#customer-card .why li").count() > 0
                for view in VIEWS:
                    page.locator(f"section#{view}").screenshot(path=ARTIFACTS / f"{view}.png")
                page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
                if UPDATE_README_SCREENSHOT:  # an explicit step (docs/dashboard.md)
                    shutil.copyfile(ARTIFACTS / "dashboard.png", README_SCREENSHOT)

                # A key without customers:read: the Customer 360 says so, the rest works.
                reader = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                sign_in(reader, base, reports_only)
                forbidden = page_shows(
                    reader,
                    "document.getElementById('customer-forbidden')?.innerText",
                    "the Customer 360 refusing a key without customers:read",
                )
                assert "customers:read" in forbidden
                assert reader.locator("#customer-card").is_hidden()
                for view in (v for v in VIEWS if v != "customer"):
                    page_shows(
                        reader,
                        f"document.querySelector('section#{view}.live') !== null",
                        f"live data in the {view} view to a reports:read key",
                    )
                # The overdue list names no customer to a key without customers:read.
                overdue = reader.locator("#overdue-rows tr")
                assert all(
                    overdue.nth(i).locator("td").nth(2).inner_text() == "\u2013"
                    for i in range(overdue.count())
                )
                reader.locator("section#customer").screenshot(
                    path=ARTIFACTS / "customer-forbidden.png"
                )
                # The API pages work offline: Swagger UI from the services themselves.
                swagger_ui_renders_offline(browser, base, operations=14)
                swagger_ui_renders_offline(browser, stack.url("SALES_PORT"), operations=6)
            finally:
                browser.close()
