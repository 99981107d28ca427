"""Given a worker bound to every interface, other workers reach it by its advertised name."""

from __future__ import annotations

import pytest

from orchestrator.settings import load_settings


def test_the_canonical_url_names_the_advertised_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_HOST", "0.0.0.0")
    monkeypatch.setenv("ORCHESTRATOR_PORT", "8100")
    monkeypatch.setenv("ORCHESTRATOR_ADVERTISED_HOST", "lifecycle-orchestrator-1.workers.ns.svc")
    assert load_settings().canonical_url == "http://lifecycle-orchestrator-1.workers.ns.svc:8100"


def test_without_an_advertised_host_the_bind_address_is_the_canonical_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORCHESTRATOR_ADVERTISED_HOST", raising=False)
    monkeypatch.setenv("ORCHESTRATOR_HOST", "10.1.2.3")
    monkeypatch.setenv("ORCHESTRATOR_PORT", "8111")
    assert load_settings().canonical_url == "http://10.1.2.3:8111"


def test_a_worker_answers_to_its_advertised_name_beside_the_allowed_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Routed reads and /internal/* from other workers carry this Host: refused, they would
    # fail with 400 on every multi-worker deployment whose list leaves the pod names out.
    monkeypatch.setenv("ORCHESTRATOR_HOST", "0.0.0.0")
    monkeypatch.setenv("ORCHESTRATOR_ALLOWED_HOSTS", "lifecycle.example.com")
    monkeypatch.setenv("ORCHESTRATOR_ADVERTISED_HOST", "lifecycle-orchestrator-1.workers.ns.svc")
    assert load_settings().host_allow_list == [
        "lifecycle.example.com",
        "lifecycle-orchestrator-1.workers.ns.svc",
    ]
