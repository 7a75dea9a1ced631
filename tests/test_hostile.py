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
