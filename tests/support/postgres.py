"""A throwaway PostgreSQL cluster on a free loopback port, for the test session."""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from .ports import free_port
from .ports import wait_for_port


def _bin_dir() -> str:
    """The newest installed PostgreSQL server's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make test installs it from Debian)")
    return os.path.dirname(found[-1])


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a fresh cluster, yield its base URL (no database name), stop and delete it."""
    bindir = _bin_dir()
    root = tempfile.mkdtemp(prefix="dashboard-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")  # the server runs as postgres and writes here
    port = free_port()
    run = subprocess.run
    run(
        _as_postgres(
            [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    run(
        _as_postgres(
            [f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(root, "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        wait_for_port(port)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        run(
            _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
