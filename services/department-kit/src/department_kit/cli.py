"""The command line every department service shares: ``serve`` and ``import FILE``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from department_kit.app import create_app
from department_kit.backfill import run_import
from department_kit.department import DepartmentSpec
from department_kit.inbox_db import parse_inbox_url
from department_kit.kafka_io import broker_refusal
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings, load_settings, settings_class
from service_kit.command_line import add_serve_command, add_version_option
from service_kit.kafka_security import KafkaSecurity
from service_kit.logs import configure_logging
from service_kit.server import HttpServerSettings, server_config
from service_kit.settings_errors import report_bad_settings

logger = logging.getLogger(__name__)
# How long the start waits to learn whether the brokers refuse the credentials or certificate.
KAFKA_CHECK_S = 10.0


def _runtime(spec: DepartmentSpec, settings: DepartmentSettings) -> DepartmentRuntime | None:
    """The runtime, or None after one line on stderr when its inbox database cannot be opened."""
    try:
        return DepartmentRuntime(spec, settings)
    except SQLAlchemyError as error:
        where = parse_inbox_url(settings.inbox_database).render_as_string(hide_password=True)
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(
            f"{spec.department.value}: cannot open the inbox database {where}: {reason}",
            file=sys.stderr,
        )
        return None


def serve(spec: DepartmentSpec, settings: DepartmentSettings, http: HttpServerSettings) -> int:
    """Run the HTTP service in this process until SIGINT/SIGTERM (then shut down gracefully)."""
    configure_logging(settings.log_level)
    refused = broker_refusal(
        settings.kafka_bootstrap_servers, settings.kafka_security, KAFKA_CHECK_S
    )
    if refused is not None:
        print(f"{spec.department.value}: Kafka refused the connection: {refused}", file=sys.stderr)
        return 1
    runtime = _runtime(spec, settings)
    if runtime is None:
        return 1
    if not runtime.keys.entries:
        logger.warning("no API keys configured: every request will be refused (401)")
    app = create_app(runtime)
    logger.info(
        "starting",
        extra={"department": spec.department.value, "host": settings.host, "port": settings.port},
    )
    config = server_config(app, settings.host, settings.port, http, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run()
    return 0


def import_events(spec: DepartmentSpec, settings: DepartmentSettings, path: Path) -> int:
    """Backfill: publish the events of an NDJSON or CSV file."""
    configure_logging("WARNING")
    runtime = _runtime(spec, settings)
    if runtime is None:
        return 1
    try:
        return run_import(runtime, path)
    finally:
        runtime.stop()


def build_parser(spec: DepartmentSpec) -> argparse.ArgumentParser:
    """The command line of a department service: ``serve --help`` lists every setting."""
    name = spec.department.value
    parser = argparse.ArgumentParser(prog=name, description=f"The {name} department service.")
    add_version_option(parser, f"{name}-service")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(
        commands,
        f"run the HTTP service of the {name} department",
        (settings_class(spec.department), KafkaSecurity, HttpServerSettings),
    )
    importer = commands.add_parser("import", help="publish historic events from NDJSON or CSV")
    importer.add_argument("file", type=Path)
    return parser


def main(spec: DepartmentSpec, argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command."""
    name = spec.department.value
    parser = build_parser(spec)
    arguments = parser.parse_args(argv)
    if arguments.command == "import" and not arguments.file.is_file():
        parser.error(f"no such file: {arguments.file}")
    try:
        settings = load_settings(spec.department)
        http = HttpServerSettings()
    except ValidationError as error:
        return report_bad_settings(error, f"the {name} service")
    if arguments.command == "serve":
        return serve(spec, settings, http)
    return import_events(spec, settings, arguments.file)
