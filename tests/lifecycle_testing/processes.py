"""Running real processes in tests: free ports, and waiting on output or HTTP with a deadline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from lifecycle_testing.waiting import eventually


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_kafka_script(
    script: Path, *arguments: str, directory: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run one of deploy/local's Kafka scripts on a data directory of the test's own."""
    # Without KAFKA_BOOTSTRAP_SERVERS: with it set, the scripts take it for an outside broker
    # and start none of their own.
    environment = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run(
        [str(script), *arguments, "--dir", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=timeout_s,
    )


def start_logged(
    command: list[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` with its stdout and stderr appended to ``log_path``."""
    log = log_path.open("ab")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def exit_report(
    process: subprocess.Popen[Any], who: str, log_path: Path
) -> Callable[[], str | None]:
    """For ``eventually(give_up=...)``: stop waiting once ``process`` exited; show its log."""

    def exited() -> str | None:
        code = process.poll()
        if code is None:
            return None
        return f"{who} exited with {code}:\n{log_path.read_text(errors='replace')}"

    return exited


def wait_for_line(
    log_path: Path, text: str, process: subprocess.Popen[Any], timeout_s: float
) -> str:
    """Poll a log file until it holds ``text``; return the whole log. Fail at once when the
    process exits first; a timeout shows the log's last lines."""

    def exited() -> str | None:
        code = process.poll()
        return None if code is None else f"the process exited with {code}"

    return eventually(
        lambda: log_path.read_text(errors="replace") if log_path.exists() else "",
        lambda content: text in content,
        timeout_s=timeout_s,
        what=f"{text!r} in {log_path.name}",
        give_up=exited,
        describe=lambda content: "the log's last lines:\n" + "\n".join(content.splitlines()[-40:]),
    )


def get_json(url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> Any:
    """GET a URL (with ``headers``: an API key) and decode its JSON body."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def scraped_samples(base_url: str, timeout_s: float = 5.0) -> list[Sample]:
    """Every sample a service's ``/metrics`` exposes right now (``name`` with its suffix,
    e.g. ``_total`` or ``_count``)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout_s) as response:
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def poll_json(
    url: str,
    accept: Callable[..., object],
    timeout_s: float,
    headers: dict[str, str] | None = None,
) -> Any:
    """GET a JSON URL (with ``headers``: an API key) until ``accept(body)`` is true; return
    that body."""
    return eventually(
        lambda: get_json(url, headers=headers),
        accept,
        timeout_s=timeout_s,
        interval_s=0.25,
        what=f"the expected answer from {url}",
        retry_on=(urllib.error.URLError, OSError, ValueError),
    )
