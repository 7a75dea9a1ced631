"""The database-formatted CSV export is byte for byte what Python's csv module writes."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from werkzeug.datastructures import MultiDict

from dashboard import csv_export
from dashboard import users
from dashboard.extensions import db
from dashboard.models import ROLES
from dashboard.models import User

AWKWARD = ",\"\r\n=+-@\t'; xyzÉ😀"
names = st.text(alphabet=AWKWARD, min_size=1, max_size=12).filter(lambda s: s.strip())


def python_csv_lines(query: users.ListQuery) -> Iterator[str]:
    """The reference: csv.writer over users.export_rows, each value through neutralise_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(users.EXPORT_COLUMNS)
    for row in users.export_rows(query):
        writer.writerow([users.neutralise_cell(value) for value in row])
    yield buffer.getvalue()


def _both(query_args: dict) -> tuple[str, str]:
    query = users.ListQuery.from_args(MultiDict(query_args))
    fast = b"".join(csv_export.csv_blocks(query)).decode()
    return fast, "".join(python_csv_lines(query))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(full_names=st.lists(names, min_size=1, max_size=6))
def test_database_csv_equals_python_csv(app, full_names):
    with app.app_context():
        try:
            for n, full_name in enumerate(full_names):
                db.session.add(
                    User(
                        username=f"=u{n}" if n % 2 else f"u{n}",
                        email=f"-u{n}@example.com" if n % 3 == 0 else f"u{n}@example.com",
                        full_name=full_name,
                        role=("member", "editor")[n % 2],
                        is_active=n % 2 == 0,
                        created_at=datetime(2024, 1, 2, 3, 4, 5, 678901),
                        last_login_at=None if n % 2 else datetime(2025, 6, 7, 8, 9, 10),
                    )
                )
            db.session.commit()
            for args in ({}, {"sort": "-full_name"}, {"role": "editor"}, {"active": "yes", "sort": "email"}):
                fast, reference = _both(args)
                assert fast == reference, args
        finally:
            db.session.rollback()
            db.session.execute(delete(User))
            db.session.commit()


def test_export_streams_every_row_through_the_route(admin_client, app):
    with app.app_context():
        from dashboard import seed

        seed.seed_users(2500)  # more than one block of lines
    response = admin_client.get("/admin/user/export.csv?role=member")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    with app.app_context():
        _fast, reference = _both({"role": "member"})
    assert body == reference
    assert body.count("\r\n") > 1000
