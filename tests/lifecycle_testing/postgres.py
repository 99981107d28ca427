"""A real PostgreSQL server of a test session's own: initdb and pg_ctl on a free port.

Debian's ``postgresql`` package (the Makefile's ``debian-packages`` installs it) puts the
server programs in ``/usr/lib/postgresql/<version>/bin``, off the PATH. PostgreSQL refuses
to run as root: as root the cluster belongs to the ``postgres`` user the package creates
(else ``nobody``), in a directory of its own under the system's temporary directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from lifecycle_testing.processes import free_port

USER = "lifecycle"
PASSWORD = "lifecycle-test-password"
START_TIMEOUT_S = 60


class PostgresError(RuntimeError):
    """The server could not be set up; the message holds the tool's output."""


def server_program(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise PostgresError(
            f"{name} not found: install Debian's postgresql package (make debian-packages)"
        )
    return str(candidates[-1])


class LocalPostgres:
    """One server: ``start()`` returns its admin URL, ``database()`` makes a fresh database."""

    def __init__(self) -> None:
        self.port = free_port()
        self._owner = _server_user()
        self.directory = Path(tempfile.mkdtemp(prefix="lifecycle-postgres-"))
        self.data_dir = self.directory / "data"
        self.log = self.directory / "server.log"

    def _run(self, *command: str) -> None:
        user = self._owner.pw_name if os.geteuid() == 0 else None
        done = subprocess.run(
            list(command), capture_output=True, text=True, check=False, user=user, timeout=120
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise PostgresError(f"{' '.join(command[:2])}:\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> str:
        """initdb (password authentication, our user) and start; the admin URL."""
        password_file = self.directory / "password"
        password_file.write_text(PASSWORD)
        if os.geteuid() == 0:
            os.chown(self.directory, self._owner.pw_uid, self._owner.pw_gid)
            os.chown(password_file, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            server_program("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        )
        # Durability settings off: the tests do not pull the plug, and fsyncs slow them down.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            server_program("pg_ctl"),
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            options,
        )
        return self.url("postgres")

    def url(self, database: str, password: str = PASSWORD) -> str:
        """A ``postgresql://`` URL of a database on this server."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        name = f"inbox_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_psycopg_url(self.url("postgres")), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its files."""
        if self.data_dir.exists():
            self._run(server_program("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast")
        shutil.rmtree(self.directory, ignore_errors=True)


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _server_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return pwd.getpwuid(os.geteuid())


@contextmanager
def started_postgres() -> Iterator[LocalPostgres]:
    """A server for the block (a server that does not start fails the test with its output)."""
    server = LocalPostgres()
    try:
        server.start()
    except PostgresError as error:
        shutil.rmtree(server.directory, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
