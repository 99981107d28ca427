"""The orchestrator's API document and Swagger UI page, from the app built in-process (faust's
app is made, never started: no Kafka is needed to read the routes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lifecycle_testing.api_docs import (
    foreign_or_broken_assets,
    incomplete_operations,
    page_urls,
    undeclared_retry_headers,
)
from orchestrator.access import Access
from orchestrator.api import create_api
from orchestrator.core.playbook import load_playbook
from orchestrator.kafka_setup import ClusterLayout
from orchestrator.metrics import OrchestratorMetrics
from orchestrator.settings import OrchestratorSettings
from orchestrator.streaming import Topology
from orchestrator.worker_port import WorkerPort


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    data_dir: Path = tmp_path_factory.mktemp("orchestrator")
    settings = OrchestratorSettings(ORCHESTRATOR_DATA_DIR=data_dir)
    playbook = load_playbook(settings.playbook_dir)
    topology = Topology(
        settings, playbook, OrchestratorMetrics(playbook.plays), ClusterLayout(8, 1)
    )
    api = create_api(topology, Access(settings), WorkerPort())
    # The orchestrator answers the Host names it is configured with (127.0.0.1 by default).
    return TestClient(api, base_url="http://127.0.0.1")


def test_every_operation_has_a_summary_a_description_and_an_answer_schema(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    assert incomplete_operations(document) == []
    assert undeclared_retry_headers(document) == []
    assert {
        "/v1/customers/{key}",
        "/v1/customers/{key}/timeline",
        "/v1/segments",
        "/v1/reports/proof-of-value",
        "/v1/dashboard/flow",
        "/v1/session",
    } <= set(document["paths"])
    customer = document["paths"]["/v1/customers/{key}"]["get"]["responses"]["200"]
    schema = customer["content"]["application/json"]["schema"]
    assert {"customer_id", "identifiers", "segments", "served_by"} <= set(schema["properties"])
    assert "timeline" not in schema["properties"]  # a route of its own
    assert customer["links"]  # to the timeline and decisions


def test_the_docs_page_loads_everything_from_the_service_itself(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui.css" in page_urls(page.text)
    assert foreign_or_broken_assets(page.text, lambda url: client.get(url).status_code) == []
