"""Substring search over username, email and full name, through each backend's index.

The meaning (the reference, `reference_clause`): every whitespace-separated term must appear,
case-insensitively, in at least one of the columns. `match_clause` gives exactly the same rows,
but fast: on SQLite it first narrows to the candidates of an FTS5 trigram index (the table
users_fts, built by migration 0002) and then applies the reference to those few rows, so the
index's own case folding can never add or lose a row; on PostgreSQL the reference expressions
`lower(column) LIKE '%term%'` are exactly what the pg_trgm GIN indexes cover.

Terms shorter than three characters have no trigram: they are checked by the reference alone,
restricted by any longer term's index hit (a query of short terms only scans, but such terms
match densely, so a first page fills after a few rows).
"""

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import table

from .extensions import db
from .models import User
from .paging import POSTGRESQL_SORT_INDEXES

SEARCH_COLUMNS = (User.username, User.email, User.full_name)
MAX_TERMS = 8
TRIGRAM = 3  # the shortest term the trigram indexes can look up

# Schema objects of the search index, kept outside the SQLAlchemy metadata (see include_name).
FTS_TABLE = "users_fts"
FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")
TRIGRAM_INDEXES = frozenset({"ix_users_username_trgm", "ix_users_email_trgm", "ix_users_full_name_trgm"})

_fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))


def terms_of(q: str) -> list[str]:
    """The distinct search terms in a query string (at most MAX_TERMS).

    NUL can be stored by neither backend's text functions, so it separates terms like a space.
    """
    seen: list[str] = []
    for term in q.replace("\x00", " ").lower().split():
        if term not in seen:
            seen.append(term)
    return seen[:MAX_TERMS]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term_clause(term: str) -> ColumnElement[bool]:
    """The term is a case-insensitive substring of at least one searched column."""
    pattern = f"%{_escape_like(term)}%"
    return or_(*(func.lower(col).like(pattern, escape="\\") for col in SEARCH_COLUMNS))


def reference_clause(q: str) -> ColumnElement[bool] | None:
    """The plain (unindexed) substring match: the meaning `match_clause` must reproduce."""
    terms = terms_of(q)
    if not terms:
        return None
    return and_(*(_term_clause(term) for term in terms))


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression requiring every term of 3+ characters, each quoted as a phrase.

    Inside double quotes FTS5 takes every character literally except '"', which is doubled.
    """
    phrases = ['"' + term.replace('"', '""') + '"' for term in terms if len(term) >= TRIGRAM]
    return " AND ".join(phrases) or None


def match_clause(q: str) -> ColumnElement[bool] | None:
    """A WHERE clause selecting the users that match every term of `q`, or None for no terms."""
    terms = terms_of(q)
    if not terms:
        return None
    exact = and_(*(_term_clause(term) for term in terms))
    if db.engine.dialect.name != "sqlite":
        return exact  # PostgreSQL: the pg_trgm indexes cover these very expressions
    query = fts_query(terms)
    if query is None:
        return exact
    candidates = select(_fts.c.rowid).where(_fts.c[FTS_TABLE].match(query))
    return and_(User.id.in_(candidates), exact)


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic hook: leave the search index's own tables and indexes, and PostgreSQL's covering
    sort indexes (migration 0004), out of model comparison."""
    if type_ == "table" and name is not None:
        return not (name == FTS_TABLE or any(name == FTS_TABLE + s for s in FTS_SHADOW_SUFFIXES))
    if type_ == "index":
        return name not in TRIGRAM_INDEXES and name not in POSTGRESQL_SORT_INDEXES
    return True
