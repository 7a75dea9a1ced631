"""Session lifetime: idle and absolute timeouts, recent-login checks, and revoking every session.

Flask's session is a signed cookie, so the times live in it (the client cannot change them) and
"revoking" means rotating the user's session token, which the Flask-Login user id carries.
Every time comes from `now()`, the one clock tests replace.
"""

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import logout_user

from .htmx import hx_redirect
from .models import User
from .models import utcnow

STARTED = "_auth_started"  # when the password was first entered for this session
SEEN = "_auth_seen"  # the last request of this session
CONFIRMED = "_auth_confirmed"  # the last time the password was entered (login or re-auth)
EXPIRED_MESSAGE = "Your session has expired. Please sign in again."
# Activity is noted at most once a minute: re-signing and re-sending the cookie on every request
# costs more than the table's queries, and the idle timeout is 30 minutes.
SEEN_RESOLUTION_SECONDS = 60


def now() -> datetime:
    """The current UTC time (naive); the single clock tests monkeypatch."""
    return utcnow()


def _stamp() -> float:
    return now().timestamp()


def start() -> None:
    """Mark the current session as freshly signed in (call right after login_user)."""
    stamp = _stamp()
    session[STARTED] = stamp
    session[SEEN] = stamp
    session[CONFIRMED] = stamp


def confirm_password() -> None:
    """Record that the user has just re-entered their password."""
    session[CONFIRMED] = _stamp()


def login_is_recent() -> bool:
    """True when the password was entered within REAUTH_WINDOW."""
    confirmed = session.get(CONFIRMED)
    window = current_app.config["REAUTH_WINDOW"].total_seconds()
    return confirmed is not None and _stamp() - float(confirmed) <= window


def revoke(user: User) -> None:
    """End every session of this user, everywhere, at once, as part of an edit (caller commits).

    Role changes and deactivations call this; sign-out and password changes rotate the token
    through models.update_bookkeeping so they do not count as a new row version.
    """
    user.rotate_session_token()


def expired_reason() -> str | None:
    """Why the signed-in session is over ("idle" or "absolute"), or None if it is still valid."""
    started = session.get(STARTED)
    seen = session.get(SEEN)
    if started is None or seen is None:
        return "absolute"  # a signed-in session without our stamps predates them: end it
    stamp = _stamp()
    config = current_app.config
    if stamp - float(started) > config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds():
        return "absolute"
    if stamp - float(seen) > config["SESSION_IDLE_TIMEOUT"].total_seconds():
        return "idle"
    return None


def enforce_timeouts():
    """Before each request: end a timed-out session (off to login), or note this request as activity.

    It answers before the CSRF check, so an expired session's POST goes to login, not to a 400.
    """
    if request.endpoint and (request.endpoint == "static" or request.endpoint.endswith(".static")):
        return
    if "_user_id" not in session:
        return
    if expired_reason():
        logout_user()
        session.clear()
        flash(EXPIRED_MESSAGE, "info")
        if request.endpoint == "auth.login":
            return None  # already where the user is being sent
        return current_app.login_manager.unauthorized()
    stamp = _stamp()
    if stamp - float(session[SEEN]) >= SEEN_RESOLUTION_SECONDS:
        session[SEEN] = stamp
    return None


def htmx_fetch() -> bool:
    """True for any request htmx made (partial, full-page or history restore).

    htmx 4 fetches with redirect "follow": a 3xx would be followed inside fetch and the target
    page swapped in, whatever the request type, so every such request needs HX-Redirect.
    """
    return request.headers.get("HX-Request") == "true"


def current_page_path() -> str:
    """The page the user is on: for HTMX the page that sent the request, else this URL."""
    current = request.headers.get("HX-Current-URL") if htmx_fetch() else None
    if current:
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path:
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("admin.index")


def reauth_response():
    """Send the user to the re-enter-password page, coming back to the page they were on."""
    from .auth.redirects import safe_next

    target = url_for("auth.reauth", next=safe_next(current_page_path()))
    if htmx_fetch():
        response = current_app.make_response(("", 204))
        return hx_redirect(response, target)
    return redirect(target, 303)


def recent_login_required(view: Callable) -> Callable:
    """Decorator: the view runs only if the password was entered within REAUTH_WINDOW."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not login_is_recent():
            return reauth_response()
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    """Install the timeout check; it runs before CSRF and the views see the session."""
    app.before_request_funcs.setdefault(None, []).insert(0, enforce_timeouts)
