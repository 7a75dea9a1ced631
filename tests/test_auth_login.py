"""Sign-in and sign-out: who may, what they are told, where they land, what the audit log says."""

import statistics
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from dashboard import passwords
from dashboard.auth.login import LOGIN_FAILED
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.conftest import PASSWORD
from tests.conftest import AuthActions


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_login_page_has_labelled_fields_and_button(client):
    body = client.get("/login").get_data(as_text=True)
    assert 'for="username"' in body and ">Username<" in body
    assert 'for="password"' in body and ">Password<" in body
    assert ">Log in</button>" in body


def test_staff_signs_in_and_lands_on_dashboard(client, auth, make_user, app):
    user = make_user("viewer")
    response = auth.login(user.username)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert audit_actions(app) == ["login"]


def test_login_by_email_is_case_insensitive(client, auth, make_user):
    user = make_user("editor")
    assert auth.login(user.email.upper()).status_code == 302


@pytest.mark.parametrize("case", ["unknown", "wrong_password", "member", "inactive", "no_password"])
def test_every_refusal_looks_the_same(client, auth, make_user, app, case):
    """Unknown user, wrong password, member, inactive: one message, one status."""
    if case == "unknown":
        response = auth.login("nobody-here")
    elif case == "wrong_password":
        response = auth.login(make_user("admin").username, "not the password at all")
    elif case == "member":
        response = auth.login(make_user("member").username)
    elif case == "inactive":
        response = auth.login(make_user("admin", is_active=False).username)
    else:
        response = auth.login(make_user("viewer", password=None).username, "")
        assert response.status_code == 400  # empty password: the form itself refuses
        return
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert LOGIN_FAILED in body
    assert client.get("/admin/").status_code == 302
    assert audit_actions(app) == ["login_failed"]


def _median_login_seconds(client, auth, username, password, rounds=7) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = auth.login(username, password)
        times.append(time.perf_counter() - start)
        assert LOGIN_FAILED in response.get_data(as_text=True)
    return statistics.median(times)


def test_unknown_user_costs_about_as_much_as_a_wrong_password(app, make_user):
    """The dummy hash check: a miss is not an order of magnitude faster than a hit."""
    user = make_user("admin")
    app.config["LOGIN_MAX_FAILURES_PER_USER"] = 1000
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 1000
    client = app.test_client()
    auth = AuthActions(client)
    known = _median_login_seconds(client, auth, user.username, "wrong password here")
    unknown = _median_login_seconds(client, auth, "no-such-user", "wrong password here")
    ratio = max(known, unknown) / min(known, unknown)
    assert ratio < 5, f"known {known:.4f}s vs unknown {unknown:.4f}s"


def test_verify_without_a_hash_still_hashes(monkeypatch):
    """The unknown-user path runs a real argon2 verification against the dummy hash."""
    calls = []
    real = passwords._hasher

    class Spy:
        def verify(self, password_hash, password):
            calls.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    assert passwords.verify_password(None, "anything at all") is False
    assert calls == [passwords._DUMMY_HASH]


def test_outdated_hash_is_upgraded_at_login(client, auth, make_user, app):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user = make_user("admin")
    with app.app_context():
        db.session.get(User, user.id).password_hash = weak
        db.session.commit()
    assert passwords.needs_rehash(weak)
    assert auth.login(user.username).status_code == 302
    with app.app_context():
        stored = db.session.get(User, user.id).password_hash
    assert stored != weak and not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD)


def test_session_is_cleared_on_login_no_fixation(client, auth, make_user):
    user = make_user("admin")
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        planted_csrf = sess.get("csrf_token")
    assert auth.login(user.username).status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{user.id}:{user.session_token}"
        assert sess.get("csrf_token") != planted_csrf


def test_no_remember_me_cookie(client, auth, make_user):
    user = make_user("admin")
    response = auth.login(user.username)
    cookies = response.headers.getlist("Set-Cookie")
    assert not any(c.startswith("remember_token") for c in cookies)
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # testing config serves plain HTTP
    assert "Expires" not in session_cookie  # a browser-session cookie, not a persistent one


def test_secure_cookies_in_production_config_and_hsts_over_https(app, make_user, monkeypatch):
    from dashboard.config import ProductionConfig
    from tests.conftest import csrf_token_from

    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    app.config["SESSION_COOKIE_SECURE"] = ProductionConfig.SESSION_COOKIE_SECURE
    user = make_user("admin")
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get("/login").headers  # not over plain HTTP
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie


def test_logout_is_post_only_and_signs_out(admin_client, app):
    assert admin_client.get("/logout").status_code == 405
    token = AuthActions(admin_client).csrf()
    response = admin_client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert admin_client.get("/admin/").status_code == 302
    assert audit_actions(app)[-1] == "logout"


def test_cookie_captured_before_logout_is_refused_after(app, admin_client):
    stolen = admin_client.get_cookie("session").value
    AuthActions(admin_client).csrf()
    token = AuthActions(admin_client).csrf()
    admin_client.post("/logout", data={"csrf_token": token})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_logout_from_one_browser_ends_the_other(app, make_user):
    user = make_user("admin")
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login(user.username)
    AuthActions(second).login(user.username)
    assert second.get("/admin/").status_code == 200
    first.post("/logout", data={"csrf_token": AuthActions(first).csrf()})
    assert second.get("/admin/").status_code == 302


EVIL_NEXTS = [
    "//evil.example",
    "https://evil.example",
    "http://evil.example/admin/",
    "/\\evil.example",
    "\\\\evil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "%2F%5Cevil.example",
    "https:%2F%2Fevil.example",
    "%252F%252Fevil.example",
    "javascript:alert(1)",
    "/%09/evil.example",
    "///evil.example",
    " //evil.example",
    "evil.example",
]


@pytest.mark.parametrize("evil", EVIL_NEXTS)
def test_next_never_leaves_the_site(client, auth, make_user, evil):
    user = make_user("admin")
    response = auth.login(user.username, next_url=evil)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("evil", EVIL_NEXTS)
def test_next_never_leaves_the_site_when_already_signed_in(admin_client, evil):
    response = admin_client.get(f"/login?next={evil}")
    assert response.headers["Location"] == "/admin/"


def test_next_on_this_site_is_followed(client, auth, make_user):
    user = make_user("admin")
    response = auth.login(user.username, next_url="/admin/user/%3Fq%3Dabc")
    assert response.headers["Location"] == "/admin/user/?q=abc"
