"""Sign-in and sign-out with Flask-Login; sessions bound to a per-user token."""

from urllib.parse import urlsplit

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from . import audit
from . import passwords
from .extensions import db
from .extensions import login_manager
from .htmx import hx_redirect
from .htmx import is_htmx
from .models import User
from .models import utcnow

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Invalid username or password."


class LoginForm(FlaskForm):
    """The sign-in form."""

    username = StringField("Username", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the signed-in user if the session's token is still the user's current one."""
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or user.session_token != token or not user.can_sign_in:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    """Send anonymous visitors to the login page; HTMX requests navigate there as a full page."""
    target = request.headers.get("HX-Current-URL") if is_htmx() else None
    next_path = safe_next(_path_of(target) if target else request.full_path.rstrip("?"))
    login_url = url_for("auth.login", next=next_path)
    if is_htmx():
        return hx_redirect(redirect(login_url, 303), login_url)
    return redirect(login_url)


def _path_of(url: str) -> str:
    """The path and query of a URL, dropping scheme and host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site; anything else (other hosts, schemes, tricks) is refused."""
    if not target:
        return None
    if any(ch in target for ch in "\\\r\n\t\x00"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def find_user(username: str) -> User | None:
    """The account with this username or email (case-insensitive)."""
    key = username.strip().lower()
    return db.session.scalar(select(User).where((User.username == key) | (User.email == key)))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign people in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(form.username.data)
        ok = passwords.verify_password(user.password_hash if user else None, form.password.data)
        if ok and user.can_sign_in:
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(form.password.data)
            user.last_login_at = utcnow()
            audit.record("login", user.id, actor=user)
            db.session.commit()
            session.clear()  # no fixation: nothing from before sign-in survives it
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
        audit.record(
            "login_failed",
            user.id if user else None,
            {"username": {"before": None, "after": form.username.data[:64]}},
            actor=None,
        )
        db.session.commit()
        flash(LOGIN_FAILED, "error")
        return render_template("auth/login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (POST with CSRF only)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
