"""Counting and paging that stay cheap on a million rows.

- `capped_count`: the exact number of matches up to COUNT_CAP, else "more than COUNT_CAP" (one
  index walk of at most COUNT_CAP + 1 entries instead of a scan of every match per keystroke);
  `exact_count` gives the full figure when asked for.
- `page_rows`: a page of rows, one more than asked for (so "is there a next page?" needs no
  count). Deep pages find their ids first through the sort column's index alone (a deferred
  join: the OFFSET walks a narrow covering index, not the table) and load only those rows.
- `sorted_by_index`: on SQLite, when the only filters are low-cardinality columns (role,
  active), walk the sort column's index and stop after one page, rather than letting the
  planner sort every matching row (its estimate for `role = ?` ignores the LIMIT).
"""

import json

from sqlalchemy import ARRAY
from sqlalchemy import ColumnElement
from sqlalchemy import Integer
from sqlalchemy import bindparam
from sqlalchemy import column
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.util import ClauseAdapter

from .extensions import db
from .models import User

COUNT_CAP = 10_000
DEFERRED_JOIN_FROM = 500  # offsets from which the page's ids are looked up first


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
