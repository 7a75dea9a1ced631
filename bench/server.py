"""Serve a WSGI app with gunicorn on a free 127.0.0.1 port, and read its workers' memory."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port
from tests.support.ports import wait_for_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def serve(app_path: str, env: dict[str, str], workers: int = 2) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn `app_path` with `workers` sync workers; yields (base URL, master process)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app_path,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "300",
        "--graceful-timeout",
        "2",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        wait_for_port(port, timeout=60, process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers (children of the master)."""
    try:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        return []


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
