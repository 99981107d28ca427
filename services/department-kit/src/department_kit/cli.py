"""The command line every department service shares: ``serve`` and ``import FILE``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from department_kit.app import create_app
from department_kit.backfill import run_import
from department_kit.department import DepartmentSpec
from department_kit.runtime import DepartmentRuntime
from department_kit.settings import DepartmentSettings, load_settings
from service_kit.logs import configure_logging
from service_kit.server import HttpServerSettings, server_config
from service_kit.settings_errors import report_bad_settings

logger = logging.getLogger(__name__)


def serve(spec: DepartmentSpec, settings: DepartmentSettings, http: HttpServerSettings) -> int:
    """Run the HTTP service in this process until SIGINT/SIGTERM (then shut down gracefully)."""
    configure_logging(settings.log_level)
    runtime = DepartmentRuntime(spec, settings)
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
    runtime = DepartmentRuntime(spec, settings)
    try:
        return run_import(runtime, path)
    finally:
        runtime.stop()


def main(spec: DepartmentSpec, argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command."""
    name = spec.department.value
    parser = argparse.ArgumentParser(prog=name, description=f"The {name} department service.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP service")
    importer = commands.add_parser("import", help="publish historic events from NDJSON or CSV")
    importer.add_argument("file", type=Path)
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
