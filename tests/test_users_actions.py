"""Create, delete, bulk actions and CSV export over HTTP, and the service paths behind them."""

import csv
import io
import json

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from dashboard import paging
from dashboard import users
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.conftest import csrf_token_from
from tests.support.snapshot import snapshot

HX = {"HX-Request": "true"}


def post(client, path: str, htmx: bool = True, headers: dict | None = None, **fields):
    token = csrf_token_from(client.get("/admin/user/").get_data(as_text=True))
    return client.post(
        path, data={"csrf_token": token, **fields}, headers={**(HX if htmx else {}), **(headers or {})}
    )


def count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(*where))


def audit_actions(app) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [
            (e.action, e.target_id) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


# --- create --------------------------------------------------------------------------------


def test_create_from_the_table(app, admin_client):
    fields = {"username": "Newbie", "email": "NEWBIE@example.com", "full_name": "New Bie", "role": "member"}
    response = post(admin_client, "/admin/user/new", **fields, is_active="true")
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#user-table"
    assert "newbie" in response.get_data(as_text=True)
    assert "Created newbie" in response.headers["HX-Trigger"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "newbie"))
        assert (user.email, user.role, user.is_active, user.password_hash) == (
            "newbie@example.com",
            "member",
            True,
            None,
        )
    assert ("create", user.id) in audit_actions(app)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": ""}, "Enter a username"),
        ({"username": "Has Spaces"}, "lower-case letters"),
        ({"username": "taken"}, "username is already taken"),
        ({"email": "nope"}, "valid email"),
        ({"full_name": ""}, "Enter a full name"),
        ({"role": "root"}, "Choose a role"),
        ({"username": "nul\x00name"}, "control characters"),
    ],
)
def test_invalid_create_is_422_with_the_form_kept(app, admin_client, make_user, fields, message):
    make_user("member", username="taken")
    before = snapshot(app)
    data = {"username": "fresh", "email": "fresh@example.com", "full_name": "Fresh Face", "role": "member"}
    data.update(fields)
    response = post(admin_client, "/admin/user/new", **data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'id="create-panel"' in html and "open" in html
    assert 'value="Fresh Face"' in html or fields.get("full_name") == ""
    assert snapshot(app) == before


def test_create_without_js_redirects(app, admin_client):
    fields = {"username": "nojs", "email": "nojs@example.com", "full_name": "No Js", "role": "viewer"}
    response = post(admin_client, "/admin/user/new", htmx=False, back="role=viewer", **fields)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/user/?role=viewer")
    assert count(app, User.username == "nojs") == 1


# --- delete --------------------------------------------------------------------------------


def test_delete_has_an_inline_confirm_step_then_deletes(app, admin_client, make_user):
    victim = make_user("member", username="victim")
    confirm = admin_client.get(f"/admin/user/row/{victim.id}/delete", headers=HX)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert 'class="confirm-delete"' in html and "cannot be undone" in html
    assert count(app, User.id == victim.id) == 1
    no_js = admin_client.get(f"/admin/user/row/{victim.id}/delete?q=vic").get_data(as_text=True)
    assert "<html" in no_js and 'class="confirm-delete"' in no_js
    response = post(admin_client, f"/admin/user/row/{victim.id}/delete", version="1")
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#user-table"
    assert "Deleted victim" in response.headers["HX-Trigger"]
    assert count(app, User.id == victim.id) == 0
    assert ("delete", victim.id) in audit_actions(app)


def test_delete_with_a_stale_version_is_409(app, admin_client, make_user):
    victim = make_user("member", username="victim")
    before = snapshot(app)
    assert post(admin_client, f"/admin/user/row/{victim.id}/delete", version="5").status_code == 409
    assert snapshot(app) == before


def test_delete_unknown_is_404(admin_client):
    assert post(admin_client, "/admin/user/row/999999/delete", version="1").status_code == 404


# --- bulk ----------------------------------------------------------------------------------


@pytest.fixture
def crowd(make_user):
    members = [make_user("member", username=f"crowd{n}") for n in range(5)]
    editor = make_user("editor", username="crowdeditor")
    return members, editor


def test_bulk_asks_for_confirmation_stating_the_count(app, admin_client, crowd):
    members, _ = crowd
    before = snapshot(app)
    ids = [str(m.id) for m in members[:3]]
    response = admin_client.post(
        "/admin/user/bulk",
        data={
            "csrf_token": csrf_token_from(admin_client.get("/admin/user/").get_data(as_text=True)),
            "action": "deactivate",
            "ids": ids,
        },
        headers=HX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Deactivate 3 users?" in html
    assert 'name="confirm" value="yes"' in html
    assert snapshot(app) == before


def test_bulk_scope_says_the_count_is_capped_when_it_is(admin_client, crowd, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 3)  # 7 users: more than the cap
    capped = admin_client.get("/admin/user/", headers=HX).get_data(as_text=True)
    assert 'id="scope-matching"> all 3+ matching</label>' in capped
    exact = admin_client.get("/admin/user/?role=editor", headers=HX).get_data(as_text=True)
    assert 'id="scope-matching"> all 1 matching</label>' in exact


def test_bulk_on_selected_rows(app, admin_client, crowd):
    members, _ = crowd
    token = csrf_token_from(admin_client.get("/admin/user/").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "action": "deactivate",
        "ids": [str(m.id) for m in members[:3]],
        "confirm": "yes",
    }
    response = admin_client.post("/admin/user/bulk", data=data, headers=HX)
    assert response.status_code == 200
    assert "Deactivated 3 users." in json.loads(response.headers["HX-Trigger"])["dashboard:message"]["text"]
    assert count(app, User.username.like("crowd%"), User.is_active.is_(False)) == 3


def test_bulk_on_all_matching_rows_applies_role_rules_row_by_row(app, editor_client, crowd, make_user):
    make_user("admin", username="crowdadmin")
    response = post(
        editor_client, "/admin/user/bulk", action="deactivate", scope="matching", f_q="crowd", confirm="yes"
    )
    assert response.status_code == 200
    message = json.loads(response.headers["HX-Trigger"])["dashboard:message"]["text"]
    assert message.startswith("Deactivated 5 users.")
    assert "Skipped 2" in message
    assert "Editors cannot change editor accounts. (1)" in message
    assert "Editors cannot change admin accounts. (1)" in message
    assert count(app, User.username.like("crowd%"), User.is_active.is_(False)) == 5
    assert count(app, User.username.in_(["crowdeditor", "crowdadmin"]), User.is_active.is_(True)) == 2
    assert [a for a, _ in audit_actions(app)].count("update") == 5


def test_bulk_confirmation_for_matching_counts_the_filtered_rows(admin_client, crowd):
    response = post(
        admin_client,
        "/admin/user/bulk",
        action="set_role",
        role="viewer",
        scope="matching",
        f_q="crowd",
        f_role="member",
    )
    assert "Change the role of 5 users to viewer?" in response.get_data(as_text=True)


def test_bulk_set_role_and_delete(app, admin_client, crowd):
    members, editor = crowd
    ids = [str(m.id) for m in members[:2]]
    token = csrf_token_from(admin_client.get("/admin/user/").get_data(as_text=True))
    base = {"csrf_token": token, "ids": ids, "confirm": "yes"}
    assert (
        admin_client.post(
            "/admin/user/bulk", data={**base, "action": "set_role", "role": "viewer"}, headers=HX
        ).status_code
        == 200
    )
    assert count(app, User.id.in_([m.id for m in members[:2]]), User.role == "viewer") == 2
    assert (
        admin_client.post("/admin/user/bulk", data={**base, "action": "delete"}, headers=HX).status_code
        == 200
    )
    assert count(app, User.id.in_([m.id for m in members[:2]])) == 0


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"action": "explode", "ids": "1"}, 422),
        ({"action": "set_role", "role": "root", "ids": "1"}, 422),
        ({"action": "activate"}, 422),  # nothing selected
        ({"action": "activate", "ids": "1; DROP TABLE users"}, 400),
        ({"action": "activate", "ids": [str(n) for n in range(1, 40_000)]}, 400),
        ({"action": "activate", "scope": "matching", "f_sort": "nope"}, 400),
        ({"action": "activate", "scope": "matching", "f_created_from": "2024-99-01"}, 400),
    ],
)
def test_bulk_bad_input(app, admin_client, crowd, fields, status):
    before = snapshot(app)
    response = post(admin_client, "/admin/user/bulk", confirm="yes", **fields)
    assert response.status_code == status
    assert snapshot(app) == before


def test_bulk_without_js_confirms_on_a_page_then_redirects(app, admin_client, crowd):
    members, _ = crowd
    first = post(admin_client, "/admin/user/bulk", htmx=False, action="activate", ids=str(members[0].id))
    assert first.status_code == 200 and "<html" in first.get_data(as_text=True)
    assert "Activate 1 user?" in first.get_data(as_text=True)
    done = post(
        admin_client,
        "/admin/user/bulk",
        htmx=False,
        action="deactivate",
        ids=str(members[0].id),
        confirm="yes",
        back="q=crowd",
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/user/?q=crowd")


def test_bulk_is_one_transaction(app, make_user, crowd, monkeypatch):
    """A failure part-way leaves every row as it was."""
    members, _ = crowd
    admin = make_user("admin")
    before = snapshot(app)
    calls = {"n": 0}
    real = users.audit.record

    def failing_record(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(users.audit, "record", failing_record)
    with app.app_context():
        actor = db.session.get(User, admin.id)
        with pytest.raises(RuntimeError):
            users.bulk_change("deactivate", [m.id for m in members], None, actor)
        db.session.rollback()
    assert snapshot(app) == before


# --- export --------------------------------------------------------------------------------


def test_export_streams_the_current_view_as_csv(admin_client, make_user):
    make_user("member", username="zed", full_name="Zed Zulu")
    make_user("viewer", username="yan", full_name="Yan Yellow")
    make_user("member", username="xavier", full_name='=HYPERLINK("http://evil")')
    response = admin_client.get("/admin/user/export.csv?role=member&sort=-username")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(users.EXPORT_COLUMNS)
    assert [row[1] for row in rows[1:]] == ["zed", "xavier"]
    assert rows[2][3] == '\'=HYPERLINK("http://evil")'


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(value):
    assert users.neutralise_cell(value) == "'" + value


def test_plain_cells_are_untouched():
    assert users.neutralise_cell("alice") == "alice"
    assert users.neutralise_cell(None) == ""
    assert users.neutralise_cell(True) == "yes"


def test_export_bad_query_is_400(admin_client):
    assert admin_client.get("/admin/user/export.csv?sort=bogus").status_code == 400


def test_viewer_may_export(viewer_client):
    assert viewer_client.get("/admin/user/export.csv").status_code == 200


# --- concurrency on the service ------------------------------------------------------------


def test_a_change_between_read_and_write_is_a_conflict_not_an_overwrite(app, make_user):
    """The stored version is compared by the UPDATE itself (version_id_col), not only in Python."""
    admin = make_user("admin")
    member = make_user("member", username="raced")
    with app.app_context():
        session = db.session()
        actor = session.get(User, admin.id)
        loaded = session.get(User, member.id)
        assert loaded.version == 1
        session.expire_on_commit = False
        session.commit()  # keep the loaded (soon stale) values in the identity map
        session.expire_on_commit = True
        with db.engine.begin() as other:
            other.execute(
                text("UPDATE users SET full_name = 'Other Writer', version = 2 WHERE id = :id"),
                {"id": member.id},
            )
        with pytest.raises(users.Conflict) as conflict:
            users.update_user(member.id, {"full_name": "Late Writer"}, 1, actor)
        assert conflict.value.current.full_name == "Other Writer"
        db.session.rollback()
        assert db.session.get(User, member.id).full_name == "Other Writer"
