"""The database-formatted CSV export is byte for byte what Python's csv module writes."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from dashboard import csv_export
from dashboard import users
from dashboard.extensions import db
from dashboard.models import ROLES
from dashboard.models import User

AWKWARD = ",\"\r\n=+-@\t'; xyzÉÿ😀"
names = st.text(alphabet=AWKWARD, min_size=1, max_size=12).filter(lambda s: s.strip())
prefixes = st.text(alphabet=AWKWARD.lower(), max_size=4)
QUERIES = ({}, {"sort": "-full_name"}, {"role": "editor"}, {"active": "yes", "sort": "email"})


def python_csv_lines(query: users.ListQuery) -> Iterator[str]:
    """The reference: csv.writer over the matching rows in the list's order, each value through
    neutralise_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(users.EXPORT_COLUMNS)
    columns = [getattr(User, name) for name in users.EXPORT_COLUMNS]
    statement = select(*columns).where(*users.filter_clauses(query)).order_by(*users._order_by(query))
    for row in db.session.execute(statement):
        writer.writerow([users.neutralise_cell(value) for value in row])
    yield buffer.getvalue()


def _both(query_args: dict) -> tuple[str, str]:
    query = users.ListQuery.from_args(MultiDict(query_args))
    fast = b"".join(csv_export.csv_blocks(query)).decode()
    return fast, "".join(python_csv_lines(query))


def _delete_all() -> None:
    db.session.rollback()
    db.session.execute(delete(User))
    db.session.commit()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    full_names=st.lists(names, min_size=1, max_size=8),
    username_prefixes=st.lists(prefixes, min_size=8, max_size=8),
    email_prefixes=st.lists(prefixes, min_size=8, max_size=8),
)
def test_database_csv_equals_python_csv(app, monkeypatch, full_names, username_prefixes, email_prefixes):
    monkeypatch.setattr(csv_export, "BLOCK", 3)  # several blocks, clean and awkward lines mixed
    with app.app_context():
        try:
            for n, full_name in enumerate(full_names):
                db.session.add(
                    User(
                        username=f"{username_prefixes[n]}u{n}",
                        email=f"{email_prefixes[n]}u{n}@example.com",
                        full_name=full_name,
                        role=("member", "editor")[n % 2],
                        is_active=n % 3 != 1,
                        created_at=datetime(2024, 1, 2, 3, 4, 5, 678901 * (n % 2)),
                        last_login_at=None if n % 2 else datetime(2025, 6, 7, 8, 9, 10),
                    )
                )
            db.session.commit()
            for args in QUERIES:
                fast, reference = _both(args)
                assert fast == reference, args
        finally:
            _delete_all()


EDGE_ROWS = [
    # (id, username, email, full_name): values each path of the export must get exactly right
    (-5, "negative", "negative@example.com", "A negative id is neutralised"),
    (1, "plain", "", "An empty email"),
    (2, " space", "space@example.com", " =not a formula after a space"),
    (3, ">gt", "?q@example.com", "@at the start"),
    (4, "tab\tin", "tab@example.com", "\tTab first"),
    (5, "cr", "cr@example.com", "\rCR first"),
    (6, "lf", "lf@example.com", 'line\nbreak, and "quotes"'),
    (7, "ÿÿ", "yy@example.com", "ÿ is U+00FF, not the byte 0xFF"),
    (8, "clean", "clean@example.com", "Clean Row"),
    (9, "trailing", "trailing@example.com", "Trailing space "),
]


def test_edge_values_match_python_csv(app, monkeypatch):
    monkeypatch.setattr(csv_export, "BLOCK", 4)
    with app.app_context():
        try:
            for user_id, username, email, full_name in EDGE_ROWS:
                db.session.add(
                    User(
                        id=user_id,
                        username=username,
                        email=email,
                        full_name=full_name,
                        created_at=datetime(2024, 1, 2, 3, 4, 5),
                    )
                )
            db.session.commit()
            for args in QUERIES:
                fast, reference = _both(args)
                assert fast == reference, args
            assert "'-5," in fast and ",'@at the start," in fast and ',"line\nbreak,' in fast
        finally:
            _delete_all()


def test_roles_are_written_as_stored_so_must_be_plain_words():
    """The SQLite line writes role unchecked: the CHECK constraint allows only these words."""
    assert all(role.isalpha() and role.isascii() for role in ROLES)


def test_export_streams_every_row_through_the_route(admin_client, app, monkeypatch):
    monkeypatch.setattr(csv_export, "BLOCK", 500)  # several blocks of lines
    with app.app_context():
        from dashboard import seed

        seed.seed_users(2500)
    response = admin_client.get("/admin/user/export.csv?role=member")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    with app.app_context():
        _fast, reference = _both({"role": "member"})
    assert body == reference
    assert body.count("\r\n") > 1000


def test_sqlite_export_gives_the_page_cache_back(app, backend):
    """The export shrinks the connection's page cache (so its sort spills to disk) and restores it."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL streams COPY; there is no per-connection page cache to shrink")
    with app.app_context():
        from dashboard import seed

        seed.seed_users(10)

        def cache_size() -> int:
            return db.session.connection().exec_driver_sql("PRAGMA cache_size").scalar()

        before = cache_size()
        blocks = csv_export.csv_blocks(users.ListQuery())
        next(blocks)  # the header
        next(blocks)  # the first block of rows: the export's query is running
        during = cache_size()
        list(blocks)
        assert (during, cache_size()) == (-csv_export.EXPORT_CACHE_KIB, before)
        assert before != during


def test_postgresql_times_do_not_depend_on_the_sessions_datestyle(app, backend):
    """Times are written as YYYY-MM-DD HH:MM:SS even where the server's DateStyle is not ISO."""
    if backend != "postgresql":
        pytest.skip("DateStyle is PostgreSQL's; SQLite stores times as ISO text")
    with app.app_context():
        from dashboard import seed

        seed.seed_users(20)
        query = users.ListQuery()
        reference = "".join(python_csv_lines(query))
        db.session.connection().exec_driver_sql("SET DateStyle = 'German'")
        fast = b"".join(csv_export.csv_blocks(query)).decode()
        db.session.rollback()
    assert fast == reference and "-" in fast.splitlines()[1]
