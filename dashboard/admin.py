"""Flask-Admin set-up: the admin shell, guarded by Flask-Login and roles."""

from types import SimpleNamespace

from flask import Flask
from flask import abort
from flask import has_request_context
from flask import request
from flask_admin import Admin
from flask_admin import AdminIndexView
from flask_admin import expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from sqlalchemy import inspect
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
    (on_model_change/on_model_delete below), and a role change or deactivation ends the
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

    def on_model_change(self, form, model, is_created: bool) -> None:
        """Apply the role rules to Flask-Admin's create and edit forms."""
        if is_created:
            denial = roles.create_denial(current_user, model.role)
        else:
            denial = roles.edit_denial(current_user, _stored(model), _changes(model))
        if denial:
            abort(403, denial)
        role_changes = is_created and model.role != "member" or "role" in _changes(model)
        if role_changes and not sessions.login_is_recent():
            abort(sessions.reauth_response())  # a role change needs a sign-in in REAUTH_WINDOW
        if not is_created and {"role", "is_active"} & set(_changes(model)):
            sessions.revoke(model)
        super().on_model_change(form, model, is_created)

    def on_model_delete(self, model) -> None:
        """Apply the role rules to Flask-Admin's delete."""
        denial = roles.delete_denial(current_user, model)
        if denial:
            abort(403, denial)
        super().on_model_delete(model)


def _role_in(*allowed: str) -> bool:
    """True if the signed-in user has one of these roles (or outside a signed-in request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return True
    return current_user.role in allowed


def _changes(model) -> dict:
    """The role/is_active values a pending edit would set, for the fields it changes."""
    changes = {}
    for field in ("role", "is_active"):
        history = inspect(model).attrs[field].history
        if history.has_changes():
            changes[field] = getattr(model, field)
    return changes


def _stored(model):
    """A stand-in for the account as stored (before this edit), for the role rules."""
    values = {"id": model.id}
    for field in ("role", "is_active"):
        history = inspect(model).attrs[field].history
        values[field] = history.deleted[0] if history.deleted else getattr(model, field)
    return SimpleNamespace(**values)


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
