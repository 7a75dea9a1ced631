"""The baseline: a plain Flask-Admin ModelView over the same users table, as most admin panels are.

Searchable username/email/full name, the same filters, page size 50, default sort by username,
CSV export. No login (which only flatters the baseline). Served by its own gunicorn:
`DATABASE_URL=... gunicorn bench.baseline_app:app`.
"""

import os

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import BooleanEqualFilter
from flask_admin.contrib.sqla.filters import DateTimeBetweenFilter
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.theme import Bootstrap4Theme

from dashboard.extensions import db
from dashboard.models import User

ROLE_FILTER = "role_equals"
ACTIVE_FILTER = "active_equals"


class PlainUserView(ModelView):
    """What Flask-Admin gives out of the box, configured like our table."""

    column_list = ("username", "email", "full_name", "role", "is_active", "created_at", "last_login_at")
    column_searchable_list = ("username", "email", "full_name")
    column_filters = (
        FilterEqual(User.role, "Role"),
        BooleanEqualFilter(User.is_active, "Active"),
        DateTimeBetweenFilter(User.created_at, "Created"),
        DateTimeBetweenFilter(User.last_login_at, "Last login"),
    )
    column_default_sort = "username"
    named_filter_urls = True
    form_columns = ("username", "email", "full_name", "role", "is_active")
    page_size = 50
    can_export = True
    export_types = ("csv",)


def create_baseline_app(database_url: str) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"),
        WTF_CSRF_ENABLED=False,
    )
    db.init_app(app)
    admin = Admin(app, name="Baseline", theme=Bootstrap4Theme())
    admin.add_view(PlainUserView(User, db, name="Users", endpoint="user"))
    return app


def _app_from_environment() -> Flask | None:
    url = os.environ.get("DATABASE_URL")
    return create_baseline_app(url) if url else None


app = _app_from_environment()
