"""Every table write for admin, editor and viewer: the right status, and a refused write changes nothing."""

import pytest

from dashboard.extensions import db
from dashboard.models import User
from tests.conftest import csrf_token_from
from tests.support.snapshot import snapshot

HX = {"HX-Request": "true"}


@pytest.fixture
def targets(make_user):
    """One account of each kind to act on, plus a second admin so 'last admin' never interferes."""
    return {
        "member": make_user("member", username="tmember"),
        "viewer": make_user("viewer", username="tviewer"),
        "editor": make_user("editor", username="teditor"),
        "admin": make_user("admin", username="tadmin"),
    }


def post(client, path: str, htmx: bool = True, **fields):
    token = csrf_token_from(client.get("/admin/user/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **fields}, headers=HX if htmx else {})


def edit_fields(user, **changes):
    fields = {
        "version": "1",
        "full_name": user.full_name,
        "email": user.email,
        "role": user.role,
        "is_active": "true",
    }
    fields.update(changes)
    return fields


# (actor role, target, changes, expected status)
EDIT_CASES = [
    ("viewer", "member", {"full_name": "Changed"}, 403),
    ("editor", "member", {"full_name": "Changed"}, 200),
    ("editor", "viewer", {"role": "member"}, 200),
    ("editor", "member", {"role": "editor"}, 422),  # a role editors may not grant: a field error
    ("editor", "editor", {"full_name": "Changed"}, 403),
    ("editor", "admin", {"full_name": "Changed"}, 403),
    ("admin", "admin", {"role": "member"}, 200),
    ("admin", "editor", {"role": "admin"}, 200),
]


@pytest.mark.parametrize(("actor", "target", "changes", "status"), EDIT_CASES)
def test_edit_by_role(app, client_as, targets, actor, target, changes, status):
    client = client_as(actor)
    user = targets[target]
    before = snapshot(app)
    response = post(client, f"/admin/user/row/{user.id}", **edit_fields(user, **changes))
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status != 200:
        assert snapshot(app) == before
    else:
        assert snapshot(app) != before


@pytest.mark.parametrize(
    ("actor", "target", "status"),
    [
        ("viewer", "member", 403),
        ("editor", "member", 200),
        ("editor", "admin", 403),
        ("admin", "editor", 200),
    ],
)
def test_toggle_by_role(app, client_as, targets, actor, target, status):
    client = client_as(actor)
    before = snapshot(app)
    response = post(client, f"/admin/user/row/{targets[target].id}/toggle-active", version="1")
    assert response.status_code == status
    assert (snapshot(app) == before) == (status != 200)


@pytest.mark.parametrize(("actor", "status"), [("viewer", 403), ("editor", 403), ("admin", 200)])
def test_delete_by_role(app, client_as, targets, actor, status):
    client = client_as(actor)
    before = snapshot(app)
    response = post(client, f"/admin/user/row/{targets['member'].id}/delete", version="1")
    assert response.status_code == status
    assert (snapshot(app) == before) == (status != 200)


def test_nobody_deactivates_or_deletes_themselves(app, admin_client):
    me = admin_client.user
    with app.app_context():
        version = str(db.session.get(User, me.id).version)  # signing in bumped it
    before = snapshot(app)
    fields = {"version": version, "full_name": me.full_name, "email": me.email, "role": "admin"}
    assert post(admin_client, f"/admin/user/row/{me.id}", **fields).status_code == 403
    assert post(admin_client, f"/admin/user/row/{me.id}/toggle-active", version=version).status_code == 403
    assert post(admin_client, f"/admin/user/row/{me.id}/delete", version=version).status_code == 403
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("actor", "role", "status"),
    [("viewer", "member", 403), ("editor", "member", 200), ("editor", "admin", 422), ("admin", "admin", 200)],
)
def test_create_by_role(app, client_as, actor, role, status):
    client = client_as(actor)
    before = snapshot(app)
    fields = {"username": "newbie", "email": "newbie@example.com", "full_name": "New Bie", "role": role}
    response = post(client, "/admin/user/new", **fields)
    assert response.status_code == status
    assert (snapshot(app) == before) == (status != 200)


@pytest.mark.parametrize(
    ("actor", "action", "status"),
    [("viewer", "deactivate", 403), ("editor", "delete", 403), ("editor", "deactivate", 200)],
)
def test_bulk_by_role(app, client_as, targets, actor, action, status):
    client = client_as(actor)
    before = snapshot(app)
    response = post(client, "/admin/user/bulk", action=action, ids=str(targets["member"].id), confirm="yes")
    assert response.status_code == status
    assert (snapshot(app) == before) == (status != 200)


@pytest.mark.parametrize("path", ["/admin/user/row/{id}/edit", "/admin/user/row/{id}/delete"])
def test_viewer_cannot_open_edit_or_delete_steps(viewer_client, targets, path):
    assert viewer_client.get(path.format(id=targets["member"].id), headers=HX).status_code == 403


def test_viewer_sees_no_edit_controls(viewer_client, targets):
    html = viewer_client.get("/admin/user/").get_data(as_text=True)
    assert "tmember" in html
    for control in ('class="edit"', 'form="act"', 'id="bulk"', "create-form", "/delete"):
        assert control not in html


def test_editor_sees_no_delete_and_only_assignable_roles(editor_client, targets):
    html = editor_client.get("/admin/user/").get_data(as_text=True)
    assert "/delete" not in html
    assert f'href="/admin/user/row/{targets["member"].id}/edit"' in html
    assert f'href="/admin/user/row/{targets["admin"].id}/edit"' not in html
    assert f'name="ids" value="{targets["member"].id}"' in html
    assert f'name="ids" value="{targets["admin"].id}"' not in html  # nothing to select it for
    create = html[html.index('id="create-role"') :]
    create = create[: create.index("</select>")]
    assert (
        '"member"' in create and '"viewer"' in create and '"admin"' not in create and '"editor"' not in create
    )


@pytest.mark.parametrize(
    "path",
    ["/admin/user/", "/admin/user/row/1", "/admin/user/row/1/edit", "/admin/user/export.csv"],
)
def test_reads_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_members_cannot_open_the_table(app, make_user):
    from tests.conftest import AuthActions

    member = make_user("member")
    client = app.test_client()
    AuthActions(client).login(member.username)
    assert client.get("/admin/user/").status_code in (302, 403)
