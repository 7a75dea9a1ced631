"""A real gunicorn serving the app on a free 127.0.0.1 port."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .ports import free_port
from .ports import wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn(
    database_url: str,
    instance_path: str,
    workers: int = 2,
    extra_env: dict | None = None,
    extra_args: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve the app with gunicorn; yield (base URL, process) and stop it afterwards.

    `prefix` runs the server under a wrapper command (e.g. setpriv to drop privileges).
    """
    port = free_port()
    env = {
        **os.environ,
        "DASHBOARD_ENV": "testing",
        "DATABASE_URL": database_url,
        "DASHBOARD_INSTANCE_PATH": instance_path,
        **(extra_env or {}),
    }
    command = [
        *prefix,
        sys.executable,
        "-m",
        "gunicorn",
        "dashboard.wsgi:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--graceful-timeout",
        "2",
        "--log-level",
        "warning",
        *extra_args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
