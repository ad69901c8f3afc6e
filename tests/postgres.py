"""A real PostgreSQL server on 127.0.0.1 for the tests that need one, started and stopped by them.

The server binaries come from Debian's ``postgresql`` package (``.ci/run``
installs it where it is missing). PostgreSQL refuses to run as root, so under
root the cluster belongs to the ``postgres`` user and lives in a folder of
its own under the system's temporary directory (pytest's own is private to
root). ``fsync=off``: the tests check what a killed *service* lost, never a
killed database.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_SECONDS = 60


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_server() -> Iterator[str]:
    """Start a throwaway cluster; yield its URL (user ``thumbsel``, trusted on loopback)."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError(
            "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
        )
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="thumbsel-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run(
            [*as_user, *command], check=True, capture_output=True, timeout=STARTUP_SECONDS
        )

    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "thumbsel",
            "--auth=trust",
            "-E",
            "UTF8",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        )
        try:
            yield f"postgresql://thumbsel@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str) -> str:
    """A new empty database on the server, so each test starts from nothing."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"
