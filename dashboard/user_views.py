"""The users table: a Flask-Admin ModelView whose list is our own page of HTMX partials.

Every view is thin: it parses the request, calls dashboard.users, and renders a full page or,
for HTMX, the partial that changed. Without JavaScript every action is a plain link or form
(full pages, POST then 303 back to the list).
"""

import json
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import Response
from flask import abort
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import stream_with_context
from flask import url_for
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from sqlalchemy import inspect
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms.validators import ValidationError

from . import audit
from . import csv_export
from . import roles
from . import sessions
from . import users
from .admin import StaffOnly
from .extensions import db
from .htmx import is_htmx
from .htmx import vary_on_htmx
from .models import ROLES
from .models import User

MESSAGE_EVENT = "dashboard:message"
MAX_SELECTED_IDS = 1000  # a page shows at most 100; more can only be a crafted request


class Permissions:
    """What the signed-in user may do in the table, for hiding controls they cannot use."""

    def __init__(self, actor: User):
        self.can_write = roles.can_write(actor)
        self.can_delete = actor.role == "admin"
        self.assignable = roles.assignable_roles(actor)
        self.actor_id = actor.id
        # Rows whose role is in this set get Edit and the toggle (the server checks again on save);
        # a set, so the table tests membership per row rather than calling a method 50 times.
        if not self.can_write:
            self.editable_roles: frozenset[str] = frozenset()
        elif actor.role == "admin":
            self.editable_roles = frozenset(ROLES)
        else:
            self.editable_roles = frozenset(roles.EDITABLE_BY_EDITOR)


def with_message(response: Response, text: str, level: str = "success") -> Response:
    """Ask the page's JS to show a message that fades by itself (HX-Trigger, no inline script)."""
    payload = {MESSAGE_EVENT: {"level": level, "text": text, "target": "body"}}
    response.headers["HX-Trigger"] = json.dumps(payload)
    return response


def list_query_from(args) -> users.ListQuery:
    """A list query from args; a bad value answers 400 with its message."""
    try:
        return users.ListQuery.from_args(args)
    except users.BadQuery as error:
        abort(400, description=str(error))


def return_query() -> users.ListQuery:
    """The list state to return to after a write: the browser's URL (HTMX) or the form's `back`."""
    source = ""
    if is_htmx() and request.headers.get("HX-Current-URL"):
        source = urlsplit(request.headers["HX-Current-URL"]).query
    elif request.form.get("back"):
        source = request.form["back"]
    try:
        return users.ListQuery.from_args(MultiDict(parse_qsl(source, keep_blank_values=True)))
    except users.BadQuery:
        return users.ListQuery()


def _version_of(form) -> str | None:
    return form.get("version")


class UserAdmin(StaffOnly, ModelView):
    """Users: our live table for the list; Flask-Admin's create/edit/details under the same rules."""

    column_list = ("username", "email", "full_name", "role", "is_active", "created_at", "last_login_at")
    column_searchable_list = ("username", "email", "full_name")
    form_excluded_columns = (
        "password_hash",
        "session_token",
        "version",
        "created_at",
        "updated_at",
        "password_changed_at",
        "last_login_at",
    )
    can_view_details = True
    page_size = 50
    form_overrides = {"role": SelectField}
    form_args = {"role": {"choices": [SelectChoice(role) for role in ROLES]}}
    # The edit page carries the version the admin loaded, like the table's rows do.
    form_extra_fields = {"seen_version": HiddenField()}
    # Flask-Admin's bulk delete binds the ids as VARCHAR, which PostgreSQL refuses (a 500);
    # the table's POST /admin/user/bulk replaces it.
    action_disallowed_list = ["delete"]

    # Flask-Admin's own pages follow the role rules too.
    @property
    def can_create(self) -> bool:
        return current_user.is_authenticated and roles.can_write(current_user)

    @property
    def can_edit(self) -> bool:
        return current_user.is_authenticated and roles.can_write(current_user)

    @property
    def can_delete(self) -> bool:
        return current_user.is_authenticated and current_user.role == "admin"

    def on_form_prefill(self, form, id):
        """Remember which version of the row the edit page showed."""
        form.seen_version.data = str(self.get_one(id).version)

    def on_model_change(self, form, model, is_created):
        """Apply roles.py (and the audit trail) to Flask-Admin's create and edit forms."""
        with db.session.no_autoflush:
            if is_created:
                denial = roles.create_denial(current_user, model.role)
                before: dict = {}
            else:
                if (form.seen_version.data or "") != str(model.version):
                    raise ValidationError(
                        "Someone else changed this user since you opened it; nothing was saved. "
                        "Reload to see the current values."
                    )
                original = _before(model)
                changed = {
                    name: getattr(model, name) for name in users.EDITABLE_FIELDS if _changed(model, name)
                }
                denial = roles.edit_denial(current_user, original, changed)
                before = users.snapshot_of(original)
        if denial:
            raise ValidationError(denial)
        db.session.flush()
        audit.record(
            "create" if is_created else "update", model.id, audit.diff(before, users.snapshot_of(model))
        )

    def on_model_delete(self, model):
        """Apply roles.py (and the audit trail) to Flask-Admin's delete."""
        denial = roles.delete_denial(current_user, model)
        if denial:
            raise ValidationError(denial)
        audit.record("delete", model.id, audit.diff(users.snapshot_of(model), {}))

    # --- rendering helpers ---------------------------------------------------------------

    def _context(self, page: users.Page, **extra) -> dict:
        perms = Permissions(current_user)
        return {
            "page": page,
            "query": page.query,
            "perms": perms,
            "back": urlencode(page.query.to_args()),
            # Each row's no-JS Edit/Delete link returns to the page by its number: a Next/Previous
            # cursor in 100 links would make the partial a quarter bigger.
            "row_back": urlencode(page.query.to_args(cursor=None)),
            "list_url": self.list_url,
            "row_base": self.row_base(),
            "last_page": users.LAST_PAGE,
            "row_modes": extra.pop("row_modes", {}),
            "row_errors": extra.pop("row_errors", {}),
            "row_input": extra.pop("row_input", {}),
            "conflict_tried": extra.pop("conflict_tried", {}),
            "create_errors": extra.pop("create_errors", {}),
            "create_input": extra.pop("create_input", {}),
            "bulk_confirm": extra.pop("bulk_confirm", None),
            "page_message": extra.pop("page_message", None),
            **extra,
        }

    def list_url(self, query: users.ListQuery, **overrides) -> str:
        """The list page URL for a query, with some values replaced."""
        args = query.to_args(**overrides)
        if "users_list_path" not in g:  # a table links to the list a dozen times: build it once
            g.users_list_path = url_for(".index_view")
        base = g.users_list_path
        return f"{base}?{urlencode(args)}" if args else base

    def row_base(self) -> str:
        """Rows' URLs without the id ("/admin/user/row/"): built once, not for each of 50 rows."""
        return url_for(".row_view", user_id=0).removesuffix("0")

    def _full_page(self, query: users.ListQuery, status: int = 200, **extra) -> Response:
        page = users.list_users(query)
        body = self.render("users/list.html", **self._context(page, **extra))
        return vary_on_htmx(make_response(body, status))

    def _table(self, query: users.ListQuery, status: int = 200, **extra) -> Response:
        page = users.list_users(query)
        body = render_template("users/_table.html", **self._context(page, **extra))
        return vary_on_htmx(make_response(body, status))

    def _row(self, user: User, mode: str = "display", status: int = 200, **extra) -> Response:
        template = {
            "display": "users/_row.html",
            "edit": "users/_edit_row.html",
            "conflict": "users/_conflict_row.html",
            "delete": "users/_delete_row.html",
        }[mode]
        context = {
            "user": user,
            "perms": Permissions(current_user),
            "back": urlencode(return_query().to_args()),
            "errors": extra.pop("errors", {}),
            "input": extra.pop("input", {}),
            "tried": extra.pop("tried", {}),
            "list_url": self.list_url,
            "row_base": self.row_base(),
            **extra,
        }
        return vary_on_htmx(make_response(render_template(template, **context), status))

    def _back(self, text: str, level: str = "success") -> Response:
        """Non-HTMX write done: flash the message and 303 back to the list as it was."""
        flash(text, level)
        return redirect(self.list_url(return_query()), 303)

    def _require_writer(self) -> None:
        if not roles.can_write(current_user):
            abort(403, description="Your role cannot change accounts.")

    # --- reads -------------------------------------------------------------------------

    @expose("/")
    def index_view(self):
        """The list page, or only the table partial when HTMX asks."""
        query = list_query_from(request.args)
        if is_htmx():
            return self._table(query)
        return self._full_page(query)

    @expose("/count")
    def count_view(self):
        """The exact number of matches, asked for when the list shows a capped "10,000+"."""
        query = list_query_from(request.args)
        if is_htmx():
            page = users.Page([], users.exact_total(query), 1, query.page_size, query)
            body = render_template("users/_count.html", page=page, query=query)
            return vary_on_htmx(make_response(body))
        page = users.list_users(query)
        page.total, page.exact = users.exact_total(query), True
        body = self.render("users/list.html", **self._context(page))
        return vary_on_htmx(make_response(body))

    @expose("/row/<int:user_id>", methods=("GET",))
    def row_view(self, user_id: int):
        """One row in display mode (Cancel of an edit)."""
        user = self._user_or_404(user_id)
        if not is_htmx():
            return redirect(self.list_url(list_query_from(request.args)), 303)
        return self._row(user)

    @expose("/row/<int:user_id>/edit", methods=("GET",))
    def row_edit_view(self, user_id: int):
        """The row in edit mode; without JS, the list page with that row in edit."""
        user = self._user_or_404(user_id)
        self._require_writer()
        if is_htmx():
            return self._row(user, "edit")
        return self._full_page(list_query_from(request.args), row_modes={user.id: "edit"})

    @expose("/row/<int:user_id>/delete", methods=("GET",))
    def row_delete_confirm_view(self, user_id: int):
        """The inline 'really delete?' step (works without JS as a full page)."""
        user = self._user_or_404(user_id)
        if current_user.role != "admin":
            abort(403, description="Only admins can delete accounts.")
        if is_htmx():
            return self._row(user, "delete")
        return self._full_page(list_query_from(request.args), row_modes={user.id: "delete"})

    @expose("/export.csv")
    def export_view(self):
        """The current view's rows as CSV, streamed row by row."""
        query = list_query_from(request.args)
        response = Response(stream_with_context(csv_export.csv_blocks(query)), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="users.csv"'
        response.headers["Cache-Control"] = "no-store"
        return response

    # --- writes --------------------------------------------------------------------------

    @expose("/row/<int:user_id>", methods=("POST",))
    def row_save_view(self, user_id: int):
        """Save an in-place edit: 200 row, 422 row in edit, 409 conflict, 403 refused."""
        changes = users.parse_changes(request.form)
        return self._write_row(
            user_id,
            lambda: users.update_user(
                user_id, changes, _version_of(request.form), current_user, sessions.login_is_recent()
            ),
            changes,
        )

    @expose("/row/<int:user_id>/toggle-active", methods=("POST",))
    def row_toggle_view(self, user_id: int):
        """One-click activate/deactivate."""
        return self._write_row(
            user_id, lambda: users.toggle_active(user_id, _version_of(request.form), current_user), None
        )

    def _write_row(self, user_id: int, write, tried: dict | None) -> Response:
        """Run a row write and answer with the right partial or page for each outcome."""
        try:
            user = write()
        except users.NotFound:
            abort(404, description="No such user.")
        except users.UserError as error:
            db.session.rollback()
            return self._row_problem(
                user_id, "edit", 422, errors=error.errors, input=tried or {}, message=error.message
            )
        except users.Conflict as conflict:
            db.session.rollback()
            return self._row_problem(
                conflict.current.id,
                "conflict",
                409,
                tried=tried or {},
                message="Someone else changed this user since you loaded it. Nothing was overwritten.",
            )
        except users.Forbidden as error:
            db.session.rollback()
            return self._row_problem(user_id, "display", 403, message=error.message)
        except users.ReauthRequired:
            db.session.rollback()
            return sessions.reauth_response()
        text = f"Saved {user.username}."
        if is_htmx():
            return with_message(self._row(user), text)
        return self._back(text)

    def _row_problem(self, user_id: int, mode: str, status: int, message: str, **extra) -> Response:
        user = self._user_or_404(user_id)
        level = "danger" if status != 409 else "warning"
        if is_htmx():
            return with_message(self._row(user, mode, status, **extra), message, level)
        row_extra = {
            "row_errors": {user_id: extra.get("errors", {})},
            "row_input": {user_id: extra.get("input", {})},
            "conflict_tried": {user_id: extra.get("tried", {})},
        }
        return self._full_page(
            return_query(), status, row_modes={user_id: mode}, page_message=(level, message), **row_extra
        )

    @expose("/row/<int:user_id>/delete", methods=("POST",))
    def row_delete_view(self, user_id: int):
        """Delete (admin only, after the confirm step)."""
        self._user_or_404(user_id)
        try:
            gone = users.delete_user(user_id, _version_of(request.form), current_user)
        except users.Conflict:
            db.session.rollback()
            return self._row_problem(
                user_id,
                "conflict",
                409,
                tried={},
                message="Someone else changed this user since you loaded it; it was not deleted.",
            )
        except users.Forbidden as error:
            db.session.rollback()
            if not roles.can_write(current_user):
                abort(403, description=error.message)
            return self._row_problem(user_id, "display", 403, message=error.message)
        text = f"Deleted {gone['username']}."
        if is_htmx():
            return self._retarget_table(text)
        return self._back(text)

    @expose("/new", methods=("POST",))
    def create_row_view(self):
        """Create a user from the form above the table."""
        self._require_writer()
        fields = {k: request.form.get(k, "") for k in ("username", "email", "full_name", "role")}
        fields["is_active"] = users.parse_changes(request.form, ("is_active",))["is_active"]
        try:
            user = users.create_user(fields, current_user)
        except users.UserError as error:
            db.session.rollback()
            if is_htmx():
                body = render_template(
                    "users/_create.html",
                    perms=Permissions(current_user),
                    create_errors=error.errors,
                    create_input=fields,
                    back=urlencode(return_query().to_args()),
                    open_panel=True,
                )
                return with_message(make_response(body, 422), error.message, "danger")
            return self._full_page(
                return_query(),
                422,
                create_errors=error.errors,
                create_input=fields,
                page_message=("danger", error.message),
            )
        text = f"Created {user.username}."
        if is_htmx():
            response = self._retarget_table(text)
            response.headers["HX-Trigger"] = json.dumps(
                {**json.loads(response.headers["HX-Trigger"]), "dashboard:created": {"target": "body"}}
            )
            return response
        return self._back(text)

    @expose("/bulk", methods=("POST",))
    def bulk_view(self):
        """Bulk action: first a confirmation stating the count, then the change in one transaction."""
        self._require_writer()
        form = request.form
        action = form.get("action", "")
        role = form.get("role") or None
        ids, query = self._bulk_selection(form)
        if action not in users.BULK_ACTIONS or (action == "set_role" and role not in users.ROLES):
            return self._bulk_refused("Choose an action (and, to change role, the new role).")
        if action == "delete" and current_user.role != "admin":
            return self._bulk_refused("Only admins can delete accounts.", 403)
        if ids is not None and not ids:
            return self._bulk_refused("Select some rows first, or choose all matching rows.")
        if action == "set_role" and not sessions.login_is_recent():
            return sessions.reauth_response()
        if form.get("confirm") != "yes":
            count = users.count_bulk_targets(ids, query)
            confirm = {"action": action, "role": role, "ids": ids, "query": query, "count": count}
            if is_htmx():
                body = render_template(
                    "users/_bulk_confirm.html", bulk_confirm=confirm, back=urlencode(return_query().to_args())
                )
                return make_response(body)
            return self._full_page(return_query(), bulk_confirm=confirm)
        result = users.bulk_change(action, ids, query, current_user, role, sessions.login_is_recent())
        text = bulk_summary(result)
        if is_htmx():
            return self._retarget_table(text, "success" if not result.skipped else "warning")
        return self._back(text, "success" if not result.skipped else "warning")

    def _bulk_selection(self, form) -> tuple[list[int] | None, users.ListQuery | None]:
        """Ids chosen by checkbox, or (scope=matching) the list query the form carried."""
        if form.get("scope") == "matching":
            filters = MultiDict([(k, v) for k, v in form.items(multi=True) if k.startswith("f_")])
            args = MultiDict([(k[2:], v) for k, v in filters.items(multi=True)])
            return None, list_query_from(args)
        ids: list[int] = []
        if len(form.getlist("ids")) > MAX_SELECTED_IDS:
            abort(400, description=f"Select at most {MAX_SELECTED_IDS:,} rows, or choose all matching rows.")
        for raw in form.getlist("ids"):
            if not raw.isdigit() or len(raw) > 12:
                abort(400, description="Row ids must be whole numbers.")
            ids.append(int(raw))
        return sorted(set(ids)), None

    def _bulk_refused(self, message: str, status: int = 422) -> Response:
        if is_htmx():
            body = render_template(
                "users/_bulk_confirm.html",
                bulk_confirm=None,
                bulk_error=message,
                back=urlencode(return_query().to_args()),
            )
            return with_message(make_response(body, status), message, "danger")
        return self._full_page(return_query(), status, page_message=("danger", message))

    def _retarget_table(self, text: str, level: str = "success") -> Response:
        """Answer a write with the whole table (count and pager change) in place of its target."""
        response = with_message(self._table(return_query()), text, level)
        response.headers["HX-Retarget"] = "#user-table"
        response.headers["HX-Reswap"] = "innerHTML"
        return response

    def _user_or_404(self, user_id: int) -> User:
        try:
            return users.get_user(user_id)
        except users.NotFound:
            abort(404, description="No such user; it may have been deleted.")


def bulk_summary(result: users.BulkResult) -> str:
    """'Deactivated 12 users; skipped 2: Editors cannot change admin accounts (2).'"""
    verbs = {
        "activate": "Activated",
        "deactivate": "Deactivated",
        "set_role": "Changed the role of",
        "delete": "Deleted",
    }
    text = f"{verbs[result.action]} {result.done:,} user{'s' if result.done != 1 else ''}."
    if result.skipped:
        reasons = "; ".join(f"{reason} ({count:,})" for reason, count in sorted(result.skipped.items()))
        text += f" Skipped {result.skipped_total:,}: {reasons}"
    return text


def _changed(model: User, name: str) -> bool:
    return inspect(model).attrs[name].history.has_changes()


def _before(model: User) -> User:
    """A transient copy of the model with its values before this edit, for roles.edit_denial."""
    state = inspect(model)
    copy = User(id=model.id)
    for name in ("role", "is_active", "username", "email", "full_name"):
        history = state.attrs[name].history
        value = history.deleted[0] if history.deleted else getattr(model, name)
        copy.__dict__[name] = value
    return copy
