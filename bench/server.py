"""Serve a WSGI app with gunicorn (the tests' launcher), and read its workers' memory."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import server as support_server


@contextmanager
def serve(app_path: str, env: dict[str, str], workers: int = 2) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn `app_path` with `workers` sync workers; long requests (exports) allowed."""
    with support_server.serve(
        app_path, env, workers, extra_args=("--timeout", "300"), start_timeout=60, stop_timeout=15
    ) as served:
        yield served


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
