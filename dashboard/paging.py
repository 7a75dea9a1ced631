"""Counting and paging that stay cheap on a million rows.

- `capped_count`: the exact number of matches up to COUNT_CAP, else "more than COUNT_CAP" (one
  index walk of at most COUNT_CAP + 1 entries instead of a scan of every match per keystroke);
  `exact_count` gives the full figure when asked for.
- `counted_page`: a search's page and its exact count from one statement (when the capped
  number of matches is not exceeded).
- `page_rows`: a page of rows, one more than asked for (so "is there a next page?" needs no
  count). Deep pages find their ids first through the sort column's index alone (a deferred
  join: the OFFSET walks a narrow covering index, not the table) and load only those rows.
- `keyset_rows`: the page after (Next) or before (Previous) a cursor, the last or first row of
  the page the admin saw, found by seeking the sort index to that row rather than counting off
  an OFFSET: as fast deep in the table as on the first page, and nothing is skipped or shown
  twice when rows are added or removed between clicks. `Cursor` is that row's position
  (sort value and id), carried in the URL as compact base64 JSON and checked on the way in.
- `sorted_by_index`: on SQLite, when the only filters are low-cardinality columns (role,
  active), walk the sort column's index and stop after one page, rather than letting the
  planner sort every matching row (its estimate for `role = ?` ignores the LIMIT).
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY
from sqlalchemy import Boolean
from sqlalchemy import ColumnElement
from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.util import ClauseAdapter

from .extensions import db
from .models import User

COUNT_CAP = 10_000
DEFERRED_JOIN_FROM = 500  # offsets from which the page's ids are looked up first

# PostgreSQL only (migration 0004): the id beside every sort column, so a deep OFFSET's
# deferred join reads its ids from the index alone (SQLite indexes carry the rowid anyway).
# Outside the models' metadata: see dashboard.search.include_name.
POSTGRESQL_SORT_INDEXES = {
    "ix_users_username_id": "(username) INCLUDE (id)",
    "ix_users_email_id": "(email) INCLUDE (id)",
    "ix_users_full_name_id": "(full_name, id)",
    "ix_users_created_at_id": "(created_at, id)",
    "ix_users_last_login_at_id": "(last_login_at, id)",
}


def capped_count(where: list[ColumnElement[bool]], cap: int | None = None) -> tuple[int, bool]:
    """(count, exact): the number of matching users if at most `cap`, else (cap, False)."""
    cap = COUNT_CAP if cap is None else cap
    limited = select(literal(1)).select_from(User).where(*where).limit(cap + 1).subquery()
    found = db.session.scalar(select(func.count()).select_from(limited)) or 0
    return (found, True) if found <= cap else (cap, False)


def matching_ids(where: list[ColumnElement[bool]], cap: int | None = None) -> list[int] | None:
    """Every matching id if there are at most `cap` (in no order), else None.

    For a search: one pass over the index's candidates gives both the exact count and a set of
    ids the page query then reads by primary key, instead of running the search twice.
    """
    cap = COUNT_CAP if cap is None else cap
    ids = list(db.session.scalars(select(User.id).where(*where).limit(cap + 1)))
    return ids if len(ids) <= cap else None


@dataclass
class CountedPage:
    """A page of a search's matches, with how many there are in all."""

    rows: list[User]
    more: bool
    total: int


def counted_page(
    where: list[ColumnElement[bool]],
    order_by: list,
    sort_column,
    offset: int,
    limit: int,
    cap: int | None = None,
) -> CountedPage | None:
    """For a search: its matches counted, sorted and paged in one pass, if at most `cap`.

    Every candidate the search index offers is read once to check it (the index narrows, the
    row decides); the matches' ids and sort values are then counted by a window and sorted, and
    only the page's rows are loaded, rather than finding the matches once to count and looking
    every one up again to sort. None when more than `cap` match (count and page them the capped
    way); a page past the last match has no rows and total 0.
    """
    cap = COUNT_CAP if cap is None else cap
    matches = select(User.id, sort_column).where(*where).limit(cap + 1).subquery()
    adapt = ClauseAdapter(matches).traverse
    ranked = (
        select(matches.c.id, func.count().over())
        .order_by(*(adapt(clause) for clause in order_by))
        .limit(limit + 1)
        .offset(offset)
    )
    found = db.session.execute(ranked).all()
    total = found[0][1] if found else 0
    if total > cap:
        return None
    ids = [row[0] for row in found[:limit]]
    rows = list(db.session.scalars(select(User).where(User.id.in_(ids)).order_by(*order_by))) if ids else []
    return CountedPage(rows, len(found) > limit, total)


def ids_clause(ids: list[int]) -> ColumnElement[bool]:
    """`users.id IN ids` as one bound value (a JSON array on SQLite, an array on PostgreSQL),
    so thousands of ids cost one parameter rather than thousands to render and bind."""
    if db.engine.dialect.name == "sqlite":
        values = select(column("value")).select_from(func.json_each(json.dumps(ids)))
        return User.id.in_(values)
    return User.id == func.any(bindparam("ids", ids, type_=ARRAY(Integer), unique=True))


def exact_count(where: list[ColumnElement[bool]]) -> int:
    """The full number of matching users (a scan of every match: only on request)."""
    return db.session.scalar(select(func.count()).select_from(User).where(*where)) or 0


def page_rows(
    where: list[ColumnElement[bool]], order_by: list, offset: int, limit: int, index: str | None = None
) -> tuple[list[User], bool]:
    """(rows, more): `limit` users from `offset` in the given order, and whether any follow.

    `index` (SQLite) names the index to walk for the page (see `sort_index_for`).
    """
    entity, adapt = _source(index)
    where_ = [adapt(clause) for clause in where]
    order_ = [adapt(clause) for clause in order_by]
    if offset < DEFERRED_JOIN_FROM or offset == 0:
        statement = select(entity).where(*where_).order_by(*order_).limit(limit + 1).offset(offset)
    else:
        ids = select(entity.id).where(*where_).order_by(*order_).limit(limit + 1).offset(offset)
        statement = select(User).where(User.id.in_(ids.scalar_subquery())).order_by(*order_by)
    rows = list(db.session.scalars(statement))
    return rows[:limit], len(rows) > limit


# --- keyset paging: Next and Previous seek to the row next to the page ----------------------

CURSOR_MAX = 800  # characters: the longest email, JSON-escaped and base64'd, still fits
CURSOR_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
ID_MAX = 2**63 - 1


class BadCursor(ValueError):
    """A cursor that cannot be decoded or does not fit its sort column."""


@dataclass(frozen=True)
class Cursor:
    """The position of one row in a sort order: its sort value and its id.

    A page `after` the cursor holds the rows that follow that row (Next); a page `before` it,
    the rows that precede it (Previous). `sort` is the order the position belongs to
    ("-email"), so a cursor pasted into another order is recognised as foreign.
    """

    sort: str
    value: Any
    id: int
    before: bool = False

    @property
    def param(self) -> str:
        """The URL parameter that carries it."""
        return "before" if self.before else "after"

    @property
    def token(self) -> str:
        """URL-safe base64 (no padding) of the JSON [sort, value, id]."""
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        payload = json.dumps([self.sort, value, self.id], separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def cursor_of(row: User, sort: str, before: bool = False) -> Cursor:
    """The cursor at `row` in the order `sort`."""
    return Cursor(sort, getattr(row, sort.lstrip("-")), row.id, before)


def decode_cursor(token: str, sort: str, before: bool = False) -> Cursor | None:
    """The cursor a token carries, its value typed for the sort column; None if it belongs to
    another order. Raises BadCursor if the token is damaged or its value cannot be that column's.
    """
    if len(token) > CURSOR_MAX or not CURSOR_ALPHABET.fullmatch(token):
        raise BadCursor("not a cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor") from None
    if not isinstance(data, list) or len(data) != 3 or not isinstance(data[0], str):
        raise BadCursor("not a cursor")
    cursor_sort, value, row_id = data
    if type(row_id) is not int or not 0 < row_id <= ID_MAX:
        raise BadCursor("bad id")
    if cursor_sort != sort:
        return None
    return Cursor(sort, _typed(User.__table__.c[sort.lstrip("-")], value), row_id, before)


def _typed(column, value: Any) -> Any:
    """`value` as the column's Python type, or BadCursor (never a value of the wrong type)."""
    if value is None:
        if not column.nullable:
            raise BadCursor("empty value")
        return None
    if isinstance(column.type, Boolean):
        if type(value) is not bool:
            raise BadCursor("not a flag")
        return value
    if not isinstance(value, str):
        raise BadCursor("not text")
    if isinstance(column.type, DateTime):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise BadCursor("not a time") from None
        if moment.tzinfo is not None:
            raise BadCursor("not a stored time")
        return moment
    if isinstance(column.type, String):
        if len(value) > (column.type.length or 0) or "\x00" in value:
            raise BadCursor("not a stored value")
        try:
            value.encode("utf-8")  # a lone surrogate from JSON cannot be sent to the database
        except UnicodeEncodeError:
            raise BadCursor("not a stored value") from None
        return value
    raise BadCursor("not a sort column")


def keyset_rows(
    where: list[ColumnElement[bool]], cursor: Cursor, limit: int, index: str | None = None
) -> tuple[list[User], bool]:
    """(rows, beyond): up to `limit` users next to the cursor, in the list's order, and whether
    more lie beyond them (after them for a page after the cursor, before them for one before it).

    The rows are those the list's order (column with empty values last, then id) puts right
    after (or before) the cursor's row, whether or not that row still exists. Each part of the
    range is a seek in the sort column's index, each limited to a page and then merged: the
    rows with the cursor's own value and a greater id (`column = value AND id > id`, where
    values repeat), the rows with a greater value (`column > value`), and the empty values
    where the order puts them. (A row-value `(column, id) > (value, id)` would be one part, but
    SQLite seeks only on its first column: through 700,000 'member' rows when sorted by role.)
    """
    entity, adapt = _source(index)
    key = cursor.sort.lstrip("-")
    column = getattr(entity, key)
    table_column = User.__table__.c[key]
    backwards = cursor.sort.startswith("-") != cursor.before  # walking the column downwards
    nulls_last = not cursor.before  # the list's order puts empty values last; walking back, first
    where_ = [adapt(clause) for clause in where]

    def beyond(left, right):
        return left < right if backwards else left > right

    def by(expression):
        return expression.desc() if backwards else expression.asc()

    filled_order = [by(column)] if table_column.unique else [by(column), by(entity.id)]
    by_id = [by(entity.id)]
    parts: list[tuple[list, list]] = []  # (conditions, order): each a seek in one index range
    if cursor.value is None:
        parts.append(([column.is_(None), beyond(entity.id, cursor.id)], by_id))
        if not nulls_last:  # walking back from an empty value: every filled one comes before
            parts.append(([column.is_not(None)], filled_order))
    else:
        value = literal(cursor.value, table_column.type)  # bound, typed as the column
        if not table_column.unique:  # the cursor's own value, past its id; then the values beyond
            parts.append(([column == value, beyond(entity.id, cursor.id)], by_id))
        parts.append(([beyond(column, value)], filled_order))
        if nulls_last and table_column.nullable:
            parts.append(([column.is_(None)], by_id))
    if len(parts) == 1:
        conditions, order = parts[0]
        statement = select(entity).where(*where_, *conditions).order_by(*order).limit(limit + 1)
    else:
        pieces = [
            select(entity.id).where(*where_, *conditions).order_by(*order).limit(limit + 1).subquery()
            for conditions, order in parts
        ]
        merged = by(User.__table__.c[key])
        if table_column.nullable:
            merged = merged.nulls_last() if nulls_last else merged.nulls_first()
        order = [merged, by(User.id)]
        ids = union_all(*(piece.select() for piece in pieces)).scalar_subquery()
        statement = select(User).where(User.id.in_(ids)).order_by(*order).limit(limit + 1)
    rows = list(db.session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    if cursor.before:
        rows.reverse()
    return rows, more


class IndexedUsers(TableClause):
    """The users table with a SQLite `INDEXED BY` clause (rendered only where it is a FROM)."""

    inherit_cache = True

    def __init__(self, index: str):
        super().__init__(User.__table__.name, *(column(c.name, c.type) for c in User.__table__.columns))
        self.index = index

    def _gen_cache_key(self, anon_map, bindparams):
        return (IndexedUsers, self.index)


@compiles(IndexedUsers)
def _compile_indexed_users(element: IndexedUsers, compiler, asfrom: bool = False, **kw) -> str:
    rendered = compiler.visit_table(element, asfrom=asfrom, **kw)
    return f'{rendered} INDEXED BY "{element.index}"' if asfrom else rendered


def _source(index: str | None):
    """The entity to select from, and how to point clauses written against User at it."""
    if index is None:
        return User, lambda clause: clause
    table = IndexedUsers(index)
    adapter = ClauseAdapter(table, adapt_on_names=True)
    return aliased(User, table, adapt_on_names=True), adapter.traverse


# --- SQLite: walk the sort index when the filters cannot narrow much --------------------------

LOW_CARDINALITY = frozenset({"role", "is_active"})


_SORT_INDEXES: dict[str, dict[str, str]] = {}  # per database URL: column -> index name


def sort_index_name(column: str) -> str | None:
    """The SQLite index on `users` ordered by `column` (then rowid), looked up once per database."""
    key = str(db.engine.url)
    if key not in _SORT_INDEXES:
        found: dict[str, str] = {}
        for row in db.session.execute(text("PRAGMA index_list(users)")).all():
            name = row[1]
            columns = [c[2] for c in db.session.execute(text(f'PRAGMA index_info("{name}")')).all()]
            if len(columns) == 1 or (len(columns) == 2 and columns[1] == "id"):
                found.setdefault(columns[0], name)
        _SORT_INDEXES[key] = found
    return _SORT_INDEXES[key].get(column)


def filtered_columns(query) -> set[str]:
    """Which columns a users.ListQuery narrows ("search" for a text search)."""
    columns = set()
    if query.q:
        columns.add("search")
    if query.roles:
        columns.add("role")
    if query.active != "any":
        columns.add("is_active")
    if query.created_from or query.created_to:
        columns.add("created_at")
    if query.login != "any":
        columns.add("last_login_at")
    return columns


def sort_index_for(sort_column: str, filters: set[str]) -> str | None:
    """On SQLite, the index to walk when the only filters are role/active (else let it plan)."""
    if db.engine.dialect.name != "sqlite" or not filters or filters - LOW_CARDINALITY:
        return None
    if sort_column in LOW_CARDINALITY:
        return None
    return sort_index_name(sort_column)
