"""Fixtures: the app on each backend, clients per role, a real gunicorn, a real Chromium.

Every test that touches the database runs once on SQLite and once on PostgreSQL (the
`backend` fixture is parametrized). TEST_BACKENDS=sqlite limits a local run to one.
"""

import os
import shutil
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import StrictUndefined
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from dashboard import create_app
from dashboard import passwords
from dashboard import sessions
from dashboard.config import TestingConfig
from dashboard.extensions import db
from dashboard.models import User
from dashboard.models import utcnow
from tests.support.postgres import throwaway_cluster
from tests.support.server import gunicorn

BACKENDS = [name for name in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",") if name]
PASSWORD = "correct horse battery"  # meets the policy; used for every test account

# Hashing at full argon2 cost for every fixture user would dominate the suite's time.
_HASH_CACHE: dict[str, str] = {}


def hashed(password: str) -> str:
    """Hash a test password once and reuse it."""
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = passwords.hash_password(password)
    return _HASH_CACHE[password]


def build_app(database_url: str, instance_path: str, **overrides) -> Flask:
    """An app on the given database with the testing configuration."""
    os.environ["DASHBOARD_INSTANCE_PATH"] = instance_path
    try:
        return create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    finally:
        del os.environ["DASHBOARD_INSTANCE_PATH"]


# --- databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    """A PostgreSQL server URL without a database: TEST_POSTGRES_URL, or a throwaway cluster."""
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"].rstrip("/")
        return
    with throwaway_cluster() as url:
        yield url


def admin_engine(postgres_base_url: str):
    """An autocommit engine on the maintenance database, for CREATE/DROP DATABASE."""
    return create_engine(f"{postgres_base_url}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool)


def migrate_to_head(database_url: str, instance_path: str) -> None:
    """Build the schema the only way it is ever built: the migrations."""
    app = build_app(database_url, instance_path)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The database backend this test runs on."""
    return request.param


@pytest.fixture(scope="session")
def template_database(backend, tmp_path_factory, request) -> str:
    """A database migrated to head once per session; each test gets a copy of it."""
    instance = str(tmp_path_factory.mktemp("template-instance"))
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrate_to_head(f"sqlite:///{path}", instance)
        return str(path)
    base = request.getfixturevalue("postgres_base_url")
    name = f"template_{uuid.uuid4().hex[:8]}"
    with admin_engine(base).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate_to_head(f"{base}/{name}", instance)
    return name


@pytest.fixture
def database_url(backend, template_database, tmp_path, request) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if backend == "sqlite":
        path = tmp_path / "dashboard.db"
        shutil.copyfile(template_database, path)
        yield f"sqlite:///{path}"
        return
    base = request.getfixturevalue("postgres_base_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(base)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield f"{base}/{name}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


# --- the app and its clients -------------------------------------------------------------


@pytest.fixture
def app(database_url, tmp_path) -> Iterator[Flask]:
    """The application on a fresh database."""
    application = build_app(database_url, str(tmp_path / "instance"))
    application.jinja_env.undefined = StrictUndefined
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    """An anonymous HTTP client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def make_user(app) -> Callable[..., User]:
    """Create a user directly in the database (staff get the shared test password)."""
    counter = iter(range(1, 1_000_000))

    def make(
        role: str = "member", *, username: str | None = None, password: str | None = PASSWORD, **fields
    ) -> User:
        number = next(counter)
        username = username or f"{role}{number}"
        user = User(
            username=username,
            email=fields.pop("email", f"{username}@example.com"),
            full_name=fields.pop("full_name", f"{role.title()} Number{number}"),
            role=role,
            password_hash=hashed(password) if password else None,
            **fields,
        )
        with app.app_context():
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        return user

    return make


def csrf_token_from(html: str) -> str:
    """The CSRF token a page embeds in its meta tag or hidden field."""
    import re

    match = re.search(r'name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"', html)
    if not match:
        raise AssertionError("page carries no CSRF token")
    return match.group(1)


class AuthActions:
    """Sign a test client in and out through the real login form."""

    def __init__(self, client: FlaskClient):
        self._client = client

    def login(self, username: str, password: str = PASSWORD, next_url: str | None = None):
        page = self._client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        url = "/login" if next_url is None else f"/login?next={next_url}"
        return self._client.post(url, data={"username": username, "password": password, "csrf_token": token})

    def csrf(self, path: str = "/admin/") -> str:
        """A valid CSRF token for this client's session."""
        return csrf_token_from(self._client.get(path).get_data(as_text=True))


@pytest.fixture
def auth(client) -> AuthActions:
    """Login helper for the `client` fixture."""
    return AuthActions(client)


@pytest.fixture
def client_as(app, make_user) -> Callable[[str], FlaskClient]:
    """A new client signed in as a fresh user of the given role."""

    def signed_in(role: str) -> FlaskClient:
        user = make_user(role)
        new_client = app.test_client()
        response = AuthActions(new_client).login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        new_client.user = user
        return new_client

    return signed_in


@pytest.fixture
def admin_client(client_as) -> FlaskClient:
    return client_as("admin")


@pytest.fixture
def editor_client(client_as) -> FlaskClient:
    return client_as("editor")


@pytest.fixture
def viewer_client(client_as) -> FlaskClient:
    return client_as("viewer")


class Clock:
    """A controllable replacement for dashboard.sessions.now, the clock of session lifetimes."""

    def __init__(self):
        self.current = utcnow()

    def __call__(self):
        return self.current

    def advance(self, **delta):
        self.current += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Freeze session time; tests move it with clock.advance(minutes=...)."""
    fake = Clock()
    monkeypatch.setattr(sessions, "now", fake)
    return fake


# --- a real server and a real browser ----------------------------------------------------


@pytest.fixture
def live_server(database_url, tmp_path) -> Iterator[str]:
    """gunicorn (2 workers) serving this test's database on a free loopback port."""
    with gunicorn(database_url, str(tmp_path / "instance")) as (url, _process):
        yield url


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class PageProblems(list):
    """Console errors, page errors and CSP violations seen by one page."""


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


def watch_page(page, problems: PageProblems) -> None:
    """Record anything that should fail a browser test: console errors, CSP violations."""
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
    )


@pytest.fixture
def new_page(browser, page_problems):
    """Open pages in fresh browser contexts; fails the test on any console error or CSP violation."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=None)
        contexts.append(context)
        page = context.new_page()
        watch_page(page, page_problems)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not page_problems, "browser reported problems:\n" + "\n".join(page_problems)


@pytest.fixture
def page(new_page):
    """One browser page, watched for console errors and CSP violations."""
    return new_page()
