"""Session lifetime (idle, absolute), HTMX expiry, re-authentication and password changes."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard import passwords
from dashboard import sessions
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.conftest import PASSWORD
from tests.conftest import AuthActions

NEW_PASSWORD = "a brand new passphrase"


def signed_in(app, user):
    client = app.test_client()
    assert AuthActions(client).login(user.username).status_code == 302
    return client


def goes_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_idle_timeout(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 200
    clock.advance(minutes=29)  # activity reset the idle clock: 29 min since the last request
    assert client.get("/admin/").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/admin/")
    assert goes_to_login(response)
    assert response.headers["Location"] == "/login?next=/admin/"
    assert client.get("/admin/").status_code == 302  # the session is gone, not just refused once


def test_activity_is_noted_once_a_minute_not_on_every_request(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    client.get("/admin/")  # the first page after sign-in adds its CSRF token to the session
    clock.advance(seconds=30)
    assert "Set-Cookie" not in client.get("/admin/").headers  # nothing new to remember yet
    clock.advance(seconds=31)
    assert "Set-Cookie" in client.get("/admin/").headers  # a minute on: the idle clock restarts
    clock.advance(minutes=29, seconds=30)
    assert client.get("/admin/").status_code == 200  # 29.5 min since the noted activity


def test_idle_timeout_is_configurable(app, make_user, clock):
    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(minutes=5)
    client = signed_in(app, make_user("viewer"))
    clock.advance(minutes=6)
    assert goes_to_login(client.get("/admin/"))


def test_absolute_timeout_despite_activity(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    for _ in range(11 * 4):  # 11 hours of requests every 15 minutes
        clock.advance(minutes=15)
        assert client.get("/admin/").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 200  # 11h58m
    clock.advance(minutes=3)  # 12h01m, only 3 minutes idle
    assert goes_to_login(client.get("/admin/"))


def test_expired_session_tells_the_user_why(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    clock.advance(hours=1)
    client.get("/admin/")
    assert sessions.EXPIRED_MESSAGE in client.get("/login").get_data(as_text=True)


def test_htmx_request_after_expiry_navigates_the_whole_page_to_login(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    clock.advance(hours=1)
    response = client.get(
        "/admin/user/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin/user/?q=ann&page=2"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/admin/user/?q%3Dann%26page%3D2"
    assert response.get_data(as_text=True) == ""


def test_expired_session_post_goes_to_login_not_a_csrf_error(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    token = AuthActions(client).csrf()
    clock.advance(hours=1)
    response = client.post(
        "/logout",
        data={"csrf_token": token},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin/"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/admin/"


# --- re-authentication -------------------------------------------------------------------


def test_login_is_recent_for_reauth_window(app, make_user, clock):
    admin = make_user("admin")
    target = make_user("viewer")
    client = signed_in(app, admin)
    url = f"/account/users/{target.id}/password"
    assert client.get(url).status_code == 200
    clock.advance(minutes=14)
    assert client.get(url).status_code == 200
    clock.advance(minutes=2)
    response = client.get(url)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/reauth?next={url}"


def test_reauth_page_confirms_and_returns(app, make_user, clock):
    admin = make_user("admin")
    target = make_user("viewer")
    client = signed_in(app, admin)
    url = f"/account/users/{target.id}/password"
    clock.advance(minutes=20)
    assert client.get(url).status_code == 303
    page = client.get(f"/reauth?next={url}")
    token = AuthActions(client).csrf(f"/reauth?next={url}")
    assert "Confirm your password" in page.get_data(as_text=True)
    wrong = client.post(f"/reauth?next={url}", data={"csrf_token": token, "password": "not it at all"})
    assert wrong.status_code == 200 and "That password is not right." in wrong.get_data(as_text=True)
    assert client.get(url).status_code == 303
    right = client.post(f"/reauth?next={url}", data={"csrf_token": token, "password": PASSWORD})
    assert right.status_code == 303 and right.headers["Location"] == url
    assert client.get(url).status_code == 200


def test_reauth_next_stays_on_site(app, make_user):
    client = signed_in(app, make_user("admin"))
    token = AuthActions(client).csrf("/reauth")
    response = client.post("/reauth?next=//evil.example", data={"csrf_token": token, "password": PASSWORD})
    assert response.headers["Location"] == "/admin/"


def test_htmx_write_without_recent_login_redirects_to_reauth(app, make_user, clock):
    admin = make_user("admin")
    target = make_user("viewer")
    client = signed_in(app, admin)
    token = AuthActions(client).csrf()
    clock.advance(minutes=20)
    response = client.post(
        f"/account/users/{target.id}/password",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin/user/?q=x"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/reauth?next=/admin/user/?q%3Dx"
    with app.app_context():
        assert db.session.get(User, target.id).password_hash == target.password_hash


# --- password changes --------------------------------------------------------------------


def change_own_password(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    token = AuthActions(client).csrf("/account/password")
    return client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "confirm": new if confirm is None else confirm,
        },
    )


def test_change_own_password(app, make_user):
    user = make_user("viewer")
    client = signed_in(app, user)
    other_browser = signed_in(app, user)
    stolen = client.get_cookie("session").value
    response = change_own_password(client)
    assert response.status_code == 303
    assert client.get("/admin/").status_code == 200  # this browser stays signed in
    assert other_browser.get("/admin/").status_code == 302  # every other session ends
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert goes_to_login(thief.get("/admin/"))  # a cookie captured before the change is refused
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert passwords.verify_password(stored.password_hash, NEW_PASSWORD)
        assert stored.password_changed_at is not None
        actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "password_change" in actions
    fresh = app.test_client()
    assert AuthActions(fresh).login(user.username, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong current password", NEW_PASSWORD, None, "That is not your current password."),
        (PASSWORD, "short", None, "at least 12 characters"),
        (PASSWORD, "x" * 129, None, "at most 128 characters"),
        (PASSWORD, "password1234", None, "too common"),
        (PASSWORD, NEW_PASSWORD, "something else entirely", "The passwords differ."),
    ],
)
def test_change_own_password_refusals(app, make_user, current, new, confirm, message):
    user = make_user("editor")
    client = signed_in(app, user)
    response = change_own_password(client, current, new, confirm)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user.id).password_hash == user.password_hash
    assert client.get("/admin/").status_code == 200


def test_128_character_password_is_accepted(app, make_user):
    client = signed_in(app, make_user("viewer"))
    assert change_own_password(client, new="y" * 64 + "z" * 64).status_code == 303


def test_admin_sets_another_password_and_ends_their_sessions(app, make_user):
    admin = make_user("admin")
    target = make_user("editor")
    target_client = signed_in(app, target)
    client = signed_in(app, admin)
    url = f"/account/users/{target.id}/password"
    token = AuthActions(client).csrf(url)
    response = client.post(
        url, data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 303
    assert target_client.get("/admin/").status_code == 302
    assert client.get("/admin/").status_code == 200
    assert AuthActions(app.test_client()).login(target.username, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_admins_set_another_password(app, make_user, role):
    target = make_user("viewer")
    client = signed_in(app, make_user(role))
    url = f"/account/users/{target.id}/password"
    assert client.get(url).status_code == 403
    token = AuthActions(client).csrf()
    response = client.post(
        url, data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(User, target.id).password_hash == target.password_hash


def test_set_password_of_unknown_user_is_404(admin_client):
    assert admin_client.get("/account/users/999999/password").status_code == 404


def test_revoke_helper_ends_sessions(app, make_user):
    """sessions.revoke is what the table code calls on role change and deactivation."""
    user = make_user("editor")
    client = signed_in(app, user)
    with app.app_context():
        sessions.revoke(db.session.get(User, user.id))
        db.session.commit()
    assert goes_to_login(client.get("/admin/"))


def test_expired_session_opening_login_shows_the_form(app, make_user, clock):
    client = signed_in(app, make_user("admin"))
    clock.advance(hours=1)
    response = client.get("/login")
    assert response.status_code == 200
    assert sessions.EXPIRED_MESSAGE in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
