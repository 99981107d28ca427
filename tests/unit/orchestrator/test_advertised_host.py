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
