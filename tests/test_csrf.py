"""Every state-changing route refuses a request without a valid CSRF token, and changes nothing.

Generic over app.url_map: every rule accepting POST/PUT/PATCH/DELETE, including ones added later.
"""

import pytest

from tests.conftest import AuthActions
from tests.support.snapshot import snapshot
from tests.test_access_urlmap import WRITE_METHODS
from tests.test_access_urlmap import protected
from tests.test_access_urlmap import url_for_rule

WRITES = protected(WRITE_METHODS) + [("auth.login", "POST")]
CSRF_MESSAGE = "missing its security token"


@pytest.fixture
def signed_in_admin(client_as):
    return client_as("admin")


def form_for(app, endpoint: str, target_id: int) -> dict:
    """Plausible fields, so that only the token is wrong."""
    return {
        "username": "someone",
        "password": "correct horse battery",
        "full_name": "Changed By Forgery",
        "role": "admin",
        "is_active": "y",
        "email": "forged@example.com",
        "id": str(target_id),
        "ids": str(target_id),
        "version": "1",
        "action": "delete",
        "rowid": str(target_id),
        "new_password": "forged password 123",
        "confirm": "forged password 123",
        "current_password": "correct horse battery",
    }


@pytest.mark.parametrize("token", [None, "", "not-a-real-token", "other-session"])
@pytest.mark.parametrize(("endpoint", "method"), WRITES)
def test_write_without_valid_token_is_refused(app, signed_in_admin, make_user, endpoint, method, token):
    client = signed_in_admin
    target = make_user("member")
    url = url_for_rule(app, endpoint, target.id)
    data = form_for(app, endpoint, target.id)
    if token == "other-session":
        token = AuthActions(app.test_client()).csrf("/login")  # valid, but for someone else's session
    if token is not None:
        data["csrf_token"] = token
    before = snapshot(app)
    response = client.open(url, method=method, data=data)
    assert response.status_code == 400, (url, response.status_code)
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert snapshot(app) == before
    assert client.get("/admin/").status_code == 200  # still signed in: logout did not happen


@pytest.mark.parametrize(("endpoint", "method"), WRITES)
def test_htmx_write_with_a_wrong_header_gets_a_fragment(app, signed_in_admin, make_user, endpoint, method):
    client = signed_in_admin
    target = make_user("member")
    url = url_for_rule(app, endpoint, target.id)
    before = snapshot(app)
    response = client.open(
        url,
        method=method,
        data=form_for(app, endpoint, target.id),
        headers={"HX-Request": "true", "X-CSRFToken": "forged"},
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert CSRF_MESSAGE in body and "<html" not in body
    assert snapshot(app) == before


def test_htmx_header_token_is_accepted(app, signed_in_admin):
    """The header path that static/js/app.js uses really works (here: logout)."""
    client = signed_in_admin
    token = AuthActions(client).csrf()
    response = client.post("/logout", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login"
    assert client.get("/admin/").status_code == 302
