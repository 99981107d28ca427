"""`lifecycle-admin`: operator commands for the local stack and any Kafka cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from secrets import token_hex

from pydantic import ValidationError

from lifecycle_admin.kafka_admin import (
    PARTITIONS_VARIABLE,
    BrokerUnavailableError,
    TopicsMissingError,
    create_acls,
    create_topics,
    partitions_from_environment,
    wait_for_broker,
    wait_for_topics,
)
from lifecycle_schemas.departments import Department
from lifecycle_schemas.topics import DEFAULT_PARTITIONS
from service_kit.api_keys import ApiKeyConfigError, Scope, add_key
from service_kit.command_line import add_version_option
from service_kit.kafka_security import KafkaSecurity, kafka_security_from_environment
from service_kit.settings_errors import report_bad_settings

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def _bootstrap_default() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)


def _positive(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return count


def _wait_broker(args: argparse.Namespace) -> int:
    try:
        brokers = wait_for_broker(
            args.bootstrap, args.timeout, args.brokers, security=args.security
        )
    except BrokerUnavailableError as error:
        print(f"lifecycle-admin: {error}", file=sys.stderr)
        return 1
    print(f"broker answered at {args.bootstrap} ({brokers} broker(s) in the cluster)")
    return 0


def _create_topics(args: argparse.Namespace) -> int:
    if args.partitions is None:
        try:
            args.partitions = partitions_from_environment()
        except ValueError as error:
            print(f"lifecycle-admin: {error}", file=sys.stderr)
            return 2
    try:
        wait_for_broker(args.bootstrap, args.timeout, security=args.security)
    except BrokerUnavailableError as error:
        print(f"lifecycle-admin: {error}", file=sys.stderr)
        return 1
    results = create_topics(
        args.bootstrap,
        prefix=args.prefix,
        replication_factor=args.replication,
        security=args.security,
        partitions=args.partitions,
    )
    for result in results:
        state = "created" if result.created else "exists "
        print(
            f"{state} {result.name} partitions={result.partitions} "
            f"replication={result.replication_factor}"
        )
    return 0


def _create_acls(args: argparse.Namespace) -> int:
    try:
        wait_for_broker(args.bootstrap, args.timeout, security=args.security)
    except BrokerUnavailableError as error:
        print(f"lifecycle-admin: {error}", file=sys.stderr)
        return 1
    for rule in create_acls(args.bootstrap, prefix=args.prefix, security=args.security):
        operations = ",".join(o.value for o in rule.operations)
        print(
            f"allow User:{rule.principal} {operations} on {rule.resource_type.value} "
            f"{rule.name} ({rule.pattern.value})"
        )
    return 0


def _wait_topics(args: argparse.Namespace) -> int:
    try:
        count = wait_for_topics(args.bootstrap, args.prefix, args.timeout, args.security)
    except TopicsMissingError as error:
        print(f"lifecycle-admin: {error}", file=sys.stderr)
        return 1
    print(f"all {count} registry topics exist at {args.bootstrap}")
    return 0


def _run_local(args: argparse.Namespace) -> int:
    from lifecycle_admin.local_stack import run_local_stack

    return run_local_stack(with_simulator=not args.no_simulator, security=args.security)


def _dev_keys(args: argparse.Namespace) -> int:
    from lifecycle_admin.local_stack import development_cluster_secret, development_keys

    keys = development_keys(args.directory)
    if keys is None:
        print("lifecycle-admin: the department services are not installed", file=sys.stderr)
        return 1
    print(f"hashed keys (for the services): {keys[0]}")
    print(f"plain keys (for people and tests): {keys[1]}")
    print(f"orchestrator cluster secret: {development_cluster_secret(args.directory)}")
    return 0


def _soak(args: argparse.Namespace) -> int:
    from lifecycle_admin.soak import main as soak

    return soak(args)


def _scopes(text: str) -> frozenset[Scope]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = {scope.value: scope for scope in Scope}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scope {', '.join(unknown) or '(none given)'}; "
            f"scopes: {', '.join(sorted(known))}"
        )
    return frozenset(known[name] for name in names)


def _create_key(args: argparse.Namespace) -> int:
    keys_file: Path | None = args.file
    if keys_file is None:
        print(
            "lifecycle-admin: no key file: pass --file or set LIFECYCLE_API_KEYS_FILE",
            file=sys.stderr,
        )
        return 2
    department: Department | None = args.department
    key_id = args.id or f"{department.value if department else 'operator'}-{token_hex(4)}"
    try:
        key = add_key(keys_file, key_id, department, args.scopes, args.segments)
    except ApiKeyConfigError as error:
        print(f"lifecycle-admin: {error}", file=sys.stderr)
        return 1
    scopes = ",".join(sorted(scope.value for scope in args.scopes))
    print(
        f"added key {key_id} ({scopes}) to {keys_file}; the key is shown only this once:",
        file=sys.stderr,
    )
    print(key)
    return 0


def _add_prefix_option(command: argparse.ArgumentParser, names: str) -> None:
    """``--prefix``, the namespace of a shared cluster, defaulting to $LIFECYCLE_TOPIC_PREFIX."""
    command.add_argument(
        "--prefix",
        default=os.environ.get("LIFECYCLE_TOPIC_PREFIX", ""),
        help=f"namespace prepended to every {names}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle-admin", description=__doc__)
    add_version_option(parser, "lifecycle-admin")
    commands = parser.add_subparsers(dest="command", required=True)

    wait = commands.add_parser("wait-broker", help="wait until the broker answers metadata")
    wait.add_argument("--bootstrap", default=_bootstrap_default())
    wait.add_argument("--timeout", type=float, default=60.0, help="seconds")
    wait.add_argument("--brokers", type=int, default=1, help="wait for this many brokers")
    wait.set_defaults(handler=_wait_broker)

    topics = commands.add_parser("create-topics", help="create the registry's topics")
    topics.add_argument("--bootstrap", default=_bootstrap_default())
    _add_prefix_option(topics, "topic name")
    topics.add_argument(
        "--replication",
        type=int,
        default=None,
        help="replication factor (default: 3, or the broker count when smaller)",
    )
    topics.add_argument(
        "--partitions",
        type=_positive,
        default=None,
        help=f"partitions of every co-partitioned topic (default: ${PARTITIONS_VARIABLE}, "
        f"else {DEFAULT_PARTITIONS}); the orchestrator's tables follow it",
    )
    topics.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Kafka")
    topics.set_defaults(handler=_create_topics)

    acls = commands.add_parser(
        "create-acls", help="grant each service's ACLs (docs/configuration.md, Kafka security)"
    )
    acls.add_argument("--bootstrap", default=_bootstrap_default())
    _add_prefix_option(acls, "topic and group name")
    acls.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Kafka")
    acls.set_defaults(handler=_create_acls)

    wait_topics = commands.add_parser(
        "wait-topics", help="wait until every registry topic exists (before a worker starts)"
    )
    wait_topics.add_argument("--bootstrap", default=_bootstrap_default())
    _add_prefix_option(wait_topics, "topic name")
    wait_topics.add_argument("--timeout", type=float, default=300.0, help="seconds")
    wait_topics.set_defaults(handler=_wait_topics)

    run = commands.add_parser("run-local", help="run the whole stack locally (make run)")
    run.add_argument("--no-simulator", action="store_true", help="start no traffic simulator")
    run.set_defaults(handler=_run_local)

    keys = commands.add_parser(
        "dev-keys",
        help="write development API keys (hashed and plain) and the orchestrator's cluster "
        "secret once; keep existing ones",
    )
    keys.add_argument("directory", type=Path)
    keys.set_defaults(handler=_dev_keys)

    soak = commands.add_parser(
        "soak", help="the local stack under a fixed event rate; report drift (make soak)"
    )
    soak.add_argument("--rate", type=float, default=500.0, help="events per second")
    soak.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    soak.add_argument("--warmup", type=float, default=90.0, help="seconds of load before measuring")
    soak.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    soak.add_argument("--customers", type=int, default=5000, help="size of the customer pool")
    soak.add_argument("--out", type=Path, default=None, help="report directory (.cache/soak)")
    soak.set_defaults(handler=_soak)

    keys = commands.add_parser("keys", help="API keys of the services (docs/security.md)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = key_commands.add_parser(
        "create",
        help="mint a key: print it once, store only its hash in the key file",
        description="Mint an API key: the key is printed once on stdout; the key file gets "
        "its SHA-256 with its id, department and scopes (service_kit.api_keys). Services read "
        "the file at start: restart them to accept the key.",
    )
    create_key.add_argument(
        "--department",
        type=Department,
        choices=list(Department),
        default=None,
        help="the department whose systems use the key (department scopes need one)",
    )
    create_key.add_argument(
        "--scopes",
        type=_scopes,
        required=True,
        help="comma-separated: " + ", ".join(scope.value for scope in Scope),
    )
    create_key.add_argument(
        "--segments",
        type=lambda text: frozenset(name.strip() for name in text.split(",") if name.strip()),
        default=frozenset(),
        help="with segments:write: the segments the key may change (comma-separated; * for all)",
    )
    create_key.add_argument("--id", default=None, help="key id (default: <department>-<random>)")
    create_key.add_argument(
        "--file",
        type=Path,
        default=os.environ.get("LIFECYCLE_API_KEYS_FILE") or None,
        help="the key file (default: $LIFECYCLE_API_KEYS_FILE); created when missing",
    )
    create_key.set_defaults(handler=_create_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lifecycle-admin`."""
    args = build_parser().parse_args(argv)
    try:
        security: KafkaSecurity = kafka_security_from_environment()
    except ValidationError as error:
        return report_bad_settings(error, "lifecycle-admin")
    args.security = security
    handler = args.handler
    return int(handler(args))
