"""The role rules, checked directly (the HTTP matrix tests check that views apply them)."""

import pytest

from dashboard import roles
from dashboard.extensions import db
from dashboard.models import User


@pytest.fixture
def people(app, make_user):
    """One account of each role, plus a second admin, loaded in an app context."""
    made = {
        name: make_user(role, username=name)
        for name, role in (
            ("root", "admin"),
            ("root2", "admin"),
            ("ed", "editor"),
            ("ed2", "editor"),
            ("vic", "viewer"),
            ("mem", "member"),
        )
    }
    with app.app_context():
        yield {name: db.session.get(User, user.id) for name, user in made.items()}


def test_viewer_changes_nothing(people):
    vic, mem = people["vic"], people["mem"]
    assert roles.edit_denial(vic, mem, {"full_name": "x"})
    assert roles.create_denial(vic, "member")
    assert roles.delete_denial(vic, mem)


def test_editor_manages_members_and_viewers_only(people):
    ed = people["ed"]
    assert roles.edit_denial(ed, people["mem"], {"full_name": "x", "is_active": False}) is None
    assert roles.edit_denial(ed, people["mem"], {"role": "viewer"}) is None
    assert roles.create_denial(ed, "viewer") is None
    assert "cannot make an account editor" in roles.edit_denial(ed, people["mem"], {"role": "editor"})
    assert "Editors cannot change editor" in roles.edit_denial(ed, people["ed2"], {"full_name": "x"})
    assert "Editors cannot change admin" in roles.edit_denial(ed, people["root"], {"full_name": "x"})
    assert roles.create_denial(ed, "admin")
    assert roles.delete_denial(ed, people["mem"])


def test_admin_may_do_everything_to_others(people):
    root = people["root"]
    assert roles.edit_denial(root, people["ed"], {"role": "admin"}) is None
    assert roles.delete_denial(root, people["mem"]) is None
    assert roles.delete_denial(root, people["root2"]) is None


def test_nobody_deactivates_demotes_or_deletes_themselves(people):
    root, ed = people["root"], people["ed"]
    assert roles.edit_denial(root, root, {"is_active": False})
    assert roles.edit_denial(root, root, {"role": "viewer"})
    assert roles.delete_denial(root, root)
    assert roles.edit_denial(root, root, {"full_name": "New Name"}) is None
    assert roles.edit_denial(ed, ed, {"role": "member"})
    assert roles.edit_denial(ed, ed, {"is_active": False})


def test_editors_may_edit_their_own_name_and_email(people):
    ed = people["ed"]
    assert roles.edit_denial(ed, ed, {"full_name": "Ed Itor", "email": "ed.itor@example.com"}) is None


def test_last_active_admin_stays(app, people):
    root, root2 = people["root"], people["root2"]
    assert roles.edit_denial(root, root2, {"role": "editor"}) is None  # root would remain
    assert roles.delete_denial(root, root2) is None
    # With root deactivated (and an inactive admin that does not count), root2 is the last one.
    root.is_active = False
    db.session.add(
        User(username="third", email="third@example.com", full_name="T", role="admin", is_active=False)
    )
    db.session.flush()
    assert "last active admin" in roles.edit_denial(root, root2, {"role": "editor"})
    assert "last active admin" in roles.edit_denial(root, root2, {"is_active": False})
    assert "last active admin" in roles.delete_denial(root, root2)
    db.session.rollback()
