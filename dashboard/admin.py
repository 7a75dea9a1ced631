"""Flask-Admin set-up: the admin shell, guarded by Flask-Login and roles."""

from flask import Flask
from flask import abort
from flask import has_request_context
from flask import request
from flask_admin import Admin
from flask_admin import AdminIndexView
from flask_admin import expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from . import roles
from . import sessions
from .db import SAFE_METHODS
from .extensions import db
from .extensions import login_manager
from .models import STAFF_ROLES


class StaffOnly:
    """Mixin: a view that only signed-in staff may open, and only admins and editors may change.

    Viewers get 403 on every write (any non-GET request and Flask-Admin's create/edit/delete/
    action pages). Flask-Admin's own model writes go through the rules in dashboard/roles.py
    (create_model/update_model/delete_model below), and a role change or deactivation ends the
    account's sessions.
    """

    allowed_roles: tuple[str, ...] = STAFF_ROLES
    write_endpoints = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.role in self.allowed_roles

    def _is_write(self) -> bool:
        endpoint = (request.endpoint or "").rpartition(".")[2]
        return request.method not in SAFE_METHODS or endpoint in self.write_endpoints

    # Flask-Admin reads these to show or hide its Create/Edit/Delete buttons; they follow the
    # signed-in role (outside a request, the class defaults apply).
    @property
    def can_create(self) -> bool:
        return _role_in("admin", "editor")

    @property
    def can_edit(self) -> bool:
        return _role_in("admin", "editor")

    @property
    def can_delete(self) -> bool:
        return _role_in("admin")

    def _handle_view(self, name, **kwargs):
        """Flask-Admin's per-request guard: login and staff role, then the write permission."""
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        if self._is_write() and not roles.can_write(current_user):
            abort(403, "Your role can only view accounts.")
        flag = {"create_view": "can_create", "edit_view": "can_edit", "delete_view": "can_delete"}.get(name)
        if flag and not getattr(self, flag, True):
            abort(403, "Your role cannot do this.")
        if name == "action_view" and not self.is_action_allowed(request.form.get("action", "")):
            abort(403, "Your role cannot do this.")
        return None

    def inaccessible_callback(self, name, **kwargs):
        """Anonymous visitors go to the login page; signed-in users without the role get 403."""
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        abort(403)

    def handle_view_exception(self, exc: Exception) -> bool:
        """A refusal from the role rules is a 403, not a flashed 'failed to save'."""
        if isinstance(exc, HTTPException):
            db.session.rollback()
            raise exc
        return super().handle_view_exception(exc)

    # Flask-Admin's model writes all pass through these three methods, whatever on_model_change
    # hooks a subclass adds: the role rules answer 403 here, before anything is written.
    def create_model(self, form):
        """Create through Flask-Admin's form: role rules, and a recent sign-in to grant staff roles."""
        role = _form_value(form, "role", "member")
        denial = roles.create_denial(current_user, role)
        if denial:
            abort(403, denial)
        if role != "member" and not sessions.login_is_recent():
            abort(sessions.reauth_response())
        return super().create_model(form)

    def update_model(self, form, model) -> bool:
        """Edit through Flask-Admin's form: role rules, re-auth for role changes, sessions revoked."""
        changes = _form_changes(form, model)
        denial = roles.edit_denial(current_user, model, changes)
        if denial:
            abort(403, denial)
        if "role" in changes and not sessions.login_is_recent():
            abort(sessions.reauth_response())
        if changes:
            sessions.revoke(model)  # rolled back with the edit if the edit fails
        return super().update_model(form, model)

    def delete_model(self, model) -> bool:
        """Delete through Flask-Admin: role rules."""
        denial = roles.delete_denial(current_user, model)
        if denial:
            abort(403, denial)
        return super().delete_model(model)


def _form_value(form, name: str, default):
    field = getattr(form, name, None)
    return default if field is None else field.data


def _form_changes(form, model) -> dict:
    """The role/is_active values this form would change on the stored account."""
    changes = {}
    for name in ("role", "is_active"):
        value = _form_value(form, name, getattr(model, name))
        if value != getattr(model, name):
            changes[name] = value
    return changes


def _role_in(*allowed: str) -> bool:
    """True if the signed-in user has one of these roles (or outside a signed-in request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return True
    return current_user.role in allowed


class HomeView(StaffOnly, AdminIndexView):
    """The dashboard's home page."""

    @expose("/")
    def index(self):
        return self.render("admin/home.html")


def init_admin(app: Flask) -> Admin:
    """Create the Admin for this app (one per app, so tests may build many apps)."""
    from .models import User
    from .user_views import UserAdmin

    admin = Admin(
        app,
        name="Dashboard",
        theme=Bootstrap4Theme(base_template="dashboard_base.html", fluid=True),
        index_view=HomeView(name="Home", url="/admin"),
    )
    admin.add_view(UserAdmin(User, db, name="Users", endpoint="user"))
    return admin
