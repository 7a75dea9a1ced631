"""WSGI entry point for gunicorn: `gunicorn dashboard.wsgi:app`.

The database is checked before serving: a missing, unreadable or unmigrated database stops
the server with one clear line naming it, not a traceback per worker.
"""

import fcntl
import signal
import sys
import time
from pathlib import Path

from . import create_app
from . import faults
from .startup import database_problem

# gunicorn halts the whole server when a worker exits with this code while booting.
WORKER_BOOT_ERROR = 3
REPORTER_HOLD_SECONDS = 1.0
LOSER_MAX_WAIT_SECONDS = 30


def refuse_to_start(problem: str, instance_path: str) -> None:
    """Print the problem and stop the server, once, however many workers found it.

    gunicorn halts on the first worker that exits with WORKER_BOOT_ERROR, but a second one
    exiting the same way while it halts makes gunicorn itself crash with a traceback. So one
    worker (the holder of a lock in the instance folder) reports and exits; the others wait for
    the halting master to terminate them.
    """
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    lock = open(Path(instance_path) / ".startup-check.lock", "w")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(LOSER_MAX_WAIT_SECONDS)
        while True:
            signal.pause()
    print(f"Error: the dashboard cannot start: {problem}", file=sys.stderr, flush=True)
    time.sleep(REPORTER_HOLD_SECONDS)  # let sibling workers find the lock taken
    sys.exit(WORKER_BOOT_ERROR)


app = create_app()
faults.install(app)  # test-only fault hooks; inert outside the test configuration

_problem = database_problem(app)
if _problem:
    refuse_to_start(_problem, app.instance_path)
