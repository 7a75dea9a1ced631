"""Flask-Admin set-up: the admin shell, guarded by Flask-Login and roles."""

from flask import Flask
from flask import abort
from flask_admin import Admin
from flask_admin import AdminIndexView
from flask_admin import expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user

from .extensions import db
from .extensions import login_manager
from .models import STAFF_ROLES


class StaffOnly:
    """Mixin: a view that only signed-in staff (admin, editor, viewer) may open."""

    allowed_roles: tuple[str, ...] = STAFF_ROLES

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.role in self.allowed_roles

    def inaccessible_callback(self, name, **kwargs):
        """Anonymous visitors go to the login page; signed-in users without the role get 403."""
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        abort(403)


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
