"""In-place edits over HTTP: row partials, save, 422 in the row, 409 on a stale version, toggle."""

import re

import pytest
from sqlalchemy import select

from dashboard import users
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.conftest import csrf_token_from
from tests.support.snapshot import snapshot

HX = {"HX-Request": "true"}


def token(client) -> str:
    return csrf_token_from(client.get("/admin/user/").get_data(as_text=True))


def save(client, user_id: int, *, htmx: bool = True, **fields):
    """POST an in-place edit with a valid CSRF token."""
    data = {"csrf_token": token(client), **{k: str(v) for k, v in fields.items()}}
    return client.post(f"/admin/user/row/{user_id}", data=data, headers=HX if htmx else {})


def stored(app, user_id: int) -> User | None:
    with app.app_context():
        user = db.session.get(User, user_id)
        if user is not None:
            db.session.expunge(user)
        return user


def audit_entries(app, user_id: int) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == user_id)))
        for entry in entries:
            db.session.expunge(entry)
        return entries


@pytest.fixture
def member(make_user):
    return make_user("member", username="molly", full_name="Molly Member", email="molly@example.com")


def test_row_partials(admin_client, member):
    display = admin_client.get(f"/admin/user/row/{member.id}", headers=HX)
    assert display.status_code == 200
    html = display.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="user-{member.id}" data-version="1"')
    assert "<html" not in html
    edit = admin_client.get(f"/admin/user/row/{member.id}/edit", headers=HX).get_data(as_text=True)
    assert 'class="editing"' in edit
    for name, label in (("email", "Email"), ("full_name", "Full name"), ("role", "Role")):
        assert re.search(rf'<label class="sr-only" for="edit-user-{member.id}-{name}">{label}</label>', edit)
    assert 'name="version" value="1"' in edit


@pytest.mark.parametrize("path", ["/admin/user/row/999999", "/admin/user/row/999999/edit"])
def test_unknown_row_is_404(admin_client, path):
    assert admin_client.get(path, headers=HX).status_code == 404


def test_save_updates_row_version_and_audit(app, admin_client, member):
    response = save(
        admin_client,
        member.id,
        version=1,
        full_name="Molly New",
        email="MOLLY.NEW@example.com",
        role="viewer",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<tr id="user-{member.id}" data-version="2"' in html
    assert "Molly New" in html and "molly.new@example.com" in html
    assert "Saved molly" in response.headers["HX-Trigger"]
    user = stored(app, member.id)
    assert (user.full_name, user.email, user.role, user.is_active, user.version) == (
        "Molly New",
        "molly.new@example.com",
        "viewer",
        False,  # the checkbox was absent: inactive
        2,
    )
    [entry] = audit_entries(app, member.id)
    assert entry.action == "update"
    assert entry.actor_id == admin_client.user.id
    assert entry.changes["full_name"] == {"before": "Molly Member", "after": "Molly New"}
    assert entry.changes["is_active"] == {"before": True, "after": False}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address"),
        ({"email": "taken@example.com"}, "email", "Another account already uses that email"),
        ({"full_name": "   "}, "full_name", "Enter a full name"),
        ({"full_name": "x" * 121}, "full_name", "limited to 120 characters"),
        ({"role": "superuser"}, "role", "Choose a role"),
        ({"full_name": "Nul\x00Byte"}, "full_name", "control characters"),
        ({"email": "nul\x00@example.com"}, "email", "control characters"),
    ],
)
def test_invalid_edit_is_422_in_the_row_with_input_kept(
    app, admin_client, make_user, member, fields, field, message
):
    make_user("member", username="taken", email="taken@example.com")
    before = snapshot(app)
    data = {"version": 1, "full_name": "Typed Name", "email": "typed@example.com", "role": "member"}
    data.update(fields)
    response = save(admin_client, member.id, **data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="editing"' in html
    assert message in html
    assert re.search(rf'id="edit-user-{member.id}-{field}-error" class="invalid-feedback"', html)
    if field != "full_name":
        assert 'value="Typed Name"' in html  # the admin's input is kept
    assert snapshot(app) == before


def test_stale_version_is_409_with_current_values_and_what_was_tried(app, admin_client, member):
    assert (
        save(
            admin_client, member.id, version=1, full_name="First Writer", email="molly@example.com"
        ).status_code
        == 200
    )
    before = snapshot(app)
    response = save(admin_client, member.id, version=1, full_name="Second Writer", email="molly@example.com")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'class="conflict"' in html
    assert "First Writer" in html  # the current value
    assert "Second Writer" in html  # what the admin tried
    assert 'name="version" value="2"' in html  # re-apply carries the current version
    assert snapshot(app) == before
    reapply = save(admin_client, member.id, version=2, full_name="Second Writer", email="molly@example.com")
    assert reapply.status_code == 200
    assert stored(app, member.id).full_name == "Second Writer"


@pytest.mark.parametrize("version", ["", "abc", "-1", "99"])
def test_missing_or_bogus_version_is_a_conflict(app, admin_client, member, version):
    before = snapshot(app)
    response = save(admin_client, member.id, version=version, full_name="X", email="molly@example.com")
    assert response.status_code == 409
    assert snapshot(app) == before


def test_save_unknown_id_is_404(admin_client):
    response = save(admin_client, 999999, version=1, full_name="X", email="x@example.com", role="member")
    assert response.status_code == 404


@pytest.mark.parametrize("user_id", [2**63, 10**30])
def test_ids_beyond_64_bits_are_404_not_500(admin_client, user_id):
    data = {"csrf_token": token(admin_client), "version": "1"}
    for path in ("", "/toggle-active", "/delete"):
        assert admin_client.post(f"/admin/user/row/{user_id}{path}", data=data, headers=HX).status_code == 404
    assert admin_client.get(f"/admin/user/row/{user_id}/edit", headers=HX).status_code == 404


def test_toggle_unknown_id_is_404(admin_client):
    data = {"csrf_token": token(admin_client), "version": "1"}
    response = admin_client.post("/admin/user/row/999999/toggle-active", data=data, headers=HX)
    assert response.status_code == 404


def test_save_without_csrf_is_refused(app, admin_client, member):
    before = snapshot(app)
    response = admin_client.post(
        f"/admin/user/row/{member.id}", data={"version": 1, "full_name": "X"}, headers=HX
    )
    assert response.status_code == 400
    assert snapshot(app) == before


def test_toggle_active(app, admin_client, member):
    data = {"csrf_token": token(admin_client), "version": "1"}
    response = admin_client.post(f"/admin/user/row/{member.id}/toggle-active", data=data, headers=HX)
    assert response.status_code == 200
    assert "Inactive" in response.get_data(as_text=True)
    assert stored(app, member.id).is_active is False
    stale = admin_client.post(f"/admin/user/row/{member.id}/toggle-active", data=data, headers=HX)
    assert stale.status_code == 409
    assert stored(app, member.id).is_active is False
    [entry] = audit_entries(app, member.id)
    assert entry.changes == {"is_active": {"before": True, "after": False}}


def test_full_page_post_redirects_back_to_the_list_as_it_was(app, admin_client, member):
    response = save(
        admin_client,
        member.id,
        htmx=False,
        version=1,
        full_name="No Script",
        email="molly@example.com",
        role="member",
        is_active="true",
        back="q=molly&sort=-email&bogus=1",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/user/?q=molly&sort=-email")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved molly." in page
    assert stored(app, member.id).full_name == "No Script"


def test_full_page_invalid_post_shows_the_list_with_the_row_in_edit(admin_client, member):
    response = save(admin_client, member.id, htmx=False, version=1, full_name="", email="molly@example.com")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and 'class="editing"' in html and "Enter a full name" in html


def test_edit_link_without_js_shows_the_page_with_that_row_in_edit(admin_client, member):
    html = admin_client.get(f"/admin/user/row/{member.id}/edit?q=molly").get_data(as_text=True)
    assert "<html" in html
    assert f'<tr id="user-{member.id}" data-version="1" class="editing">' in html
    assert 'id="search" name="q" value="molly"' in html


def test_service_update_raises_typed_errors(app, make_user, member):
    admin = make_user("admin")
    with app.app_context():
        actor = db.session.get(User, admin.id)
        with pytest.raises(users.NotFound):
            users.update_user(999999, {"full_name": "x"}, 1, actor)
        with pytest.raises(users.UserError) as caught:
            users.update_user(member.id, {"email": "bad"}, 1, actor)
        assert caught.value.field == "email"
        db.session.rollback()
        with pytest.raises(users.Conflict) as conflict:
            users.update_user(member.id, {"full_name": "x"}, 7, actor)
        assert conflict.value.current.id == member.id
        db.session.rollback()
        with pytest.raises(users.Forbidden):
            users.update_user(member.id, {"role": "admin"}, 1, db.session.get(User, member.id))
        db.session.rollback()
        updated = users.update_user(member.id, {"full_name": "Service Call"}, 1, actor)
        assert updated.version == 2


def test_html_in_an_edit_is_stored_as_text_and_rendered_escaped(app, admin_client, member):
    payload = '<img src=x onerror="alert(1)">'
    response = save(admin_client, member.id, version=1, full_name=payload, email="molly@example.com")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert payload not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert stored(app, member.id).full_name == payload
