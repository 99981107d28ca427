"""``orchestrator serve | check DIR | playbook publish|diff DIR | replay --plays DIR``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from lifecycle_schemas.codec import RecordDecodeError, decode_record, encode_record
from lifecycle_schemas.events import DepartmentEvent
from lifecycle_schemas.outcomes import Outcome
from orchestrator.core.engine import LocalEngine
from orchestrator.core.messages import (
    Decision,
    EraseProfile,
    ForgetIdentifiers,
    HandoffBreached,
    HandoffTimed,
    Message,
    Publish,
    Reply,
)
from orchestrator.core.playbook import (
    Playbook,
    PlaybookError,
    load_playbook,
    parse_playbook,
    read_playbook_files,
)
from orchestrator.core.playbook_checks import dry_run_problems

log = logging.getLogger("orchestrator")


def serve() -> int:
    """Run the faust worker with its HTTP API until interrupted."""
    # Imported here so that check and replay start without faust, Kafka or uvicorn.
    from aiokafka.errors import KafkaConnectionError, KafkaError
    from pydantic import ValidationError

    from orchestrator import faust_fixes
    from orchestrator.access import Access
    from orchestrator.api import create_api
    from orchestrator.kafka_setup import (
        KafkaRefusedError,
        PartitionsMismatchError,
        prepare_cluster,
    )
    from orchestrator.live_playbook import LivePlaybook
    from orchestrator.metrics import OrchestratorMetrics
    from orchestrator.playbook_topic import read_all
    from orchestrator.serving import serve as run_worker_and_api
    from orchestrator.settings import load_settings
    from orchestrator.streaming import Topology
    from orchestrator.worker_port import WorkerPort
    from service_kit.logs import configure_logging
    from service_kit.server import HttpServerSettings, server_config
    from service_kit.settings_errors import report_bad_settings

    try:
        settings = load_settings()
        http = HttpServerSettings()
    except ValidationError as error:
        return report_bad_settings(error, "the orchestrator")
    configure_logging(settings.log_level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("mode").setLevel(logging.WARNING)
    try:
        texts = read_playbook_files(settings.playbook_dir)
        live = LivePlaybook(parse_playbook(texts), settings.time_scale, texts)
    except PlaybookError as error:
        return _report_playbook_problems(error, settings.playbook_dir)
    try:
        cluster = asyncio.run(
            prepare_cluster(
                settings.kafka_bootstrap_servers,
                settings.lifecycle_topic_prefix,
                settings.replication_factor,
                settings.kafka_security,
            )
        )
    except KafkaRefusedError as error:
        # Not a passing outage: the credentials or the CA file must change (exit, no retry).
        log.error(
            "Kafka refused the connection",
            extra={"bootstrap_servers": settings.kafka_bootstrap_servers, "error": str(error)},
        )
        return 1
    except KafkaConnectionError as error:
        # One clear line instead of a traceback; a supervisor restarts the worker.
        log.error(
            "cannot reach Kafka",
            extra={"bootstrap_servers": settings.kafka_bootstrap_servers, "error": str(error)},
        )
        return 1
    except PartitionsMismatchError as error:
        log.error("topics not co-partitioned", extra={"error": str(error)})
        return 1
    # The latest published version before the first record (the topic is created with the
    # internal topics above); the worker follows the topic from then on.
    try:
        published = asyncio.run(
            read_all(
                settings.kafka_bootstrap_servers,
                settings.lifecycle_topic_prefix,
                settings.kafka_security,
            )
        )
    except KafkaError as error:
        # Deciding under an older version than the group's would be worse than not starting.
        log.error("cannot read the playbook versions", extra={"error": repr(error)})
        return 1
    for record in published:
        live.receive(record)
    playbook = live.active
    # Before faust builds its producer and consumer: the fixes patch their classes.
    faust_fixes.install()
    topology = Topology(settings, playbook, OrchestratorMetrics(playbook.plays), cluster, live)
    access = Access(settings)
    if not access.keys.entries:
        log.warning("no API keys configured: every read of the API is refused (401)")
    if not access.cluster_secret_configured:
        log.warning("no ORCHESTRATOR_CLUSTER_SECRET: other workers cannot reach this one's routes")
    port = WorkerPort()
    api = create_api(topology, access, port)
    log.info(
        "orchestrator starting",
        extra={
            "port": settings.port,
            "app_id": settings.app_id,
            "replication_factor": cluster.replication_factor,
            "partitions": cluster.partitions,
            "time_scale": settings.time_scale,
            "playbook_version": playbook.version.number,
        },
    )
    config = server_config(api, settings.host, settings.port, http, loop="asyncio", lifespan="on")
    return run_worker_and_api(topology.app, port, config, settings.stop_timeout_s)


def _report_playbook_problems(error: PlaybookError, directory: Path) -> int:
    for problem in error.problems:
        print(problem, file=sys.stderr)
    print(f"{len(error.problems)} problem(s) in {directory}", file=sys.stderr)
    return 1


def check(directory: Path) -> int:
    """Validate a playbook directory and dry-run it over the contract examples."""
    playbook = _checked(directory)
    if playbook is None:
        return 1
    print(
        f"{directory}: {len(playbook.segments)} segments, {len(playbook.plays)} plays, "
        f"{len(playbook.owner_rules)} owner rules, {len(playbook.processes)} process owners: OK"
    )
    return 0


def _checked(directory: Path) -> Playbook | None:
    """The playbook if ``orchestrator check`` passes it, else None (its problems printed)."""
    try:
        playbook = load_playbook(directory)
    except PlaybookError as error:
        _report_playbook_problems(error, directory)
        return None
    invalid = dry_run_problems(playbook)
    for line in invalid:
        print(line, file=sys.stderr)
    return None if invalid else playbook


def publish(directory: Path, note: str) -> int:
    """Check a playbook directory as ``check`` does and publish it as the next version."""
    import getpass

    from aiokafka.errors import KafkaError
    from pydantic import ValidationError

    from lifecycle_schemas.playbook_versions import PlaybookPublication
    from orchestrator.playbook_topic import publish as publish_version
    from orchestrator.settings import load_settings
    from service_kit.settings_errors import report_bad_settings

    if not directory.is_dir() or _checked(directory) is None:
        print(f"refused: {directory} is not a valid playbook; nothing published", file=sys.stderr)
        return 1
    try:
        settings = load_settings()
    except ValidationError as error:
        return report_bad_settings(error, "orchestrator playbook publish")
    files = read_playbook_files(directory)
    publication = PlaybookPublication.now(files, f"cli:{getpass.getuser()}", note)
    try:
        number = asyncio.run(
            publish_version(
                settings.kafka_bootstrap_servers,
                settings.lifecycle_topic_prefix,
                publication,
                settings.kafka_security,
            )
        )
    except KafkaError as error:
        print(
            f"not published: Kafka at {settings.kafka_bootstrap_servers} did not take it "
            f"({type(error).__name__})",
            file=sys.stderr,
        )
        return 1
    print(f"published playbook version {number} ({publication.digest})")
    return 0


def diff(directory: Path, since: str, only_changed: bool) -> int:
    """Replay the recent department events under the active and the candidate playbook
    (the pure core, no worker touched) and print what would change, per play and segment."""
    from pydantic import ValidationError

    from orchestrator.core import impact
    from orchestrator.core.playbook import parse_duration
    from orchestrator.live_playbook import LivePlaybook
    from orchestrator.playbook_topic import read_all
    from orchestrator.recent_events import read_recent_events
    from orchestrator.settings import load_settings
    from service_kit.settings_errors import report_bad_settings

    try:
        window = parse_duration(since)
    except ValueError as error:
        print(f"--since: {error}", file=sys.stderr)
        return 2
    candidate = _checked(directory)
    if candidate is None:
        print(f"refused: {directory} is not a valid playbook", file=sys.stderr)
        return 1
    try:
        settings = load_settings()
    except ValidationError as error:
        return report_bad_settings(error, "orchestrator playbook diff")
    live = LivePlaybook(load_playbook(settings.playbook_dir), settings.time_scale)
    connection = (settings.kafka_bootstrap_servers, settings.lifecycle_topic_prefix)
    for record in asyncio.run(read_all(*connection, settings.kafka_security)):
        live.receive(record)
    start = datetime.now(UTC) - window
    recent = asyncio.run(read_recent_events(*connection, start, settings.kafka_security))
    active = live.active
    rows = impact.compare(
        impact.replay(active, recent.events),
        impact.replay(candidate.time_scaled(settings.time_scale), recent.events),
    )
    print(
        f"active version {active.version} -> candidate {directory} "
        f"({candidate.version.digest[:19]}): {len(recent.events)} department events since "
        f"{start.isoformat(timespec='seconds')}"
        + (f", {recent.skipped} records left out (not readable)" if recent.skipped else "")
    )
    for line in impact.render(rows, only_changed):
        print(line)
    return 0


def _records(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8").strip()
    documents = (
        json.loads(text)
        if text.startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )
    for number, document in enumerate(documents, start=1):
        try:
            yield decode_record(json.dumps(document).encode(), now=None)
        except RecordDecodeError as error:
            raise SystemExit(f"{path}: record {number}: {error}") from None


def _describe(decision: Decision) -> dict[str, Any]:
    if isinstance(decision, Publish):
        described: dict[str, Any] = json.loads(encode_record(decision.record))
        return described
    if isinstance(decision, EraseProfile):
        return {"tombstone": {"topic": "customer-profiles", "key": decision.customer_id}}
    if isinstance(decision, ForgetIdentifiers):
        return {"forget_identifiers": len(decision.identifiers)}
    if isinstance(decision, HandoffTimed | HandoffBreached):
        return {type(decision).__name__: dataclasses.asdict(decision)}
    if isinstance(decision, Reply):
        return {"reply_to": decision.department, "id": decision.record.id}
    return {"forward": decision.customer_id}


def replay(plays: Path, events: Path, include_profiles: bool) -> int:
    """Run the core over recorded events (no Kafka) and print what would be decided."""
    try:
        playbook = load_playbook(plays)
    except PlaybookError as error:
        print(error, file=sys.stderr)
        return 1
    engine = LocalEngine(playbook)
    for record in _records(events):
        if isinstance(record, DepartmentEvent):
            decisions = engine.submit_event(record, record.time)
        elif isinstance(record, Outcome):
            decisions = engine.submit(record.data.customer_id, cast(Message, record), record.time)
        else:
            print(json.dumps({"skipped": record.id, "type": record.type}))
            continue
        for decision in decisions:
            described = _describe(decision)
            if not include_profiles and described.get("type", "").endswith("profile.v1"):
                continue
            print(json.dumps({"trigger": record.id, "decision": described}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    from orchestrator.settings import OrchestratorSettings
    from service_kit.command_line import add_serve_command, add_version_option
    from service_kit.kafka_security import KafkaSecurity
    from service_kit.server import HttpServerSettings

    parser = argparse.ArgumentParser(prog="orchestrator")
    add_version_option(parser, "orchestrator")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(
        commands,
        "run the faust worker and its HTTP API",
        (OrchestratorSettings, KafkaSecurity, HttpServerSettings),
    )
    checking = commands.add_parser("check", help="validate segment, play, policy, owner files")
    checking.add_argument("directory", type=Path)
    versions = commands.add_parser("playbook", help="the live playbook's versions")
    playbook_commands = versions.add_subparsers(dest="playbook_command", required=True)
    publishing = playbook_commands.add_parser(
        "publish",
        help="check a playbook directory and publish it as the next version (every worker "
        "switches to it); publishing an earlier version's files again rolls back",
    )
    publishing.add_argument("directory", type=Path)
    publishing.add_argument("--note", default="", help="why (kept in the history)")
    diffing = playbook_commands.add_parser(
        "diff",
        help="replay the recent department events under the active and this playbook (the "
        "pure core) and print the change in actions, suppressions and budget spend",
    )
    diffing.add_argument("directory", type=Path)
    diffing.add_argument("--since", default="24h", help="how far back (30m, 24h, 7d)")
    diffing.add_argument(
        "--only-changed", action="store_true", help="leave out the plays and segments unchanged"
    )
    replaying = commands.add_parser("replay", help="dry-run recorded events through the core")
    replaying.add_argument("--plays", type=Path, required=True)
    replaying.add_argument(
        "--events",
        type=Path,
        required=True,
        help="JSON lines (or a JSON array) of CloudEvents records",
    )
    replaying.add_argument(
        "--profiles", action="store_true", help="print customer profile records too"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``orchestrator`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve()
    if args.command == "check":
        return check(args.directory)
    if args.command == "playbook" and args.playbook_command == "diff":
        return diff(args.directory, args.since, args.only_changed)
    if args.command == "playbook":
        return publish(args.directory, args.note)
    return replay(args.plays, args.events, args.profiles)


if __name__ == "__main__":
    sys.exit(main())
