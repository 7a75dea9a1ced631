"""Substring search over username, email and full name.

Every whitespace-separated term must appear, case-insensitively, in at least one of the columns.
"""

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_

from .models import User

SEARCH_COLUMNS = (User.username, User.email, User.full_name)
MAX_TERMS = 8


def terms_of(q: str) -> list[str]:
    """The distinct search terms in a query string (at most MAX_TERMS)."""
    seen: list[str] = []
    for term in q.lower().split():
        if term not in seen:
            seen.append(term)
    return seen[:MAX_TERMS]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_clause(q: str) -> ColumnElement[bool] | None:
    """A WHERE clause selecting the users that match every term of `q`, or None for no terms."""
    terms = terms_of(q)
    if not terms:
        return None
    return and_(
        *(
            or_(
                *(
                    func.lower(column).like(f"%{_escape_like(term)}%", escape="\\")
                    for column in SEARCH_COLUMNS
                )
            )
            for term in terms
        )
    )
