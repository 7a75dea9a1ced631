"""The table's writes follow the session rules: role changes need a recent sign-in, and a role
change or deactivation ends the account's sessions everywhere at once."""

from tests.support.snapshot import snapshot
from tests.test_auth_sessions import signed_in
from tests.test_users_edit import HX
from tests.test_users_edit import save
from tests.test_users_edit import stored
from tests.test_users_edit import token


def is_signed_out(client) -> bool:
    response = client.get("/admin/")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_role_change_in_the_table_needs_a_recent_sign_in(app, admin_client, make_user, clock):
    viewer = make_user("viewer", username="vera")
    clock.advance(minutes=20)  # past the 15-minute re-auth window, inside the 30-minute idle one
    before = snapshot(app)
    refused = save(
        admin_client,
        viewer.id,
        version=1,
        role="editor",
        full_name=viewer.full_name,
        email=viewer.email,
        is_active="true",
    )
    assert refused.status_code == 204
    assert refused.headers["HX-Redirect"].startswith("/reauth?next=")
    assert snapshot(app) == before
    # Edits that do not touch the role need no re-auth.
    kept = save(
        admin_client,
        viewer.id,
        version=1,
        role="viewer",
        full_name="Vera Renamed",
        email=viewer.email,
        is_active="true",
    )
    assert kept.status_code == 200
    assert stored(app, viewer.id).full_name == "Vera Renamed"


def test_bulk_role_change_needs_a_recent_sign_in(app, admin_client, make_user, clock):
    member = make_user("member")
    clock.advance(minutes=20)
    before = snapshot(app)
    data = {
        "csrf_token": token(admin_client),
        "action": "set_role",
        "role": "viewer",
        "ids": str(member.id),
        "confirm": "yes",
    }
    refused = admin_client.post("/admin/user/bulk", data=data, headers=HX)
    assert refused.status_code == 204 and refused.headers["HX-Redirect"].startswith("/reauth")
    assert snapshot(app) == before


def test_role_change_in_the_table_ends_the_accounts_sessions(app, admin_client, make_user):
    viewer = make_user("viewer", username="vera")
    viewers_browser = signed_in(app, viewer)
    assert not is_signed_out(viewers_browser)
    response = save(
        admin_client,
        viewer.id,
        version=1,
        role="editor",
        full_name=viewer.full_name,
        email=viewer.email,
        is_active="true",
    )
    assert response.status_code == 200
    assert is_signed_out(viewers_browser)


def test_renaming_keeps_the_accounts_sessions(app, admin_client, make_user):
    viewer = make_user("viewer", username="vera")
    viewers_browser = signed_in(app, viewer)
    response = save(
        admin_client,
        viewer.id,
        version=1,
        role="viewer",
        full_name="Vera Renamed",
        email=viewer.email,
        is_active="true",
    )
    assert response.status_code == 200
    assert not is_signed_out(viewers_browser)


def test_deactivating_ends_the_accounts_sessions(app, admin_client, make_user):
    viewer = make_user("viewer", username="vera")
    viewers_browser = signed_in(app, viewer)
    data = {"csrf_token": token(admin_client), "version": "1"}
    assert (
        admin_client.post(f"/admin/user/row/{viewer.id}/toggle-active", data=data, headers=HX).status_code
        == 200
    )
    assert stored(app, viewer.id).is_active is False
    assert is_signed_out(viewers_browser)
    # Re-activated, the old cookie still does not come back to life.
    data = {"csrf_token": token(admin_client), "version": "2"}
    assert (
        admin_client.post(f"/admin/user/row/{viewer.id}/toggle-active", data=data, headers=HX).status_code
        == 200
    )
    assert is_signed_out(viewers_browser)


def test_bulk_deactivation_ends_the_accounts_sessions(app, admin_client, make_user):
    viewer = make_user("viewer", username="vera")
    viewers_browser = signed_in(app, viewer)
    data = {
        "csrf_token": token(admin_client),
        "action": "deactivate",
        "ids": str(viewer.id),
        "confirm": "yes",
    }
    assert admin_client.post("/admin/user/bulk", data=data, headers=HX).status_code == 200
    assert is_signed_out(viewers_browser)


def test_editor_edits_their_own_name(app, make_user):
    editor = make_user("editor", username="eddie")
    client = signed_in(app, editor)
    response = save(
        client,
        editor.id,
        version=1,
        role="editor",
        full_name="Eddie Renamed",
        email=editor.email,
        is_active="true",
    )
    assert response.status_code == 200
    assert stored(app, editor.id).full_name == "Eddie Renamed"


def test_signing_in_and_out_does_not_conflict_with_an_admins_edit(app, admin_client, make_user):
    """Sign-in bookkeeping is not an edit: an admin's save with the version seen before it succeeds."""
    viewer = make_user("viewer", username="vera")
    seen_version = stored(app, viewer.id).version
    viewers_browser = signed_in(app, viewer)
    signed_out = viewers_browser.post("/logout", data={"csrf_token": token(viewers_browser)})
    assert signed_out.status_code in (302, 303)
    assert is_signed_out(viewers_browser)
    assert stored(app, viewer.id).last_login_at is not None
    response = save(
        admin_client,
        viewer.id,
        version=seen_version,
        role="viewer",
        full_name="Vera Renamed",
        email=viewer.email,
        is_active="true",
    )
    assert response.status_code == 200
    assert stored(app, viewer.id).version == seen_version + 1
