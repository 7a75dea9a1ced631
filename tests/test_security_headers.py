"""Security headers on every response: a strict CSP and its companions."""

import pytest

from tests.conftest import AuthActions

REQUIRED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(csp: str) -> dict[str, str]:
    parts = [part.strip().split(None, 1) for part in csp.split(";") if part.strip()]
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def check(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    found = directives(csp)
    for name, value in REQUIRED_DIRECTIVES.items():
        assert found.get(name) == value, (name, csp)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Referrer-Policy"]
    assert policy in {"same-origin", "strict-origin", "strict-origin-when-cross-origin"}, policy
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "path", ["/login", "/admin/", "/admin/user/", "/admin/user/new/", "/no/such/page", "/account/password"]
)
def test_headers_on_pages_errors_and_redirects(client, admin_client, path):
    check(client.get(path))
    response = admin_client.get(path)
    check(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_headers_on_static_files_and_csrf_errors(client):
    response = client.get("/static/js/app.js")
    response.close()
    check(response)
    check(client.post("/login", data={"username": "x", "password": "y"}))


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    hsts = client.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts


def test_anonymous_pages_may_be_cached_signed_in_pages_may_not(client, make_user):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    AuthActions(client).login(make_user("viewer").username)
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"
