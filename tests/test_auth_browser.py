"""A real browser: sign in, visit every page, sign out; HTMX after the session ends. Zero CSP problems.

The `page` fixture fails the test on any console error or CSP violation.
"""

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from dashboard import sessions
from dashboard.extensions import db
from dashboard.models import User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.server, pytest.mark.browser]


def sign_in(page, base: str, username: str, start: str = "/admin/") -> None:
    page.goto(base + start)
    assert "/login" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(start.split("?")[0]) + r"(\?.*)?$"))


def test_sign_in_visit_every_page_sign_out(live_server, page, make_user):
    admin = make_user("admin", username="root")
    member = make_user("member")
    sign_in(page, live_server, admin.username)
    pages = [
        "/admin/",
        "/admin/user/",
        "/admin/user/new/",
        f"/admin/user/edit/?id={member.id}",
        f"/admin/user/details/?id={member.id}",
        "/account/password",
        f"/account/users/{member.id}/password",
        "/reauth?next=/admin/",
    ]
    for path in pages:
        response = page.goto(live_server + path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
    page.goto(live_server + "/admin/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(live_server + "/admin/user/")
    assert urlsplit(page.url).path == "/login"


def test_wrong_password_then_right_one(live_server, page, make_user):
    make_user("editor", username="ed")
    page.goto(live_server + "/login")
    page.get_by_label("Username").fill("ed")
    page.get_by_label("Password").fill("not the right one")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().strip() == "Invalid username or password."
    page.get_by_label("Username").fill("ed")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def test_htmx_request_after_the_session_ends_navigates_to_login(live_server, page, make_user, app):
    """htmx 4 follows 3xx inside fetch, so the server answers 204 + HX-Redirect; the page leaves."""
    user = make_user("viewer")
    sign_in(page, live_server, user.username, start="/admin/user/?q=ann")
    with app.app_context():
        sessions.revoke(db.session.get(User, user.id))
        db.session.commit()
    with page.expect_navigation():
        page.evaluate("htmx.ajax('GET', '/admin/', {target: '#admin-navbar-collapse', swap: 'innerHTML'})")
    page.wait_for_url(re.compile(r"/login\?"))
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/admin/user/?q=ann"]
    assert page.get_by_role("button", name="Log in").is_visible()


def test_change_own_password_in_the_browser(live_server, page, make_user):
    user = make_user("viewer")
    sign_in(page, live_server, user.username)
    page.get_by_role("link", name="Password").click()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("my new long passphrase")
    page.get_by_label("Repeat new password").fill("my new long passphrase")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    assert "password has been changed" in page.content()
