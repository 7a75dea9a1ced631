"""Deterministic crashes around the commit of an in-place edit, on a real gunicorn.

The worker dies (os._exit, no cleanup) just before or just after the commit of
POST /admin/user/row/<id>. Before commit: the row and the audit log are unchanged. After
commit: the change and its one audit entry are committed. Either way the client saw no answer,
and the next write on the same server succeeds.
"""

import http.client

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from tests.conftest import PASSWORD
from tests.support.load import HttpClient
from tests.support.load import form_fields
from tests.support.server import gunicorn

pytestmark = pytest.mark.server
HX = {"HX-Request": "true"}


def stored(database_url: str, user_id: int) -> tuple[str, int, int]:
    """(full name, version, number of update audit entries) of one user."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            name, version = connection.execute(
                text("SELECT full_name, version FROM users WHERE id = :id"), {"id": user_id}
            ).one()
            audits = connection.execute(
                text("SELECT count(*) FROM audit_entries WHERE action = 'update' AND target_id = :id"),
                {"id": user_id},
            ).scalar_one()
    finally:
        engine.dispose()
    return name, version, audits


def save(client: HttpClient, user_id: int, full_name: str):
    """Load the row in edit mode and save a new full name with the version it shows."""
    status, _, body = client.get(f"/admin/user/row/{user_id}/edit", headers=HX)
    assert status == 200, body[:300]
    values, _ = form_fields(body)
    values.pop("csrf_token", None)
    return client.post(f"/admin/user/row/{user_id}", {**values, "full_name": full_name}, headers=HX)


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_crash_around_commit_keeps_the_row_whole(database_url, make_user, tmp_path, point):
    admin = make_user("admin")
    target = make_user("member", full_name="Before Crash")
    flag = tmp_path / "crash-once"
    flag.touch()
    env = {"DASHBOARD_CRASH_POINT": f"user_update.{point}", "DASHBOARD_CRASH_ONCE_FLAG": str(flag)}
    with gunicorn(database_url, str(tmp_path / "instance"), workers=2, extra_env=env) as (base, process):
        client = HttpClient(base)
        assert client.login(admin.username, PASSWORD) == 302
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            save(client, target.id, "During Crash")
        assert not flag.exists(), "the crash point did not fire"
        name, version, audits = stored(database_url, target.id)
        if point == "before_commit":
            assert (name, version, audits) == ("Before Crash", target.version, 0)
        else:
            assert (name, version, audits) == ("During Crash", target.version + 1, 1)
        status, _, body = save(client, target.id, "After Crash")
        assert status == 200, body[:500]
        assert "After Crash" in body
        client.close()
        assert process.poll() is None
    name, version, audits = stored(database_url, target.id)
    expected_writes = 1 if point == "before_commit" else 2
    assert (name, version, audits) == ("After Crash", target.version + expected_writes, expected_writes)
