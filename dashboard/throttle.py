"""Login throttling whose state lives in the database, so every worker on every host agrees.

Each failed sign-in adds one row per key ("user:<name>" and "addr:<ip>") to login_failures.
When a key has LOGIN_MAX_FAILURES_PER_* failures inside LOGIN_THROTTLE_WINDOW, further
attempts on it are refused (even with the right password) until the oldest of those
failures leaves the window. Rows older than the window are pruned as new ones arrive.
"""

import math
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import text

from . import sessions
from .extensions import db
from .models import LoginFailure

KEY_MAX = 200


def user_key(username: str) -> str:
    """The throttle key for a typed username (case and surrounding blanks do not matter)."""
    return f"user:{username.strip().lower()}"[:KEY_MAX]


def address_key(address: str | None) -> str:
    """The throttle key for a client address."""
    return f"addr:{address or 'unknown'}"[:KEY_MAX]


def _limits(username: str, address: str | None) -> list[tuple[str, int]]:
    config = current_app.config
    return [
        (user_key(username), config["LOGIN_MAX_FAILURES_PER_USER"]),
        (address_key(address), config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
    ]


def _window() -> timedelta:
    return current_app.config["LOGIN_THROTTLE_WINDOW"]


def _serialize(keys: list[str]) -> None:
    """Make concurrent attempts on the same keys take turns until this transaction ends.

    Without it, two attempts could both count "limit - 1" failures and both go ahead. SQLite
    needs nothing: write requests begin with BEGIN IMMEDIATE, which already takes turns.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        for key in sorted(keys):  # one order everywhere, so two attempts cannot deadlock
            db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def retry_after(username: str, address: str | None) -> int | None:
    """Seconds until this username and address may try again, or None if they may now.

    Call it at the start of the sign-in's transaction: it also makes concurrent attempts on
    the same username or address wait for each other, so the limit is exact.
    """
    _serialize([key for key, _limit in _limits(username, address)])
    now = sessions.now()
    since = now - _window()
    waits = []
    for key, limit in _limits(username, address):
        recent = db.session.scalars(
            select(LoginFailure.at)
            .where(LoginFailure.key == key, LoginFailure.at > since)
            .order_by(LoginFailure.at.desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Allowed again once the limit-th most recent failure leaves the window.
            waits.append((recent[-1] + _window() - now).total_seconds())
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def record_failure(username: str, address: str | None) -> None:
    """Count a failed sign-in against the username and the address (caller commits)."""
    now = sessions.now()
    db.session.execute(delete(LoginFailure).where(LoginFailure.at <= now - _window()))
    for key, _limit in _limits(username, address):
        db.session.add(LoginFailure(key=key, at=now))


def clear_user(username: str) -> None:
    """Forget a username's failures after it signs in successfully (caller commits)."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == user_key(username)))
