"""SQL statements per request: a small constant, whatever the number of rows (no N+1)."""

import re

import pytest
from sqlalchemy import event

from dashboard import seed
from dashboard.extensions import db

HX = {"HX-Request": "true"}
LIST = "/admin/user/"


def statements_during(app, request) -> list[str]:
    """Every SQL statement the app runs while `request()` is served (transaction control aside)."""
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = request()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code < 400, response.status_code
    return seen


def add_users(app, count: int) -> None:
    with app.app_context():
        seed.seed_users(count)


REQUESTS = {
    "partial": lambda c, _token: c.get(LIST + "?page_size=100", headers=HX),
    "full page": lambda c, _token: c.get(LIST + "?page_size=100"),
    "search": lambda c, _token: c.get(LIST + "?q=a&page_size=100", headers=HX),
    "filters and sort": lambda c, _token: c.get(LIST + "?role=member&active=yes&sort=-email", headers=HX),
    "export": lambda c, _token: c.get("/admin/user/export.csv"),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_list_requests_run_the_same_few_statements_for_5_or_150_rows(app, admin_client, name):
    token = None
    add_users(app, 5)
    small = statements_during(app, lambda: REQUESTS[name](admin_client, token))
    add_users(app, 145)
    large = statements_during(app, lambda: REQUESTS[name](admin_client, token))
    assert len(small) == len(large), (small, large)
    assert len(large) <= 5, large


def test_an_edit_runs_a_constant_handful_of_statements(app, admin_client):
    add_users(app, 150)
    page = admin_client.get(LIST + "?sort=-created_at", headers=HX).get_data(as_text=True)
    member_row = r'<tr id="user-(\d+)" data-version="(\d+)"[^>]*>(?:(?!</tr>).)*class="role-member"'
    row_id, version = re.search(member_row, page, re.S).groups()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"full_name": "New Name", "email": f"new{row_id}@example.com", "role": "member"}
    form.update(is_active="true", version=version, csrf_token=token)
    seen = statements_during(
        app, lambda: admin_client.post(f"/admin/user/row/{row_id}", data=form, headers=HX)
    )
    assert len(seen) <= 8, seen
