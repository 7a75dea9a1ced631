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
def serve(
    app_path: str,
    env: dict[str, str],
    workers: int = 2,
    extra_args: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
    start_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """gunicorn `app_path` on a free loopback port; yield (base URL, master) and stop it afterwards.

    `prefix` runs the server under a wrapper command (e.g. setpriv to drop privileges).
    """
    port = free_port()
    command = [
        *prefix,
        sys.executable,
        "-m",
        "gunicorn",
        app_path,
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
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        wait_for_port(port, timeout=start_timeout, process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn(
    database_url: str,
    instance_path: str,
    workers: int = 2,
    extra_env: dict | None = None,
    extra_args: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve the dashboard in its testing configuration on this database; yield (base URL, master)."""
    env = {
        "DASHBOARD_ENV": "testing",
        "DATABASE_URL": database_url,
        "DASHBOARD_INSTANCE_PATH": instance_path,
        **(extra_env or {}),
    }
    with serve("dashboard.wsgi:app", env, workers, extra_args, prefix) as served:
        yield served
