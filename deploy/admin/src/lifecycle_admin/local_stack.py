"""`make run`: the whole system on this machine, with a real broker and a real Prometheus.

Starts (or reuses) the local Kafka broker, creates the registry's topics (under
`LIFECYCLE_TOPIC_PREFIX`, which the services it starts read too), starts Prometheus
and every service that exists, prints where each listens, and on Ctrl-C stops them all in
reverse order. Logs go to .cache/logs/.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from lifecycle_admin.kafka_admin import (
    create_topics,
    partitions_from_environment,
    wait_for_broker,
)
from lifecycle_admin.stack import (
    KAFKA_PORT,
    PROMETHEUS_PORT,
    SERVICES,
    StackService,
    module_exists,
)
from service_kit.kafka_security import KafkaSecurity

# How long the runner waits for an outside broker, then for each process it started to answer.
BROKER_TIMEOUT_S = 30.0
HEALTH_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0


def repository_root() -> Path:
    """The checkout this package runs from (it is installed editable by uv)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "local" / "kafka").exists():
            return parent
    raise RuntimeError("cannot find the repository root (deploy/local/kafka) above " + str(here))


@dataclass
class RunningProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str
    health_path: str | None = "/healthz"


# The start-up lines' first column: wide enough for "orchestrator" and "service-desk".
LABEL_WIDTH = 14
SIMULATOR_MODULE = "company_simulator.cli"
# make run's speed: one simulated day per real minute. A company already running at t=0 fills
# the dashboard in the first minute; the simulated year plays out in six hours. The one value
# both the simulator (--days-per-minute) and the orchestrator (ORCHESTRATOR_TIME_SCALE) get.
SIMULATED_DAYS_PER_MINUTE = 1.0
SIMULATOR_ARGUMENTS = ("--sim-days", "365", "--rate", "200")
MINUTES_PER_DAY = 24 * 60


def status_line(label: str, text: str) -> None:
    """One line of the start-up table: a label column, then what it says."""
    print(f"{label:<{LABEL_WIDTH}}{text}")


def simulator_arguments() -> list[str]:
    """The simulator's options: `LIFECYCLE_SIMULATOR_ARGS` (space-separated) or the default.

    The speed comes first, so an override's own `--days-per-minute` (argparse keeps the last)
    wins, and `time_scale` below reads the same value the simulator will use.
    """
    override = os.environ.get("LIFECYCLE_SIMULATOR_ARGS")
    chosen = override.split() if override else list(SIMULATOR_ARGUMENTS)
    return ["--days-per-minute", f"{SIMULATED_DAYS_PER_MINUTE:g}", *chosen]


def time_scale(arguments: list[str]) -> float:
    """Simulated seconds per real second for these simulator options (the last speed given)."""
    days_per_minute = SIMULATED_DAYS_PER_MINUTE
    for index, argument in enumerate(arguments):
        if argument == "--days-per-minute" and index + 1 < len(arguments):
            days_per_minute = float(arguments[index + 1])
        elif argument.startswith("--days-per-minute="):
            days_per_minute = float(argument.partition("=")[2])
    return days_per_minute * MINUTES_PER_DAY


def development_keys(directory: Path) -> tuple[Path, Path] | None:
    """Local API keys for every service: (hashed file, plain file), if they exist.

    The services' shared library writes them (a key per department and ``local-operator``);
    the runner only asks for them, so this tool does not depend on the services it starts.
    """
    if not module_exists("service_kit.api_keys"):
        return None
    api_keys = importlib.import_module("service_kit.api_keys")
    hashed = Path(api_keys.write_development_keys(directory))
    return hashed, hashed.parent / str(api_keys.PLAIN_KEYS_FILE_NAME)


# The compose stack's orchestrator reads its cluster secret from this file (env_file), kept in
# the key directory beside the hashed keys.
CLUSTER_SECRET_ENV_FILE = "orchestrator.env"  # noqa: S105 (a file name)


def development_cluster_secret(directory: Path) -> Path:
    """Write ``ORCHESTRATOR_CLUSTER_SECRET=<random>`` to ``directory/orchestrator.env`` once
    (owner-only) and return the file; an existing one is kept, so restarts keep sessions."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CLUSTER_SECRET_ENV_FILE
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f"ORCHESTRATOR_CLUSTER_SECRET={secrets.token_urlsafe(32)}\n")
    return path


def port_of(service: StackService) -> int:
    """The service's port, overridable by its environment variable."""
    return int(os.environ.get(service.port_env, service.port))


def local_prometheus_config(root: Path) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its targets pointed at this machine's ports."""
    source = root / "deploy" / "prometheus" / "prometheus.yml"
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    ports = {service.name: port_of(service) for service in SERVICES}
    prometheus_port = int(os.environ.get("PROMETHEUS_PORT", PROMETHEUS_PORT))
    ports["prometheus"] = prometheus_port
    for job in config["scrape_configs"]:
        port = ports.get(job["job_name"])
        if port is None:
            continue
        for static in job.get("static_configs", []):
            static["targets"] = [f"127.0.0.1:{port}"]
    config["rule_files"] = [str(root / "deploy" / "prometheus" / "rules" / "*.yml")]
    return config


def _wait_http_ok(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status < 500:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


class _StopRequestedError(Exception):
    """Ctrl-C or SIGTERM arrived: stop the stack in order."""


class _StopOnFirstSignal:
    # A Ctrl-C reaches the runner twice (from the terminal and forwarded by `uv run`): the
    # first starts the orderly stop, later ones must not interrupt it.
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if not self.requested:
            self.requested = True
            raise _StopRequestedError


def run_local_stack(with_simulator: bool = True, security: KafkaSecurity | None = None) -> int:
    """Run everything until Ctrl-C; return the exit status."""
    started_at = time.monotonic()
    root = repository_root()
    cache = Path(os.environ.get("LIFECYCLE_STATE_DIR", root / ".cache"))
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Installed explicitly: a runner started in the background inherits SIGINT ignored.
    stop_handler = _StopOnFirstSignal()
    signal.signal(signal.SIGINT, stop_handler)
    signal.signal(signal.SIGTERM, stop_handler)

    kafka_script = root / "deploy" / "local" / "kafka"
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    started_kafka = False
    running: list[RunningProcess] = []
    try:
        if external:
            bootstrap = external
            wait_for_broker(bootstrap, BROKER_TIMEOUT_S, security=security)
        else:
            env = {**os.environ, "KAFKA_PORT": os.environ.get("KAFKA_PORT", str(KAFKA_PORT))}
            result = subprocess.run(
                [str(kafka_script), "start"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                start_new_session=True,
            )
            if result.returncode != 0:
                print(result.stderr, file=sys.stderr)
                print("make run: the Kafka broker did not start", file=sys.stderr)
                return 1
            bootstrap = result.stdout.strip().splitlines()[-1]
            started_kafka = True
        # The services read the same variable: every topic, consumer group and changelog of
        # this stack lives under it, apart from any other stack on the same cluster.
        prefix = os.environ.get("LIFECYCLE_TOPIC_PREFIX", "")
        created = create_topics(
            bootstrap, prefix=prefix, partitions=partitions_from_environment(), security=security
        )
        topics_created = sum(t.created for t in created)
        namespace = f", prefix {prefix!r}" if prefix else ""
        status_line(
            "kafka",
            f"{bootstrap}  ({topics_created} topics created, {len(created)} in the registry"
            f"{namespace})",
        )

        # The simulator's live and siloed summaries, read by the orchestrator's dashboard.
        simulation_dir = cache / "simulation"
        simulation_dir.mkdir(parents=True, exist_ok=True)
        service_env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "ORCHESTRATOR_SIMULATION_DIR": str(simulation_dir),
            "SIMULATOR_REPORT_DIR": str(simulation_dir),
        }
        for service in SERVICES:
            service_env[service.port_env] = str(port_of(service))
        keys = development_keys(cache / "keys")
        if keys is not None:
            # One key file for every service: the departments' keys and local-operator's.
            service_env["LIFECYCLE_API_KEYS_FILE"] = str(keys[0])
            service_env["SIMULATOR_API_KEYS_FILE"] = str(keys[1])
            status_line(
                "api keys",
                f"{keys[1]}  (plain development keys: one per department, and local-operator "
                "for the orchestrator's API and dashboard)",
            )
        simulating = with_simulator and keys is not None and module_exists(SIMULATOR_MODULE)
        if simulating:
            # The orchestrator's deadlines run on the simulated company's clock.
            service_env["ORCHESTRATOR_TIME_SCALE"] = f"{time_scale(simulator_arguments()):g}"
        for service in SERVICES:
            if not service.is_installed():
                continue
            port = port_of(service)
            log_path = logs / f"{service.name}.log"
            data_env = (
                "ORCHESTRATOR_DATA_DIR" if service.name == "orchestrator" else "DEPARTMENT_DATA_DIR"
            )
            process = subprocess.Popen(
                [sys.executable, "-m", service.module, *service.arguments],
                env={**service_env, data_env: str(cache / service.name)},
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
                cwd=root,
                start_new_session=True,  # stopped in order by us, not by the Ctrl-C
            )
            running.append(
                RunningProcess(service.name, process, log_path, f"http://127.0.0.1:{port}")
            )

        prometheus_binary = shutil.which("prometheus")
        if prometheus_binary:
            prometheus_dir = cache / "prometheus"
            prometheus_dir.mkdir(parents=True, exist_ok=True)
            config_path = prometheus_dir / "prometheus.yml"
            config_path.write_text(yaml.safe_dump(local_prometheus_config(root), sort_keys=False))
            prometheus_port = int(os.environ.get("PROMETHEUS_PORT", PROMETHEUS_PORT))
            log_path = logs / "prometheus.log"
            process = subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={prometheus_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    "--storage.tsdb.retention.time=1d",
                ],
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            running.append(
                RunningProcess(
                    "prometheus",
                    process,
                    log_path,
                    f"http://127.0.0.1:{prometheus_port}",
                    health_path="/-/ready",
                )
            )
        else:
            status_line("prometheus", "not installed (make setup installs Debian's package)")

        for entry in running:
            ok = _wait_http_ok(f"{entry.url}{entry.health_path}", entry.process, HEALTH_TIMEOUT_S)
            state = "up  " if ok else "DOWN"
            status_line(entry.name, f"{entry.url}  [{state}]  log {entry.log_path}")
            if not ok:
                print(_tail(entry.log_path), file=sys.stderr)
        if simulating:
            log_path = logs / "simulator.log"
            process = subprocess.Popen(
                [sys.executable, "-m", SIMULATOR_MODULE, *simulator_arguments()],
                env=service_env,
                stdout=log_path.open("wb"),
                stderr=subprocess.STDOUT,
                cwd=root,
                start_new_session=True,
            )
            running.append(RunningProcess("simulator", process, log_path, "", None))  # stops first
            scale = service_env["ORCHESTRATOR_TIME_SCALE"]
            arguments = " ".join(simulator_arguments())
            status_line(
                "simulator", f"{arguments}  (orchestrator time scale {scale})  log {log_path}"
            )
        missing = [s.name for s in SERVICES if not s.is_installed()]
        if missing:
            print(f"not built yet: {', '.join(missing)}")
        print(f"stack ready in {time.monotonic() - started_at:.1f}s; Ctrl-C stops everything")

        while True:
            for entry in running:
                code = entry.process.poll()
                if code is not None:
                    print(
                        f"{entry.name} exited with {code}; last log lines:\n"
                        + _tail(entry.log_path),
                        file=sys.stderr,
                    )
                    running.remove(entry)
                    break
            time.sleep(1)
    except (KeyboardInterrupt, _StopRequestedError):
        print("\nstopping…")
        return 0
    finally:
        for entry in reversed(running):
            _stop(entry.process)
        if started_kafka:
            subprocess.run([str(kafka_script), "stop"], check=False, start_new_session=True)
