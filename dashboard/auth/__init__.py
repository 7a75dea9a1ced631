"""Sign-in, sign-out, re-authentication and passwords: the `auth` blueprint.

login.py signs people in and out (throttled, audited, no enumeration); account.py changes
passwords; redirects.py keeps `next` on this site. Session lifetime is in dashboard.sessions.
"""

from flask import Blueprint

from .. import sessions

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: sessions.init_app(state.app))

from . import account  # noqa: E402  (registers routes on bp)
from . import login  # noqa: E402  (registers routes on bp)
from .redirects import safe_next  # noqa: E402

__all__ = ["account", "bp", "login", "safe_next"]
