"""Passwords: change your own (current password required); admins set another account's."""

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length
from wtforms.validators import ValidationError

from .. import audit
from .. import passwords
from .. import roles
from .. import sessions
from ..extensions import db
from ..models import User
from ..models import new_session_token
from ..models import update_bookkeeping
from ..models import utcnow
from . import bp


def _policy(form, field) -> None:
    problem = passwords.policy_error(field.data or "")
    if problem:
        raise ValidationError(problem)


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH), _policy]
    )
    confirm = PasswordField(
        "Repeat new password", validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")]
    )


class ChangePasswordForm(NewPasswordForm):
    """Your own new password, with the current one as proof."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)]
    )


def set_password(target: User, password: str, action: str) -> None:
    """Store a new password, end every session of the account and audit it (caller commits)."""
    update_bookkeeping(
        target,
        password_hash=passwords.hash_password(password),
        password_changed_at=utcnow(),
        session_token=new_session_token(),  # every session of the account ends
    )
    audit.record(action, target.id, {"password": {"before": "(hidden)", "after": "(changed)"}})


def _continue_signed_in(user: User) -> None:
    """After rotating our own token, reopen this browser's session under the new one."""
    session.clear()
    login_user(user, remember=False)
    sessions.start()


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change your own password; every other session of yours ends."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("account/password.html", form=form), status
    user = db.session.get(User, current_user.id)
    if not passwords.verify_password(user.password_hash, form.current_password.data):
        form.current_password.errors = ["That is not your current password."]
        return render_template("account/password.html", form=form), 422
    set_password(user, form.new_password.data, "password_change")
    db.session.commit()
    _continue_signed_in(user)
    flash("Your password has been changed; other sessions were signed out.", "info")
    return redirect(url_for("admin.index"), 303)


@bp.route("/account/users/<int:user_id>/password", methods=["GET", "POST"])
@login_required
def set_user_password(user_id: int):
    """An admin sets another account's password (recent sign-in required)."""
    target = db.session.get(User, user_id)
    if target is None:
        abort(404, "No such user.")
    denial = roles.password_denial(current_user, target)
    if denial:
        abort(403, denial)
    if not sessions.login_is_recent():
        return sessions.reauth_response()
    form = NewPasswordForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("account/set_password.html", form=form, target=target), status
    set_password(target, form.new_password.data, "password_set")
    db.session.commit()
    if target.id == current_user.id:
        _continue_signed_in(target)
    flash(f"The password of {target.username} has been set; their sessions were signed out.", "info")
    return redirect(url_for("admin.index"), 303)
