"""Sign-in and sign-out with Flask-Login; sessions bound to a per-user token."""

from flask import current_app
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

from .. import audit
from .. import passwords
from .. import sessions
from .. import throttle
from ..extensions import db
from ..extensions import login_manager
from ..htmx import hx_redirect
from ..models import User
from ..models import new_session_token
from ..models import update_bookkeeping
from ..models import utcnow
from . import bp
from .redirects import path_of
from .redirects import safe_next

LOGIN_FAILED = "Invalid username or password."
THROTTLED = "Too many failed sign-in attempts. Please wait {minutes} before trying again."


class LoginForm(FlaskForm):
    """The sign-in form."""

    username = StringField("Username", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)])


class ReauthForm(FlaskForm):
    """Re-enter the password before a sensitive change."""

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
    """Send anonymous visitors to the login page, keeping where they were as `next`.

    htmx 4 fetches with redirect "follow", so a 3xx would be followed silently and the login
    page swapped into the table; an HTMX request gets 204 plus HX-Redirect instead, which
    htmx turns into a full-page navigation (204, not 401: Chrome logs every 4xx fetch as a
    console error, and nothing is to be swapped anyway).
    """
    if sessions.htmx_fetch():
        current = request.headers.get("HX-Current-URL")
        next_path = safe_next(path_of(current)) if current else None
    else:
        next_path = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
    login_url = url_for("auth.login", next=next_path)
    if sessions.htmx_fetch():
        response = current_app.make_response(("", 204))
        return hx_redirect(response, login_url)
    return redirect(login_url)


def find_user(username: str) -> User | None:
    """The account with this username or email (case-insensitive)."""
    key = username.strip().lower()
    return db.session.scalar(select(User).where((User.username == key) | (User.email == key)))


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _throttled_response(form, wait: int):
    flash(THROTTLED.format(minutes=_minutes(wait)), "error")
    response = current_app.make_response((render_template("auth/login.html", form=form), 429))
    response.headers["Retry-After"] = str(wait)
    return response


def _sign_in(user: User, password: str) -> None:
    """Open a fresh session for this user (no fixation: nothing from before survives)."""
    bookkeeping = {"last_login_at": utcnow()}
    if passwords.needs_rehash(user.password_hash):
        bookkeeping["password_hash"] = passwords.hash_password(password)
    update_bookkeeping(user, **bookkeeping)
    audit.record("login", user.id, actor=user)
    db.session.commit()
    session.clear()
    login_user(user, remember=False)
    sessions.start()


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign people in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status
    username = form.username.data
    address = audit.client_address()
    wait = throttle.retry_after(username, address)
    if wait:
        audit.record("login_throttled", None, {"username": {"before": None, "after": username[:64]}})
        db.session.commit()
        return _throttled_response(form, wait)
    user = find_user(username)
    ok = passwords.verify_password(user.password_hash if user else None, form.password.data)
    if ok and user.can_sign_in:
        throttle.clear_user(username)
        _sign_in(user, form.password.data)
        return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    throttle.record_failure(username, address)
    audit.record(
        "login_failed",
        user.id if user else None,
        {"username": {"before": None, "after": username[:64]}},
        actor=None,
    )
    db.session.commit()
    flash(LOGIN_FAILED, "error")
    # 200, the same for every kind of refusal; a 4xx page load shows as a console error.
    return render_template("auth/login.html", form=form), 200


@bp.post("/logout")
@login_required
def logout():
    """Sign out (POST with CSRF only); rotating the token ends this user's other sessions too."""
    user = db.session.get(User, current_user.id)
    update_bookkeeping(user, session_token=new_session_token())
    audit.record("logout", user.id, actor=user)
    db.session.commit()
    logout_user()
    session.clear()
    if sessions.htmx_fetch():
        return hx_redirect(current_app.make_response(("", 204)), url_for("auth.login"))
    return redirect(url_for("auth.login"), 303)


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
def reauth():
    """Ask for the password again before a sensitive change, then go back to `next`."""
    form = ReauthForm()
    target = safe_next(request.args.get("next")) or url_for("admin.index")
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/reauth.html", form=form), status
    address = audit.client_address()
    wait = throttle.retry_after(current_user.username, address)
    if wait:
        flash(THROTTLED.format(minutes=_minutes(wait)), "error")
        response = current_app.make_response((render_template("auth/reauth.html", form=form), 429))
        response.headers["Retry-After"] = str(wait)
        return response
    if passwords.verify_password(current_user.password_hash, form.password.data):
        audit.record("reauth", current_user.id)
        db.session.commit()
        sessions.confirm_password()
        return redirect(target, 303)
    throttle.record_failure(current_user.username, address)
    audit.record("reauth_failed", current_user.id)
    db.session.commit()
    flash("That password is not right.", "error")
    return render_template("auth/reauth.html", form=form), 200
