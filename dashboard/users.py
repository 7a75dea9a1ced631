"""The queries and writes behind the users table: list, edit, create, delete, bulk, export."""

import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from . import audit
from . import faults
from . import paging
from . import passwords
from . import roles
from . import sessions
from .extensions import db
from .models import EMAIL_MAX
from .models import FULL_NAME_MAX
from .models import ROLES
from .models import USERNAME_MAX
from .models import User
from .search import match_clause

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
Q_MAX = 200
SORT_COLUMNS = {
    "username": User.username,
    "email": User.email,
    "full_name": User.full_name,
    "role": User.role,
    "is_active": User.is_active,
    "created_at": User.created_at,
    "last_login_at": User.last_login_at,
}
ACTIVE_CHOICES = ("any", "yes", "no")
LOGIN_CHOICES = ("any", "never", "before", "after")
EDITABLE_FIELDS = ("full_name", "email", "role", "is_active")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
BULK_ACTIONS = ("activate", "deactivate", "set_role", "delete")
BULK_CHUNK = 500


# --- errors --------------------------------------------------------------------------------


class BadQuery(ValueError):
    """A list query parameter that cannot be used, with a message fit to show."""


class UserError(ValueError):
    """A change that cannot be made, with a message fit to show the admin (422).

    `errors` maps each bad field to its message; `field` names the first one.
    """

    def __init__(self, message: str, field: str | None = None, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors if errors is not None else ({field: message} if field else {})


class Conflict(Exception):
    """The row changed since the admin loaded it (409); `current` is the stored row."""

    def __init__(self, current: User):
        super().__init__("This user was changed by someone else since you loaded it.")
        self.current = current


class Forbidden(Exception):
    """The role rules forbid this change (403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ReauthRequired(Exception):
    """A role change needs the password entered within the re-auth window; nothing was changed."""


class NotFound(LookupError):
    """No user with that id (404)."""


# --- the list query ------------------------------------------------------------------------


def _parse_date(args: Mapping[str, str], name: str, label: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise BadQuery(f"{label} must be a date like 2024-01-31.")


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], label: str) -> str:
    value = (args.get(name) or choices[0]).strip()
    if value not in choices:
        raise BadQuery(f"{label} must be one of: {', '.join(choices)}.")
    return value


@dataclass(frozen=True)
class ListQuery:
    """Everything that selects and orders the rows of the users table (the URL's state)."""

    q: str = ""
    roles: tuple[str, ...] = ()
    active: str = "any"
    created_from: date | None = None
    created_to: date | None = None
    login: str = "any"
    login_date: date | None = None
    sort: str = "username"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    cursor: paging.Cursor | None = None  # Next/Previous: the row next to the page (keyset)

    @classmethod
    def from_args(cls, args) -> "ListQuery":
        """Build from request args (a MultiDict); raises BadQuery with a clear message."""
        q = args.get("q") or ""
        if len(q) > Q_MAX:
            raise BadQuery(f"Search text is limited to {Q_MAX} characters.")
        if CONTROL_CHARACTERS.search(q.replace("\t", " ").replace("\n", " ").replace("\r", " ")):
            raise BadQuery("Search text contains characters that cannot be searched for.")
        role_values = tuple(dict.fromkeys(v.strip() for v in args.getlist("role") if v.strip()))
        unknown = [r for r in role_values if r not in ROLES]
        if unknown:
            raise BadQuery(f"Unknown role; choose from: {', '.join(ROLES)}.")
        sort = (args.get("sort") or "username").strip()
        if sort.lstrip("-") not in SORT_COLUMNS or sort.startswith("--"):
            raise BadQuery(f"Cannot sort by that; choose from: {', '.join(SORT_COLUMNS)}.")
        login = _choice(args, "login", LOGIN_CHOICES, "Last login")
        login_date = _parse_date(args, "login_date", "Last login date")
        if login in ("before", "after") and login_date is None:
            raise BadQuery(f"Give a date for 'last login {login}'.")
        created_from = _parse_date(args, "created_from", "Created from")
        created_to = _parse_date(args, "created_to", "Created to")
        cursor = _parse_cursor(args, sort)
        return cls(
            q=q.strip(),
            roles=tuple(r for r in ROLES if r in role_values),
            active=_choice(args, "active", ACTIVE_CHOICES, "Active"),
            created_from=created_from,
            created_to=created_to,
            login=login,
            login_date=login_date,
            sort=sort,
            page=_parse_page(args.get("page")),
            page_size=_parse_page_size(args.get("page_size")),
            cursor=cursor,
        )

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def filtered(self) -> bool:
        """True when any search or filter narrows the rows."""
        return bool(
            self.q
            or self.roles
            or self.active != "any"
            or self.created_from
            or self.created_to
            or self.login != "any"
        )

    def to_args(self, **overrides: Any) -> list[tuple[str, str]]:
        """The query as URL parameters (defaults left out), with some values replaced.

        Any change drops the cursor unless a new one is given: a link to another sort, filter or
        page number starts from that page number.
        """
        if overrides and "cursor" not in overrides:
            overrides["cursor"] = None
        query = replace(self, **overrides) if overrides else self
        pairs: list[tuple[str, str]] = []
        if query.q:
            pairs.append(("q", query.q))
        pairs.extend(("role", r) for r in query.roles)
        if query.active != "any":
            pairs.append(("active", query.active))
        if query.created_from:
            pairs.append(("created_from", query.created_from.isoformat()))
        if query.created_to:
            pairs.append(("created_to", query.created_to.isoformat()))
        if query.login != "any":
            pairs.append(("login", query.login))
            if query.login != "never" and query.login_date:
                pairs.append(("login_date", query.login_date.isoformat()))
        if query.sort != "username":
            pairs.append(("sort", query.sort))
        if query.page != 1:
            pairs.append(("page", str(query.page)))
        if query.cursor is not None:
            pairs.append((query.cursor.param, query.cursor.token))
        if query.page_size != DEFAULT_PAGE_SIZE:
            pairs.append(("page_size", str(query.page_size)))
        return pairs

    def filter_args(self) -> list[tuple[str, str]]:
        """Only the parameters that choose rows (search and filters), for bulk 'all matching'."""
        placing = ("sort", "page", "page_size", "after", "before")
        return [(k, v) for k, v in self.to_args() if k not in placing]


def _parse_page(raw: str | None) -> int:
    """A 1-based page number; below 1 means 1, and list_users caps it at the last page."""
    if raw is None or raw.strip() == "":
        return 1
    raw = raw.strip()
    if not re.fullmatch(r"-?\d+", raw):
        raise BadQuery("Page must be a whole number.")
    if raw.startswith("-"):
        return 1
    return max(1, min(int(raw[:12]), 10**12))


def _parse_cursor(args: Mapping[str, str], sort: str) -> paging.Cursor | None:
    """The Next/Previous position (`after=` or `before=`) for this sort.

    A damaged one is refused (400); one made for another sort is ignored, leaving the page number.
    """
    after = (args.get("after") or "").strip()
    before = (args.get("before") or "").strip()
    if after and before:
        raise BadQuery("A page link gives either 'after' or 'before', not both.")
    if not (after or before):
        return None
    try:
        return paging.decode_cursor(after or before, sort, before=bool(before))
    except paging.BadCursor:
        name = "after" if after else "before"
        raise BadQuery(
            f"This page link is damaged (its '{name}' value); go back to the list or use the page number."
        ) from None


def _parse_page_size(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_PAGE_SIZE
    if raw.strip() not in {str(size) for size in PAGE_SIZES}:
        raise BadQuery(f"Rows per page must be one of {', '.join(map(str, PAGE_SIZES))}.")
    return int(raw)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def filter_clauses(query: ListQuery) -> list[ColumnElement[bool]]:
    """The WHERE clauses for the query's search and filters."""
    clauses: list[ColumnElement[bool]] = []
    search = match_clause(query.q)
    if search is not None:
        clauses.append(search)
    if query.roles:
        clauses.append(User.role.in_(query.roles))
    if query.active != "any":
        clauses.append(User.is_active.is_(query.active == "yes"))
    if query.created_from:
        clauses.append(User.created_at >= _start_of(query.created_from))
    if query.created_to:
        clauses.append(User.created_at < _start_of(query.created_to) + timedelta(days=1))
    if query.login == "never":
        clauses.append(User.last_login_at.is_(None))
    elif query.login == "before" and query.login_date:
        clauses.append(User.last_login_at < _start_of(query.login_date))
    elif query.login == "after" and query.login_date:
        clauses.append(User.last_login_at >= _start_of(query.login_date) + timedelta(days=1))
    return clauses


def _order_by(query: ListQuery) -> list:
    """The query's column (empty values last either way), then id for a stable order.

    NULLS LAST only where a column can be empty and the id tiebreak only where values can
    repeat: the same order, but one an index can deliver as it is (PostgreSQL cannot read
    `email DESC NULLS LAST, id DESC` from the email index, and would sort a million rows).
    """
    column = SORT_COLUMNS[query.sort_key]
    table_column = User.__table__.c[query.sort_key]
    direction = column.desc() if query.descending else column.asc()
    if table_column.nullable:
        direction = direction.nulls_last()
    if table_column.unique:
        return [direction]
    return [direction, User.id.desc() if query.descending else User.id.asc()]


def matching(query: ListQuery) -> Select:
    """SELECT the users the query matches, unordered."""
    return select(User).where(*filter_clauses(query))


def count_matching(query: ListQuery) -> int:
    """How many users the query's search and filters match."""
    statement = select(func.count()).select_from(User).where(*filter_clauses(query))
    return db.session.scalar(statement) or 0


@dataclass
class Page:
    """One page of the users table.

    `total` is exact when `exact` is true; otherwise more than paging.COUNT_CAP users match and
    `total` is the cap ("10,000+"). `more` says whether a next page exists without counting.
    """

    rows: list[User]
    total: int
    page: int
    page_size: int
    query: ListQuery
    exact: bool = True
    more: bool = False
    keyset: bool = False  # found from a cursor: `more` is what lies beyond, whatever the count says

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more if self.keyset or not self.exact else self.page < self.pages

    @property
    def next_cursor(self) -> paging.Cursor | None:
        """Where Next starts: after this page's last row."""
        return paging.cursor_of(self.rows[-1], self.query.sort) if self.rows else None

    @property
    def prev_cursor(self) -> paging.Cursor | None:
        """Where Previous ends: before this page's first row."""
        return paging.cursor_of(self.rows[0], self.query.sort, before=True) if self.rows else None

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


LAST_PAGE = 10**12  # the "Last" link's page number when the count is capped (clamped on arrival)


def list_users(query: ListQuery) -> Page:
    """The page of users the query asks for; a page past the end shows the last page.

    Counts are capped (paging.capped_count) and a page is fetched with one row extra, so no
    request scans every match; only a page beyond the capped count asks for the exact figure.
    """
    clauses = filter_clauses(query)
    more_than_cap = False
    if query.q and query.cursor is None:  # a search: count and page it in one pass if it can be
        offset = (query.page - 1) * query.page_size
        sort_column = getattr(User, query.sort_key)
        found = paging.counted_page(clauses, _order_by(query), sort_column, offset, query.page_size)
        if found is not None and (found.rows or query.page == 1):
            return Page(found.rows, found.total, query.page, query.page_size, query, True, found.more)
        more_than_cap = found is None
    # A search already known to match more than the cap is not run again just to learn that.
    ids = paging.matching_ids(clauses) if query.q and not more_than_cap else None
    if ids is not None:  # a search with few matches: count them and page them by primary key
        total, exact, clauses = len(ids), True, [paging.ids_clause(ids)]
    else:
        total, exact = paging.capped_count(clauses)
    pages = max(1, -(-total // query.page_size))
    index = paging.sort_index_for(query.sort_key, paging.filtered_columns(query))
    if query.cursor is not None:
        rows, beyond = paging.keyset_rows(clauses, query.cursor, query.page_size, index)
        if rows:
            # The number in the URL is kept for display: at least 2 while rows lie before the
            # page, 1 once Previous reaches the start (then a short page if rows were removed
            # meanwhile: the rows before the ones on screen, none repeated).
            start = query.cursor.before and not beyond
            number = 1 if start else max(2, min(query.page, pages) if exact else query.page)
            more = True if query.cursor.before else beyond
            page_query = replace(query, page=number)
            return Page(rows, total, number, query.page_size, page_query, exact, more, keyset=True)
        # Nothing beyond the cursor: the page by its number, the position dropped from the URL.
        query = replace(query, page=1 if query.cursor.before else query.page, cursor=None)
    page = min(query.page, pages) if exact else query.page

    def fetch(number: int) -> tuple[list[User], bool]:
        offset = (number - 1) * query.page_size
        return paging.page_rows(clauses, _order_by(query), offset, query.page_size, index)

    rows, more = fetch(page)
    if not rows and page > 1 and not exact:
        total, exact = paging.exact_count(clauses), True
        page = max(1, -(-total // query.page_size))
        rows, more = fetch(page)
    return Page(
        rows=rows,
        total=total,
        page=page,
        page_size=query.page_size,
        query=replace(query, page=page),
        exact=exact,
        more=more,
    )


def exact_total(query: ListQuery) -> int:
    """The exact number of users the query matches (on request, when the list shows a capped count)."""
    return paging.exact_count(filter_clauses(query))


def count_users() -> int:
    """How many users there are."""
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def get_user(user_id: int) -> User:
    """The user with this id; raises NotFound (also for an id no row can have, like 2**63)."""
    if not 0 < user_id <= paging.ID_MAX:
        raise NotFound(user_id)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(user_id)
    return user


# --- validation ----------------------------------------------------------------------------


def username_or_email_taken(username: str, email: str) -> str | None:
    """Name the field whose value another account already uses, or None."""
    if db.session.scalar(select(User.id).where(User.username == username.strip().lower())):
        return "username"
    if db.session.scalar(select(User.id).where(User.email == email.strip().lower())):
        return "email"
    return None


def parse_changes(form: Mapping[str, str], fields: Iterable[str] = EDITABLE_FIELDS) -> dict[str, Any]:
    """Read the editable fields from a submitted form.

    A text field left out of the form is left unchanged; an absent is_active checkbox means inactive.
    """
    changes: dict[str, Any] = {}
    for name in fields:
        if name == "is_active":
            changes[name] = (form.get(name) or "").strip().lower() in ("true", "on", "1", "yes")
        elif name in form:
            changes[name] = form.get(name) or ""
    return changes


def _validate(changes: dict[str, Any], current: User | None) -> dict[str, Any]:
    """Normalise and check field values (for an edit of `current`, or a new user if None);
    raises UserError naming every bad field."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("username", "full_name", "email", "role"):
        if name in changes and CONTROL_CHARACTERS.search(str(changes[name])):
            errors[name] = "Remove the control characters (such as NUL) from this field."
            changes = {k: v for k, v in changes.items() if k != name}
    if "username" in changes:
        username = str(changes["username"]).strip().lower()
        if not username:
            errors["username"] = "Enter a username."
        elif len(username) > USERNAME_MAX or not USERNAME_PATTERN.match(username):
            errors["username"] = (
                f"Use up to {USERNAME_MAX} lower-case letters, digits, dots, dashes or underscores."
            )
        elif db.session.scalar(select(User.id).where(User.username == username)):
            errors["username"] = "That username is already taken."
        clean["username"] = username
    if "full_name" in changes:
        full_name = " ".join(str(changes["full_name"]).split())
        if not full_name:
            errors["full_name"] = "Enter a full name."
        elif len(full_name) > FULL_NAME_MAX:
            errors["full_name"] = f"Full name is limited to {FULL_NAME_MAX} characters."
        clean["full_name"] = full_name
    if "email" in changes:
        email = str(changes["email"]).strip().lower()
        if not email or len(email) > EMAIL_MAX or not EMAIL_PATTERN.match(email):
            errors["email"] = "Enter a valid email address, like name@example.com."
        else:
            kept = current is not None and email == current.email  # no query for an unchanged email
            if not kept and db.session.scalar(select(User.id).where(User.email == email)) is not None:
                errors["email"] = "Another account already uses that email."
        clean["email"] = email
    if "role" in changes:
        role = str(changes["role"]).strip()
        if role not in ROLES:
            errors["role"] = f"Choose a role: {', '.join(ROLES)}."
        clean["role"] = role
    if "is_active" in changes:
        clean["is_active"] = bool(changes["is_active"])
    if errors:
        first = next(iter(errors))
        raise UserError(errors[first], first, errors)
    return clean


def snapshot_of(user: User) -> dict[str, Any]:
    """The audited fields of a user."""
    return {
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": user.is_active,
    }


# --- writes --------------------------------------------------------------------------------


def _commit(point: str) -> None:
    """Commit the write and its audit entry, with the crash points fault tests arm.

    Objects keep the values they had after flush (their new version included) rather than
    being re-read after commit, where another writer's later change could already show.
    """
    faults.crash_point(f"{point}.before_commit")
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
    faults.crash_point(f"{point}.after_commit")


def _check_version(user: User, version: int | str | None) -> None:
    """Refuse (409) unless the admin saw the stored version."""
    try:
        seen = int(version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seen = -1
    if seen != user.version:
        raise Conflict(user)


def update_user(
    user_id: int,
    changes: Mapping[str, Any],
    version: int | str | None,
    actor: User,
    recent_login: bool = True,
) -> User:
    """Apply an in-place edit if the admin saw the current version and the rules allow it.

    Raises NotFound, UserError (422), Conflict (409), Forbidden (403) or ReauthRequired (a role
    change without a recent sign-in); on success the change and its audit entry are committed
    together and the updated user (new version) returned.
    """
    user = get_user(user_id)
    if not roles.can_write(actor):
        raise Forbidden("Your role cannot change accounts.")
    _check_version(user, version)
    clean = _validate({k: v for k, v in changes.items() if k in EDITABLE_FIELDS}, user)
    before = snapshot_of(user)
    differing = {k: v for k, v in clean.items() if before.get(k) != v}
    denial = roles.edit_denial(actor, user, differing)
    if denial:
        raise _role_field_error(actor, user, differing, denial) or Forbidden(denial)
    if not differing:
        db.session.rollback()
        return get_user(user_id)
    if "role" in differing and not recent_login:
        raise ReauthRequired()
    _apply(user, differing)
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(get_user(user_id)) from None
    audit.record("update", user.id, audit.diff(before, snapshot_of(user)), actor=actor)
    _commit("user_update")
    return user


def _apply(user: User, differing: Mapping[str, Any]) -> None:
    """Set the changed fields; a role change or deactivation ends the account's sessions."""
    for name, value in differing.items():
        setattr(user, name, value)
    if "role" in differing or differing.get("is_active") is False:
        sessions.revoke(user)  # a copied cookie stops working at once, everywhere


def _role_field_error(actor: User, user: User, differing: dict[str, Any], denial: str) -> UserError | None:
    """A role the actor may not grant, on a row they may otherwise edit, is a field error (422)."""
    if "role" not in differing or differing["role"] in roles.assignable_roles(actor):
        return None
    rest = {k: v for k, v in differing.items() if k != "role"}
    if roles.edit_denial(actor, user, rest) is not None:
        return None
    return UserError(denial, "role")


def toggle_active(user_id: int, version: int | str | None, actor: User) -> User:
    """Flip a user's active flag (same rules and statuses as update_user)."""
    user = get_user(user_id)
    return update_user(user_id, {"is_active": not user.is_active}, version, actor)


def delete_user(user_id: int, version: int | str | None, actor: User) -> dict[str, Any]:
    """Delete a user the admin saw at this version; returns the deleted user's fields."""
    user = get_user(user_id)
    denial = roles.delete_denial(actor, user)
    if denial:
        raise Forbidden(denial)
    _check_version(user, version)
    before = snapshot_of(user)
    db.session.delete(user)
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(get_user(user_id)) from None
    audit.record("delete", user_id, audit.diff(before, {}), actor=actor)
    _commit("user_delete")
    return before


def create_user(fields: Mapping[str, Any], actor: User) -> User:
    """Create an account from the table (no password: it cannot sign in until one is set)."""
    wanted = {k: fields.get(k, "") for k in ("username", "email", "full_name", "role")}
    wanted["is_active"] = fields.get("is_active", True)
    if not roles.can_write(actor):
        raise Forbidden("Your role cannot create accounts.")
    clean = _validate(wanted, None)
    denial = roles.create_denial(actor, clean["role"])
    if denial:
        raise UserError(denial, "role")
    user = User(**clean)
    db.session.add(user)
    db.session.flush()
    audit.record("create", user.id, audit.diff({}, snapshot_of(user)), actor=actor)
    _commit("user_create")
    return user


def create_staff(username: str, email: str, full_name: str, role: str, password: str, actor=None) -> User:
    """Create a staff account with a password; raises UserError on a bad or taken value."""
    problem = passwords.policy_error(password)
    if problem:
        raise UserError(problem, "password")
    taken = username_or_email_taken(username, email)
    if taken:
        raise UserError(f"That {taken} is already taken.", taken)
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        role=role,
        password_hash=passwords.hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "create",
        user.id,
        audit.diff(
            {}, {"username": user.username, "email": user.email, "full_name": full_name, "role": role}
        ),
        actor=actor,
    )
    return user


# --- bulk actions --------------------------------------------------------------------------


@dataclass
class BulkResult:
    """What a bulk action did: how many rows changed, and how many were skipped for each reason."""

    action: str
    done: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def bulk_targets(ids: Iterable[int] | None, query: ListQuery | None) -> Select:
    """SELECT the users a bulk action applies to: the given ids, or all that match the query."""
    if ids is not None:
        return select(User).where(User.id.in_(list(ids))).order_by(User.id)
    return matching(query or ListQuery()).order_by(User.id)


def count_bulk_targets(ids: Iterable[int] | None, query: ListQuery | None) -> int:
    """How many users a bulk action would consider."""
    statement = bulk_targets(ids, query).order_by(None).with_only_columns(func.count())
    return db.session.scalar(statement) or 0


def bulk_change(
    action: str,
    ids: Iterable[int] | None,
    query: ListQuery | None,
    actor: User,
    role: str | None = None,
    recent_login: bool = True,
) -> BulkResult:
    """Apply a bulk action in one transaction, the role rules checked row by row."""
    if action not in BULK_ACTIONS:
        raise UserError(f"Choose an action: {', '.join(BULK_ACTIONS)}.", "action")
    if action == "set_role" and role not in ROLES:
        raise UserError(f"Choose a role: {', '.join(ROLES)}.", "role")
    if not roles.can_write(actor):
        raise Forbidden("Your role cannot change accounts.")
    if action == "set_role" and not recent_login:
        raise ReauthRequired()
    result = BulkResult(action)
    target_ids = list(db.session.scalars(bulk_targets(ids, query).with_only_columns(User.id)))
    for start in range(0, len(target_ids), BULK_CHUNK):
        chunk = target_ids[start : start + BULK_CHUNK]
        for user in db.session.scalars(select(User).where(User.id.in_(chunk)).order_by(User.id)):
            _bulk_one(action, user, actor, role, result)
        db.session.flush()
    _commit("user_bulk")
    return result


def _bulk_one(action: str, user: User, actor: User, role: str | None, result: BulkResult) -> None:
    """Apply a bulk action to one user, or count why it was skipped."""
    before = snapshot_of(user)
    if action == "delete":
        denial = roles.delete_denial(actor, user)
        if denial:
            result.skip(denial)
            return
        user_id = user.id
        db.session.delete(user)
        audit.record("delete", user_id, audit.diff(before, {}), actor=actor)
        result.done += 1
        return
    changes: dict[str, Any] = {
        "activate": {"is_active": True},
        "deactivate": {"is_active": False},
        "set_role": {"role": role},
    }[action]
    differing = {k: v for k, v in changes.items() if before.get(k) != v}
    if not differing:
        result.skip("Already so")
        return
    denial = roles.edit_denial(actor, user, differing)
    if denial:
        result.skip(denial)
        return
    _apply(user, differing)
    audit.record("update", user.id, audit.diff(before, snapshot_of(user)), actor=actor)
    result.done += 1


# --- export --------------------------------------------------------------------------------

EXPORT_COLUMNS = ("id", "username", "email", "full_name", "role", "is_active", "created_at", "last_login_at")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
