"""Flask-Admin's own create, edit and details pages for users follow the same role rules."""

import pytest
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.conftest import csrf_token_from
from tests.support.snapshot import snapshot


def form_token(client, path: str) -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def test_admin_pages_open_for_admin(admin_client, make_user):
    member = make_user("member")
    assert admin_client.get("/admin/user/new/").status_code == 200
    assert admin_client.get(f"/admin/user/edit/?id={member.id}").status_code == 200
    details = admin_client.get(f"/admin/user/details/?id={member.id}")
    assert details.status_code == 200 and member.username in details.get_data(as_text=True)


def test_viewer_cannot_use_the_create_or_edit_pages(app, viewer_client, make_user):
    member = make_user("member")
    before = snapshot(app)
    for path in ("/admin/user/new/", f"/admin/user/edit/?id={member.id}"):
        response = viewer_client.get(path)
        assert response.status_code in (302, 403)
    response = viewer_client.post(
        f"/admin/user/edit/?id={member.id}",
        data={"csrf_token": form_token(viewer_client, "/admin/user/"), "full_name": "Hacked"},
    )
    assert response.status_code in (302, 403)
    assert snapshot(app) == before


def test_editor_edit_page_refuses_what_roles_refuse(app, editor_client, make_user):
    target = make_user("admin", username="bigboss")
    before = snapshot(app)
    path = f"/admin/user/edit/?id={target.id}"
    data = {
        "seen_version": "1",
        "csrf_token": form_token(editor_client, path),
        "username": "bigboss",
        "email": target.email,
        "full_name": "Demoted",
        "role": "member",
        "is_active": "y",
    }
    response = editor_client.post(path, data=data, follow_redirects=True)
    assert "Editors cannot change admin accounts." in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_admin_edit_page_writes_an_audit_entry(app, admin_client, make_user):
    target = make_user("member", username="paged")
    path = f"/admin/user/edit/?id={target.id}"
    page = admin_client.get(path).get_data(as_text=True)
    assert 'name="seen_version" type="hidden" value="1"' in page
    data = {
        "seen_version": "1",
        "csrf_token": form_token(admin_client, path),
        "username": "paged",
        "email": target.email,
        "full_name": "Edited On Page",
        "role": "member",
        "is_active": "y",
    }
    response = admin_client.post(path, data=data)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, target.id).full_name == "Edited On Page"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.target_id == target.id))
        assert entry.changes["full_name"]["after"] == "Edited On Page"


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_admins_may_delete_through_the_admin_page(app, client_as, make_user, role):
    client = client_as(role)
    target = make_user("member")
    before = snapshot(app)
    response = client.post(
        "/admin/user/delete/", data={"csrf_token": form_token(client, "/admin/user/"), "id": target.id}
    )
    assert response.status_code in (302, 403)
    assert snapshot(app) == before


def test_admin_edit_page_refuses_a_stale_version(app, admin_client, make_user):
    target = make_user("member", username="stale")
    path = f"/admin/user/edit/?id={target.id}"
    before = snapshot(app)
    data = {
        "seen_version": "0",
        "csrf_token": form_token(admin_client, path),
        "username": "stale",
        "email": target.email,
        "full_name": "Overwrite",
        "role": "member",
        "is_active": "y",
    }
    response = admin_client.post(path, data=data, follow_redirects=True)
    assert "Someone else changed this user" in response.get_data(as_text=True)
    assert snapshot(app) == before
