"""Indexed search returns exactly what the plain substring match returns, on both backends.

The reference (`search.reference_clause`) is the naive meaning: every term a case-insensitive
substring of username, email or full name. `search.match_clause` must agree with it on any data
and any query, while going through the FTS5 trigram table (SQLite) or pg_trgm indexes.
"""

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from dashboard import search
from dashboard.extensions import db
from dashboard.models import User

# Characters that lower() leaves alone on every backend (the table's CHECKs want lower-case
# usernames and emails), chosen to be awkward: LIKE and FTS5 syntax, quotes, non-ASCII.
LOWER_CHARS = "abcdeklmnosxyz0123456789.-_%\\\"'*:^()+@ øéüßñçłжλ名字😀"
ANY_CHARS = LOWER_CHARS + "ABCKLMNOSXYZÉÜÑÇŁЖΛİ\t"


def _ids(clause) -> set[int]:
    return set(db.session.scalars(select(User.id).where(clause)))


def _search(q: str) -> set[int]:
    clause = search.match_clause(q)
    return _ids(clause) if clause is not None else set(db.session.scalars(select(User.id)))


def _reference(q: str) -> set[int]:
    clause = search.reference_clause(q)
    return _ids(clause) if clause is not None else set(db.session.scalars(select(User.id)))


def _add(rows: list[tuple[str, str, str]]) -> list[int]:
    users = [User(username=u, email=e, full_name=f, role="member") for u, e, f in rows]
    db.session.add_all(users)
    db.session.commit()
    return [user.id for user in users]


# --- the property --------------------------------------------------------------------------

lower_text = st.text(alphabet=LOWER_CHARS, min_size=1, max_size=14)
any_text = st.text(alphabet=ANY_CHARS, min_size=1, max_size=20).filter(lambda s: s.strip())


@st.composite
def people(draw):
    """A handful of users with unique usernames and emails, and awkward full names."""
    names = draw(st.lists(lower_text.filter(lambda s: s.strip() == s), min_size=1, max_size=8, unique=True))
    return [(name, f"{name}@{draw(lower_text)}", draw(any_text)) for name in names]


@st.composite
def queries(draw, rows):
    """Terms cut from the data (so some match) with their case flipped, or made up."""
    values = [value for row in rows for value in row]
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            value = draw(st.sampled_from(values))
            start = draw(st.integers(0, len(value) - 1))
            term = value[start : start + draw(st.integers(1, 6))]
            terms.append(term.upper() if draw(st.booleans()) else term)
        else:
            terms.append(draw(any_text))
    return " ".join(terms)


@st.composite
def data_and_queries(draw):
    rows = draw(people())
    return rows, [draw(queries(rows)) for _ in range(6)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=data_and_queries())
def test_indexed_search_equals_the_naive_substring_match(app, case):
    rows, qs = case
    with app.app_context():
        try:
            _add(rows)
            for q in qs:
                assert _search(q) == _reference(q), q
        finally:
            db.session.rollback()
            db.session.execute(delete(User))  # also exercises the index's delete trigger
            db.session.commit()


# --- awkward terms, checked against an answer computed by hand ------------------------------

AWKWARD = [
    ("%", {"pct"}),
    ("_", {"under"}),
    ("\\", {"slash"}),
    ('"', {"quote"}),
    ("'", {"apos"}),
    ('a"b', {"quote"}),
    ("100%", {"pct"}),
    ("a_b", {"under"}),
    ("c\\d", {"slash"}),
    ("o'neil", {"apos"}),
    ("AND", {"andy"}),
    ("NEAR(", set()),
    ("*", {"star"}),
    ("x*y", {"star"}),
    ("^start", {"caret"}),
    ("col:on", {"colon"}),
    ("😀", {"emoji"}),
    ("smile😀", {"emoji"}),
    ("zoë", {"zoe"}),
    ("名字", {"cjk"}),
    ("li名字x", {"cjk"}),
    ("a\x00b", {"quote", "under", "slash"}),  # NUL separates terms like a space: "a" and "b"
    ("\x00", None),  # nothing but separators: no filter at all
    ("   ", None),
]


@pytest.fixture
def awkward_people(app):
    with app.app_context():
        _add(
            [
                ("pct", "pct@example.com", "Full 100% Sure"),
                ("under", "under@example.com", "A_B Underscore"),
                ("slash", "slash@example.com", "C\\D Backslash"),
                ("quote", "quote@example.com", 'Say A"B Quote'),
                ("apos", "apos@example.com", "Shane O'Neil"),
                ("andy", "andy@example.com", "Andy Newman"),
                ("star", "star@example.com", "X*Y Star"),
                ("caret", "caret@example.com", "^Start Caret"),
                ("colon", "colon@example.com", "Col:On Colon"),
                ("emoji", "emoji@example.com", "Smile😀 Face"),
                ("zoe", "zoe@example.com", "Zoë Müller"),
                ("cjk", "cjk@example.com", "Li名字X"),
            ]
        )
    return app


@pytest.mark.parametrize(("q", "expected"), AWKWARD)
def test_awkward_terms_match_literally(awkward_people, q, expected):
    with awkward_people.app_context():
        users = dict(db.session.execute(select(User.id, User.username)).all())
        found = {users[i] for i in _search(q)}
        assert found == (set(users.values()) if expected is None else expected)
        assert _search(q) == _reference(q)


def test_every_term_must_match_and_order_does_not_matter(awkward_people):
    with awkward_people.app_context():
        users = dict(db.session.execute(select(User.id, User.username)).all())
        assert {users[i] for i in _search("shane NEIL")} == {"apos"}
        assert {users[i] for i in _search("neil shane")} == {"apos"}
        assert _search("shane smile") == set()
        # A short term is still a substring test, restricted by the long one.
        assert {users[i] for i in _search("zo ller")} == {"zoe"}
        assert {users[i] for i in _search("ü")} == {"zoe"}


def test_search_index_follows_inserts_updates_and_deletes(app):
    """The trigram index itself (not just the final filter) sees every change."""
    with app.app_context():
        [user_id] = _add([("walter", "walter@example.com", "Walter White")])
        if db.engine.dialect.name == "sqlite":
            fts_hits = "SELECT rowid FROM users_fts WHERE users_fts MATCH :q"
            assert db.session.scalars(text(fts_hits), {"q": '"white"'}).all() == [user_id]
            db.session.execute(update(User).where(User.id == user_id).values(full_name="Walter Black"))
            db.session.commit()
            assert db.session.scalars(text(fts_hits), {"q": '"white"'}).all() == []
            assert db.session.scalars(text(fts_hits), {"q": '"black"'}).all() == [user_id]
            db.session.execute(delete(User).where(User.id == user_id))
            db.session.commit()
            assert db.session.scalars(text(fts_hits), {"q": '"black"'}).all() == []
            # the index is consistent with its content table
            db.session.execute(text("INSERT INTO users_fts(users_fts, rank) VALUES ('integrity-check', 1)"))
        else:
            db.session.execute(update(User).where(User.id == user_id).values(full_name="Walter Black"))
            db.session.commit()
            assert _search("black") == {user_id}
            assert _search("white") == set()


def test_search_goes_through_the_trigram_index(app):
    """SQLite's plan uses the FTS5 table; PostgreSQL's uses the pg_trgm indexes, not a scan."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            statement = select(User.id).where(search.match_clause("smith jo"))
            sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all())
            assert "VIRTUAL TABLE INDEX" in plan and "users_fts" in plan, plan
        else:
            _add([(f"user{n}", f"user{n}@example.com", f"Person {n}") for n in range(200)])
            db.session.execute(text("ANALYZE users"))
            db.session.execute(text("SET LOCAL enable_seqscan = off"))
            statement = select(User.id).where(search.match_clause("smith"))
            sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(row[0] for row in db.session.execute(text(f"EXPLAIN {sql}")).all())
            assert "ix_users_full_name_trgm" in plan and "ix_users_email_trgm" in plan, plan
