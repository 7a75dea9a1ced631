"""The HTMX admin dashboard: application factory."""

import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask import redirect
from flask import url_for

from . import config as config_module
from . import extensions

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: type | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application from a config class (default: the one DASHBOARD_ENV names) plus overrides."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("DASHBOARD_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object(config or config_module.config_from_environment())
    app.config.update(overrides or {})
    _resolve_secrets_and_database(app)

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True
    )
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)

    from .db import init_engine

    init_engine(app)

    from . import auth
    from . import errors
    from . import formats
    from . import security

    app.register_blueprint(auth.bp)
    errors.init_app(app)
    formats.init_app(app)
    security.init_app(app)

    from .admin import init_admin

    init_admin(app)

    from .cli import register_commands

    register_commands(app)

    @app.get("/")
    def home():
        """The dashboard lives under /admin/; the site root sends people there."""
        return redirect(url_for("admin.index"))

    return app


def _resolve_secrets_and_database(app: Flask) -> None:
    """Fill in SECRET_KEY and the database URL where the configuration left them open."""
    if not app.config.get("SECRET_KEY"):
        if app.config.get("ENV_NAME") == "production":
            raise RuntimeError("SECRET_KEY must be set in the environment in production.")
        app.config["SECRET_KEY"] = config_module.load_or_create_secret_key(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'dashboard.db'}"
