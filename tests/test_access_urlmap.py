"""A walk over the whole URL map: nothing but the login page and static files is open to strangers.

HTMX requests get 204 + HX-Redirect (htmx 4 follows a 3xx inside fetch and would swap the login page in).

The routes come from app.url_map, so endpoints added later (the users table) are walked too.
"""

import os
import tempfile
from urllib.parse import urlsplit

import pytest
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Rule

from dashboard import create_app
from dashboard.config import TestingConfig
from tests.conftest import csrf_token_from

PUBLIC_ENDPOINTS = {"auth.login"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
HTMX_PAGE = "http://localhost/admin/user/?q=ann&page=2"
HTMX_NEXT = "/login?next=/admin/user/?q%3Dann%26page%3D2"


def is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or endpoint == "static" or endpoint.endswith(".static")


def _rules() -> list[Rule]:
    """Every rule of a freshly built app (no database needed to list them)."""
    instance = tempfile.mkdtemp(prefix="urlmap-")
    os.environ["DASHBOARD_INSTANCE_PATH"] = instance
    try:
        app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    finally:
        del os.environ["DASHBOARD_INSTANCE_PATH"]
    return sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)


RULES = _rules()


def protected(methods: set[str]) -> list[tuple[str, str]]:
    """(endpoint, method) for every non-public rule accepting one of these methods."""
    cases = []
    for rule in RULES:
        if is_public(rule.endpoint):
            continue
        cases += [(rule.endpoint, method) for method in sorted(rule.methods & methods)]
    return cases


def url_for_rule(app, endpoint: str, sample_id: int) -> str:
    """A concrete URL for the endpoint: integer arguments get sample_id, others a word."""
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)
    values = {
        name: sample_id if isinstance(rule._converters[name], IntegerConverter) else "csv"
        for name in rule.arguments
    }
    return rule.build(values)[1]


def follow_internal(client, response, headers, limit=3):
    """Follow redirects that stay on the site and do not point at /login."""
    for _ in range(limit):
        location = response.headers.get("Location", "")
        if response.status_code not in (301, 302, 303, 307, 308) or location.startswith("/login"):
            return response
        response = client.get(location, headers=headers)
    return response


def test_the_walk_covers_the_routes_that_exist():
    endpoints = {endpoint for endpoint, _method in protected({"GET", *WRITE_METHODS})}
    assert {"admin.index", "user.index_view", "auth.logout", "auth.change_password"} <= endpoints


@pytest.mark.parametrize(("endpoint", "method"), protected({"GET"}))
def test_anonymous_get_goes_to_login_with_next(app, client, make_user, endpoint, method):
    url = url_for_rule(app, endpoint, make_user("member").id)
    response = follow_internal(client, client.get(url), {})
    assert response.status_code == 302, (url, response.status_code)
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert location.query.startswith("next=%2F") or location.query.startswith("next=/")


@pytest.mark.parametrize(("endpoint", "method"), protected({"GET"}))
def test_anonymous_htmx_get_navigates_to_login(app, client, make_user, endpoint, method):
    url = url_for_rule(app, endpoint, make_user("member").id)
    headers = {"HX-Request": "true", "HX-Current-URL": HTMX_PAGE}
    response = follow_internal(client, client.get(url, headers=headers), headers)
    assert response.status_code == 204, (url, response.status_code)
    assert response.headers["HX-Redirect"] == HTMX_NEXT
    assert response.get_data(as_text=True) == ""


@pytest.mark.parametrize("kind", ["full", "history-restore"])
def test_htmx_full_page_and_history_requests_also_get_hx_redirect(client, kind):
    """fetch follows a 3xx whatever the request type, so these need HX-Redirect too."""
    headers = {"HX-Request": "true", "HX-Current-URL": HTMX_PAGE}
    if kind == "full":
        headers["HX-Request-Type"] = "full"
    else:
        headers["HX-History-Restore-Request"] = "true"
    response = client.get("/admin/user/", headers=headers)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == HTMX_NEXT


@pytest.mark.parametrize(("endpoint", "method"), protected(WRITE_METHODS))
def test_anonymous_write_goes_to_login(app, client, make_user, endpoint, method):
    """With a valid CSRF token (so CSRF is not what stops it), a stranger still only gets login."""
    url = url_for_rule(app, endpoint, make_user("member").id)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.open(url, method=method, data={"csrf_token": token})
    assert response.status_code == 302, (url, response.status_code)
    assert urlsplit(response.headers["Location"]).path == "/login"
    htmx = client.open(
        url,
        method=method,
        data={"csrf_token": token},
        headers={"HX-Request": "true", "HX-Current-URL": HTMX_PAGE},
    )
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == HTMX_NEXT


def test_login_page_and_static_files_are_public(client):
    assert client.get("/login").status_code == 200
    for path in ("/static/js/app.js", "/admin/static/vendor/jquery.min.js"):
        response = client.get(path)
        response.close()
        assert response.status_code == 200, path
