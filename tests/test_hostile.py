"""Hostile input: oversized bodies are refused with 413 and a clear message, in-process and served."""

import http.client
from urllib.parse import urlsplit

import pytest

from tests.conftest import csrf_token_from

LIMIT = 1024 * 1024
TOO_LARGE = "x" * (LIMIT + 1)


def test_oversized_form_is_refused_with_413(client):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": TOO_LARGE, "password": "x", "csrf_token": token})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "larger than the 1,024 KB this server accepts" in body
    assert "<html" in body


def test_oversized_htmx_request_gets_a_413_fragment(client):
    response = client.post(
        "/login", data={"username": TOO_LARGE}, headers={"HX-Request": "true", "X-CSRFToken": "irrelevant"}
    )
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Request too large" in body


def test_body_within_the_limit_is_not_refused(client):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "x" * 1000, "password": "x", "csrf_token": token})
    assert response.status_code != 413


@pytest.mark.server
def test_gunicorn_refuses_an_oversized_body_with_413(live_server):
    parts = urlsplit(live_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = f"username={TOO_LARGE}&password=x".encode()
    connection.request(
        "POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 413
    assert "larger than the 1,024 KB this server accepts" in text
    assert response.getheader("Connection") == "close"


def test_a_redirect_target_with_a_line_break_is_a_400_not_a_500(app, admin_client):
    """Flask-Admin's own views redirect to a submitted `url`; a newline in it must not become a 500."""
    token = csrf_token_from(admin_client.get("/admin/").get_data(as_text=True))
    injected = "/admin/\r\nSet-Cookie: injected=1"
    posts = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.arguments and rule.endpoint != "auth.logout"
    ]
    assert "/admin/user/action/" in posts
    for path in posts:
        response = admin_client.post(
            path, data={"url": injected, "action": "delete", "rowid": "1"}, headers={"X-CSRFToken": token}
        )
        assert response.status_code < 500, path
        assert "injected" not in response.headers.get("Set-Cookie", ""), path
    response = admin_client.post(
        "/admin/user/action/", data={"url": injected, "action": "delete"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code in (400, 403)  # 403 where the action itself is refused first
    if response.status_code == 400:
        assert "line breaks" in response.get_data(as_text=True)
