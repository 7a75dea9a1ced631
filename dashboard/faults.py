"""Deterministic crash points for fault tests; inert unless the test configuration enables them.

A test sets DASHBOARD_CRASH_POINT to a point's name (e.g. "user_update.before_commit") and the
server process dies there with os._exit, as a killed worker would: no cleanup, no response.
"""

import os

from flask import current_app


def crash_point(name: str) -> None:
    """Die here if the test configuration enables crash points and this one is armed."""
    if not current_app.config.get("TESTING_CRASH_POINTS"):
        return
    if os.environ.get("DASHBOARD_CRASH_POINT") == name:
        os._exit(70)
