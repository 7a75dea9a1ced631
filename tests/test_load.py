"""Many admins editing at once against real gunicorn (4 sync workers), with and without killed workers.

A short run is part of the suite; `make soak` runs the full one (LOAD_SECONDS=60, at least 30
worker kills). Both check data, not only status codes: see tests/support/load.py.
"""

import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import insert
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from dashboard.models import User
from tests.conftest import PASSWORD
from tests.conftest import hashed
from tests.support.load import LoadResult
from tests.support.load import run_load
from tests.support.load import verify
from tests.support.server import gunicorn

pytestmark = [pytest.mark.server, pytest.mark.slow]

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "32"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "10"))
TARGETS = int(os.environ.get("LOAD_TARGETS", "100"))
ACCOUNTS = 4  # admins signed in once each; the clients share their sessions
WORKERS = 4
# Kills during the run: a handful in the suite, at least 30 in the soak.
MIN_KILLS = int(os.environ.get("LOAD_MIN_KILLS", "4"))
FIGURES = os.environ.get("LOAD_FIGURES_FILE")


def seed(database_url: str) -> tuple[list[tuple[str, str]], dict[int, tuple[str, int]]]:
    """ACCOUNTS admin accounts and TARGETS member rows; returns (accounts, targets' state)."""
    engine = create_engine(database_url, poolclass=NullPool)
    password_hash = hashed(PASSWORD)
    admins = [
        {
            "username": f"loadadmin{n}",
            "email": f"loadadmin{n}@example.com",
            "full_name": f"Load Admin {n}",
            "role": "admin",
            "password_hash": password_hash,
        }
        for n in range(ACCOUNTS)
    ]
    members = [
        {
            "username": f"target{n}",
            "email": f"target{n}@example.com",
            "full_name": f"Target {n}",
            "role": "member",
        }
        for n in range(TARGETS)
    ]
    try:
        with engine.begin() as connection:
            # Through the ORM table so Python-side defaults (token, timestamps, version) apply.
            for rows in (admins, members):
                connection.execute(insert(User), rows)
        with engine.connect() as connection:
            targets = {
                row.id: (row.full_name, row.version)
                for row in connection.execute(
                    text("SELECT id, full_name, version FROM users WHERE role = 'member'")
                )
            }
    finally:
        engine.dispose()
    return [(admin["username"], PASSWORD) for admin in admins], targets


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's current worker processes."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def worker_killer(master_pid: int, interval: float, seed_value: int = 7):
    """A `during` hook that SIGKILLs a random worker every `interval` seconds until stopped."""
    chooser = random.Random(seed_value)

    def kill_workers(stop, result: LoadResult) -> None:
        while not stop.wait(interval):
            pids = worker_pids(master_pid)
            if not pids:
                continue
            try:
                os.kill(chooser.choice(pids), signal.SIGKILL)
            except ProcessLookupError:
                continue
            result.kills += 1

    return kill_workers


def report(label: str, verdict, capsys) -> None:
    """Print the run's figures on the terminal (and append them to LOAD_FIGURES_FILE if set)."""
    line = verdict.summary(label)
    with capsys.disabled():
        print(f"\n{line}")
    if FIGURES:
        with open(FIGURES, "a") as handle:
            handle.write(line + "\n")


def run_scenario(backend, database_url, tmp_path, kill_interval: float | None):
    accounts, targets = seed(database_url)
    with gunicorn(database_url, str(tmp_path / "instance"), workers=WORKERS) as (base, process):
        during = worker_killer(process.pid, kill_interval) if kill_interval else None
        result = run_load(base, accounts, list(targets), SECONDS, clients=CLIENTS, during=during)
        time.sleep(0.5)  # let gunicorn replace the last killed worker before stopping
        assert process.poll() is None, "the gunicorn master died"
    return result, verify(database_url, result, targets)


def assert_nothing_lost(result: LoadResult, verdict) -> None:
    assert not result.unexpected, result.unexpected[:10]
    assert verdict.five_xx == 0, result.server_errors[:10]
    assert not verdict.problems(), verdict.problems()[:20]
    assert verdict.acknowledged > 0


def test_concurrent_admins_lose_nothing(backend, database_url, tmp_path, capsys):
    result, verdict = run_scenario(backend, database_url, tmp_path, kill_interval=None)
    report(f"{backend} load ({CLIENTS} clients, {SECONDS:.0f} s)", verdict, capsys)
    assert_nothing_lost(result, verdict)
    assert result.connection_errors == 0


def test_killed_workers_lose_nothing(backend, database_url, tmp_path, capsys):
    interval = SECONDS / (MIN_KILLS + 1)
    result, verdict = run_scenario(backend, database_url, tmp_path, kill_interval=interval)
    report(f"{backend} load with worker kills ({CLIENTS} clients, {SECONDS:.0f} s)", verdict, capsys)
    assert_nothing_lost(result, verdict)
    assert result.kills >= MIN_KILLS
