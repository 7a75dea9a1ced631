"""Role x endpoint x method, in the spirit of Django's admin permission tests.

Each row names a request and the status each role gets. A refused write must leave the users
and audit tables exactly as they were (row by row); an allowed one must change them, so a
row cannot pass by accident. The lead adds the users-table endpoints here at merge.
"""

from dataclasses import dataclass
from dataclasses import field

import pytest

from tests.conftest import AuthActions
from tests.support.snapshot import snapshot

ROLES = ("viewer", "editor", "admin")
NEW_PASSWORD = "a brand new passphrase"


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str  # formatted with the ids of the targets below
    expect: dict[str, int]  # role -> status
    data: dict = field(default_factory=dict)  # formatted like path; csrf_token added
    headers: dict = field(default_factory=dict)

    def all_roles(self):
        return [(self, role) for role in ROLES if role in self.expect]


def account(target: str, **changes) -> dict:
    """Flask-Admin's user form for an existing target, with some fields changed."""
    values = {
        "username": "{" + target + "_username}",
        "email": "{" + target + "_username}@example.com",
        "full_name": "Some Name",
        "role": target.split("_")[-1],
        "is_active": "y",
    }
    values.update(changes)
    return values


NEW_ACCOUNT = {"username": "fresh", "email": "fresh@example.com", "full_name": "Fresh One", "is_active": "y"}
OK_ALL = {"viewer": 200, "editor": 200, "admin": 200}
STAFF_WRITE = {"viewer": 200, "editor": 200, "admin": 200}

CASES = [
    Case("dashboard home", "GET", "/admin/", OK_ALL),
    Case("users list", "GET", "/admin/user/", OK_ALL),
    Case("user details", "GET", "/admin/user/details/?id={member}", OK_ALL),
    Case("own password page", "GET", "/account/password", OK_ALL),
    Case("re-auth page", "GET", "/reauth", OK_ALL),
    Case("create form", "GET", "/admin/user/new/", {"viewer": 403, "editor": 200, "admin": 200}),
    Case("edit form", "GET", "/admin/user/edit/?id={member}", {"viewer": 403, "editor": 200, "admin": 200}),
    Case(
        "set-password form",
        "GET",
        "/account/users/{viewer_target}/password",
        {"viewer": 403, "editor": 403, "admin": 200},
    ),
    Case(
        "create a member",
        "POST",
        "/admin/user/new/",
        {"viewer": 403, "editor": 302, "admin": 302},
        {**NEW_ACCOUNT, "role": "member"},
    ),
    Case(
        "create an editor",
        "POST",
        "/admin/user/new/",
        {"viewer": 403, "editor": 403, "admin": 302},
        {**NEW_ACCOUNT, "role": "editor"},
    ),
    Case(
        "rename a member",
        "POST",
        "/admin/user/edit/?id={member}",
        {"viewer": 403, "editor": 302, "admin": 302},
        account("member", full_name="Renamed Member"),
    ),
    Case(
        "deactivate a viewer",
        "POST",
        "/admin/user/edit/?id={viewer_target}",
        {"viewer": 403, "editor": 302, "admin": 302},
        {**account("viewer_target", role="viewer"), "is_active": ""},
    ),
    Case(
        "promote a member to admin",
        "POST",
        "/admin/user/edit/?id={member}",
        {"viewer": 403, "editor": 403, "admin": 302},
        account("member", role="admin"),
    ),
    Case(
        "rename another editor",
        "POST",
        "/admin/user/edit/?id={editor_target}",
        {"viewer": 403, "editor": 403, "admin": 302},
        account("editor_target", role="editor", full_name="Renamed Editor"),
    ),
    Case(
        "delete a member",
        "POST",
        "/admin/user/delete/",
        {"viewer": 403, "editor": 403, "admin": 302},
        {"id": "{member}"},
    ),
    # Refusals only: Flask-Admin's own bulk delete fails on PostgreSQL for admins (it binds the
    # ids as VARCHAR: "integer = character varying"); the users table's /bulk replaces it.
    Case(
        "bulk-delete a member",
        "POST",
        "/admin/user/action/",
        {"viewer": 403, "editor": 403},
        {"action": "delete", "rowid": "{member}"},
    ),
    Case(
        "set another account's password",
        "POST",
        "/account/users/{viewer_target}/password",
        {"viewer": 403, "editor": 403, "admin": 303},
        {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    ),
]


# The users table (contract.md). Full-page posts answer 303 back to the list on success.
HX = {"HX-Request": "true"}
ROW = {"version": "1", "full_name": "Changed Name", "role": "member", "is_active": "true"}
CASES += [
    Case("table row", "GET", "/admin/user/row/{member}", OK_ALL, headers=HX),
    Case(
        "table row in edit", "GET", "/admin/user/row/{member}/edit", STAFF_WRITE | {"viewer": 403}, headers=HX
    ),
    Case("table CSV export", "GET", "/admin/user/export.csv", OK_ALL),
    Case(
        "table: rename a member",
        "POST",
        "/admin/user/row/{member}",
        {"viewer": 403, "editor": 303, "admin": 303},
        {**ROW, "email": "{member_username}@example.com"},
    ),
    # contract.md says 403 for a role-rule refusal; the table answers an editor's out-of-reach
    # role with 422 (a field error by the role select). Refused and unchanged either way.
    Case(
        "table: promote a member to admin",
        "POST",
        "/admin/user/row/{member}",
        {"viewer": 403, "editor": 422, "admin": 303},
        {**ROW, "role": "admin", "email": "{member_username}@example.com"},
    ),
    Case(
        "table: rename an admin",
        "POST",
        "/admin/user/row/{admin_target}",
        {"viewer": 403, "editor": 403, "admin": 303},
        {**ROW, "role": "admin", "email": "{admin_target_username}@example.com"},
    ),
    Case(
        "table: deactivate a viewer",
        "POST",
        "/admin/user/row/{viewer_target}/toggle-active",
        {"viewer": 403, "editor": 303, "admin": 303},
        {"version": "1"},
    ),
    Case(
        "table: delete a member",
        "POST",
        "/admin/user/row/{member}/delete",
        {"viewer": 403, "editor": 403, "admin": 303},
        {"version": "1"},
    ),
    Case(
        "table: create a member",
        "POST",
        "/admin/user/new",
        {"viewer": 403, "editor": 303, "admin": 303},
        {**NEW_ACCOUNT, "role": "member", "is_active": "true"},
    ),
    Case(
        "table: bulk-deactivate a member",
        "POST",
        "/admin/user/bulk",
        {"viewer": 403, "editor": 303, "admin": 303},
        {"action": "deactivate", "ids": "{member}", "confirm": "yes"},
    ),
]


@pytest.fixture
def targets(make_user) -> dict[str, object]:
    """Accounts the actor acts on, keyed as the case templates name them."""
    users = {
        "member": make_user("member"),
        "viewer_target": make_user("viewer"),
        "editor_target": make_user("editor"),
        "admin_target": make_user("admin"),
    }
    values: dict[str, object] = {}
    for key, user in users.items():
        values[key] = user.id
        values[f"{key}_username"] = user.username
    return values


def fill(template: dict, values: dict) -> dict:
    return {key: value.format(**values) for key, value in template.items()}


@pytest.mark.parametrize(
    ("case", "role"),
    [pair for case in CASES for pair in case.all_roles()],
    ids=lambda v: getattr(v, "label", v),
)
def test_role_matrix(app, client_as, targets, case, role):
    client = client_as(role)
    path = case.path.format(**targets)
    before = snapshot(app)
    if case.method == "GET":
        response = client.get(path, headers=case.headers)
        response.get_data()
    else:
        data = {**fill(case.data, targets), "csrf_token": AuthActions(client).csrf()}
        before = snapshot(app)
        response = client.open(path, method=case.method, data=data, headers=case.headers)
    assert response.status_code == case.expect[role], (
        case.label,
        role,
        response.get_data(as_text=True)[:300],
    )
    after = snapshot(app)
    if case.method == "GET" or response.status_code >= 400:
        assert after == before, f"{case.label} as {role} changed the database"
    else:
        assert after != before, f"{case.label} as {role} was allowed but changed nothing"


@pytest.mark.parametrize(
    ("label", "changes"),
    [
        ("demote yourself", {"role": "editor"}),
        ("deactivate yourself", {"is_active": ""}),
    ],
)
def test_nobody_demotes_or_deactivates_themselves(app, client_as, label, changes):
    client = client_as("admin")
    me = client.user
    data = {
        "username": me.username,
        "email": me.email,
        "full_name": me.full_name,
        "role": "admin",
        "is_active": "y",
        **changes,
        "csrf_token": AuthActions(client).csrf(),
    }
    before = snapshot(app)
    response = client.post(f"/admin/user/edit/?id={me.id}", data=data)
    assert response.status_code == 403, label
    assert snapshot(app) == before


def test_admin_cannot_delete_themselves(app, client_as):
    client = client_as("admin")
    before = snapshot(app)
    token = AuthActions(client).csrf()
    response = client.post("/admin/user/delete/", data={"id": client.user.id, "csrf_token": token})
    assert response.status_code == 403
    assert snapshot(app) == before


def test_role_change_through_flask_admin_ends_the_accounts_sessions(app, client_as, make_user):
    from tests.conftest import AuthActions as Actions

    target = make_user("viewer")
    target_client = app.test_client()
    Actions(target_client).login(target.username)
    assert target_client.get("/admin/").status_code == 200
    admin = client_as("admin")
    data = {
        "username": target.username,
        "email": target.email,
        "full_name": target.full_name,
        "role": "editor",
        "is_active": "y",
        "csrf_token": AuthActions(admin).csrf(),
    }
    assert admin.post(f"/admin/user/edit/?id={target.id}", data=data).status_code == 302
    assert target_client.get("/admin/").status_code == 302


@pytest.mark.parametrize(("role", "shown"), [("viewer", False), ("editor", True), ("admin", True)])
def test_flask_admin_pages_hide_create_and_edit_from_viewers(client_as, make_user, role, shown):
    member = make_user("member")
    client = client_as(role)
    details = client.get(f"/admin/user/details/?id={member.id}").get_data(as_text=True)
    assert ('href="/admin/user/new/' in details) is shown
    assert (f"/admin/user/edit/?id={member.id}" in details) is shown


def test_role_change_needs_a_recent_sign_in(app, client_as, make_user, monkeypatch):
    from datetime import timedelta

    from dashboard import sessions
    from dashboard.models import utcnow

    later = utcnow() + timedelta(minutes=20)
    target = make_user("viewer")
    admin = client_as("admin")
    token = AuthActions(admin).csrf()
    monkeypatch.setattr(sessions, "now", lambda: later)
    data = {
        "username": target.username,
        "email": target.email,
        "full_name": target.full_name,
        "role": "editor",
        "is_active": "y",
        "csrf_token": token,
    }
    before = snapshot(app)
    response = admin.post(
        f"/admin/user/edit/?id={target.id}",
        data=data,
        headers={"Referer": f"http://localhost/admin/user/edit/?id={target.id}"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/reauth?next=/admin/user/edit/")
    assert snapshot(app) == before
    data["role"] = "viewer"
    data["full_name"] = "Only A Rename"
    assert admin.post(f"/admin/user/edit/?id={target.id}", data=data).status_code == 302
