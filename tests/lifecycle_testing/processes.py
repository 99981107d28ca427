"""Running real processes in tests: free ports, and waiting on output or HTTP with a deadline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


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


def wait_for_line(
    log_path: Path, text: str, process: subprocess.Popen[Any], timeout_s: float
) -> str:
    """Poll a log file until a line contains `text`; fail early when the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = log_path.read_text(errors="replace") if log_path.exists() else ""
        if text in content:
            return content
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{content}")
        time.sleep(0.2)
    content = log_path.read_text(errors="replace") if log_path.exists() else ""
    raise AssertionError(f"{text!r} did not appear within {timeout_s}s:\n{content}")


def get_json(url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> Any:
    """GET a URL (with ``headers``: an API key) and decode its JSON body."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def poll_json(
    url: str, accept: Any, timeout_s: float, headers: dict[str, str] | None = None
) -> Any:
    """GET a JSON URL until `accept(body)` is true; return that body."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = get_json(url, headers=headers)
            if accept(last):
                return last
        except (urllib.error.URLError, OSError, ValueError) as error:
            last = error
        time.sleep(0.25)
    raise AssertionError(f"{url} did not reach the expected state within {timeout_s}s: {last!r}")
