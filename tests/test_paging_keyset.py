"""Keyset paging: Next and Previous carry the row next to the page (a cursor) instead of an OFFSET.

With nothing changed, a cursor page shows exactly the rows OFFSET shows for its number, in every
order (ties and empty values included), on both backends; with rows added and removed between
clicks, a walk through the table neither skips nor repeats a row.
"""

import random
import re
from datetime import datetime
from datetime import timedelta
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from dashboard import paging
from dashboard import users
from dashboard.extensions import db
from dashboard.models import ROLES
from dashboard.models import User
from tests.test_query_counts import add_users
from tests.test_query_counts import statements_during

LIST = "/admin/user/"
HX = {"HX-Request": "true"}
SORTS = ("username", "email", "full_name", "role", "is_active", "created_at", "last_login_at")
ALL_SORTS = [*SORTS, *("-" + s for s in SORTS)]
BASE = datetime(2024, 1, 1)
NAMES = ("Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus")


def random_user(rng: random.Random, tag: str) -> User:
    """A user whose sort values repeat a lot (ties across page boundaries) or are empty."""
    return User(
        username=f"{rng.choice('abcdefghij')}{tag}",
        email=f"{rng.choice('klmnopqrst')}{tag}@example.com",
        full_name=rng.choice(NAMES),
        role=rng.choice(ROLES),
        is_active=rng.random() < 0.6,
        created_at=BASE + timedelta(days=rng.randrange(4)),
        last_login_at=None if rng.random() < 0.35 else BASE + timedelta(hours=rng.randrange(5)),
    )


@pytest.fixture
def crowd(app):
    """260 users in a shuffled order (ids do not follow any column), with ties and empty values."""
    rng = random.Random(5)
    with app.app_context():
        db.session.add_all(random_user(rng, f"{n:03d}") for n in range(260))
        db.session.commit()
    return app


def order_key(sort: str):
    """The list's order in Python: the column (empty values last either way), then id."""
    column = sort.lstrip("-")
    descending = sort.startswith("-")

    def key(user: User):
        value = getattr(user, column)
        if value is None:
            return (1, -user.id if descending else user.id)
        if descending:  # reverse the value without negating it: compare by rank instead
            return (0, _Reversed(value), -user.id)
        return (0, value, user.id)

    return key


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    def __init__(self, value):
        self.value = value

    def __lt__(self, other):
        return self.value > other.value

    def __eq__(self, other):
        return self.value == other.value


def query(args: dict, **more) -> users.ListQuery:
    return users.ListQuery.from_args(MultiDict({**args, **{k: str(v) for k, v in more.items()}}))


def by_number(args: dict, number: int) -> users.Page:
    return users.list_users(query(args, page=number))


def follow(page: users.Page, args: dict, forward: bool) -> users.Page:
    """The page Next (or Previous) leads to, through the cursor's URL form and back."""
    cursor = page.next_cursor if forward else page.prev_cursor
    number = page.page + (1 if forward else -1)
    return users.list_users(query(args, page=number, **{cursor.param: cursor.token}))


def ids(page: users.Page) -> list[int]:
    return [u.id for u in page.rows]


@pytest.mark.parametrize("sort", ALL_SORTS)
@pytest.mark.parametrize(
    "filters",
    [{}, {"role": "member"}, {"active": "yes", "role": "editor"}, {"q": "ann"}, {"q": "GUS e"}, {"q": "exa"}],
)
def test_next_and_previous_show_what_offset_shows_for_that_page(crowd, monkeypatch, sort, filters):
    # Unfiltered lists are capped, filtered ones exact; a search's ~37 matches are counted and
    # paged in one pass (paging.counted_page) by number, and by cursor among their ids; "exa"
    # matches every email, more than the cap, so it is counted and paged the capped way.
    monkeypatch.setattr(paging, "COUNT_CAP", 40)
    args = {**filters, "sort": sort, "page_size": "25"}
    terms = filters.get("q", "").lower().split()

    def found(u: User) -> bool:
        return all(any(t in v.lower() for v in (u.username, u.email, u.full_name)) for t in terms)

    with crowd.app_context():
        wanted = [
            u
            for u in db.session.scalars(db.select(User))
            if u.role == filters.get("role", u.role) and ("active" not in filters or u.is_active) and found(u)
        ]
        expected = [u.id for u in sorted(wanted, key=order_key(sort))]
        numbered = [by_number(args, 1)]
        while numbered[-1].has_next:
            numbered.append(by_number(args, numbered[-1].page + 1))
        assert sum((ids(p) for p in numbered), []) == expected
        assert len(numbered) >= 2

        forward = [numbered[0]]
        while forward[-1].has_next:
            forward.append(follow(forward[-1], args, forward=True))
        backward = [numbered[-1]]
        while backward[-1].has_prev:
            backward.append(follow(backward[-1], args, forward=False))
        backward.reverse()

    def shown(pages):
        return [(p.page, p.first_index, p.last_index, ids(p)) for p in pages]

    assert shown(forward) == shown(numbered)
    assert shown(backward) == shown(numbered)
    assert all(p.keyset for p in forward[1:] + backward[:-1])


def _walk_with_changes(app, sort: str, forward: bool, seed: int) -> tuple[list[int], set[int]]:
    """Page through the whole table by cursor while adding and removing rows between clicks.

    Returns the ids shown, in order, and the ids that should have been shown: every row except
    those removed before the walk reached them and those added behind the walk's position.
    """
    rng = random.Random(seed)
    args = {"sort": sort, "page_size": "25"}
    key = order_key(sort)
    ever: dict[int, User] = {}
    not_expected: set[int] = set()
    shown: list[int] = []
    with app.app_context():
        db.session.expire_on_commit = False
        for user in db.session.scalars(db.select(User)):
            ever[user.id] = user
        page = by_number(args, 1 if forward else 10**6)
        made = 0
        while True:
            shown.extend(ids(page) if forward else reversed(ids(page)))
            if not (page.has_next if forward else page.has_prev):
                break
            edge = page.rows[-1] if forward else page.rows[0]

            def ahead(user: User) -> bool:
                return (key(user) > key(edge)) if forward else (key(user) < key(edge))  # noqa: B023

            for _ in range(4):  # new rows, some ahead of the walk, some behind it
                made += 1
                user = random_user(rng, f"new{made:03d}")
                db.session.add(user)
                db.session.flush()
                ever[user.id] = user
                if not ahead(user):
                    not_expected.add(user.id)
            present = list(db.session.scalars(db.select(User)))
            doomed = rng.sample(present, 3) + [edge]  # the cursor's own row goes too
            for user in {u.id: u for u in doomed}.values():
                if ahead(user) and user.id not in shown:
                    not_expected.add(user.id)
                db.session.delete(user)
            db.session.commit()
            page = follow(page, args, forward)
    return shown, set(ever) - not_expected


@pytest.mark.parametrize("sort", ALL_SORTS)
@pytest.mark.parametrize("forward", [True, False], ids=["next", "previous"])
def test_rows_added_or_removed_between_clicks_are_neither_skipped_nor_repeated(crowd, sort, forward):
    shown, expected = _walk_with_changes(crowd, sort, forward, seed=len(sort) + forward)
    assert len(shown) == len(set(shown)), "a row was shown twice"
    assert set(shown) == expected, "a row was skipped (or one added behind the walk was shown)"


def test_the_pager_links_carry_cursors_and_the_url_gives_the_same_page_full_or_partial(crowd, client_as):
    admin = client_as("admin")
    html = admin.get(LIST + "?sort=-created_at&page_size=25", headers=HX).get_data(as_text=True)
    next_href = re.search(r'id="page-next"[^>]*href="([^"]+)"', html).group(1).replace("&amp;", "&")
    params = dict(parse_qsl(urlsplit(next_href).query))
    assert params["page"] == "2" and params["sort"] == "-created_at" and params["after"]

    partial = admin.get(next_href, headers=HX).get_data(as_text=True)
    full = admin.get(next_href).get_data(as_text=True)
    assert "<html" not in partial and "<html" in full
    table = full[full.index('<div id="user-table"') :]
    assert re.findall(r'<tr id="user-\d+"', partial) == re.findall(r'<tr id="user-\d+"', table)
    assert 'id="page-of">Page 2 of' in partial and "showing 26–50" in partial
    assert re.search(r'id="page-first"[^>]*href="/admin/user/\?sort=-created_at&amp;page_size=25"', partial)
    offset = admin.get(LIST + "?sort=-created_at&page_size=25&page=2", headers=HX).get_data(as_text=True)
    assert re.findall(r'<tr id="user-\d+"', partial) == re.findall(r'<tr id="user-\d+"', offset)

    prev_href = re.search(r'id="page-prev"[^>]*href="([^"]+)"', partial).group(1).replace("&amp;", "&")
    assert dict(parse_qsl(urlsplit(prev_href).query))["before"]
    again = admin.get(prev_href, headers=HX).get_data(as_text=True)
    assert re.findall(r'<tr id="user-\d+"', again) == re.findall(r'<tr id="user-\d+"', html)
    assert 'id="page-of">Page 1 of' in again


def test_links_that_change_the_view_drop_the_cursor(crowd, client_as):
    admin = client_as("admin")
    first = admin.get(LIST + "?page_size=25&role=member", headers=HX).get_data(as_text=True)
    href = re.search(r'id="page-next"[^>]*href="([^"]+)"', first).group(1).replace("&amp;", "&")
    html = admin.get(href, headers=HX).get_data(as_text=True).replace("&amp;", "&")
    assert "after=" in href
    for link in re.findall(r'id="(?:sort-\w+|export-csv|page-first|page-last)"[^>]*href="([^"]+)"', html):
        assert "after=" not in link and "before=" not in link, link
    assert not re.search(r'name="f_(?:after|before|page|sort)"', html)
    # Writes answer with the table at the same position: the form's `back` keeps the cursor.
    assert re.search(r'name="back" value="[^"]*after=', html)
    # Each row's no-JS links return by page number (a cursor in every row would bloat the page).
    row_links = re.findall(r'<a class="(?:edit|del)" href="([^"]+)"', html)
    assert row_links and all("after=" not in link and "page=2" in link for link in row_links)


def test_the_cursor_round_trips_through_the_url(crowd):
    with crowd.app_context():
        for sort in ALL_SORTS:
            page = by_number({"sort": sort, "page_size": "25"}, 2)
            for cursor in (page.next_cursor, page.prev_cursor):
                back_again = query(dict(users.ListQuery(sort=sort, page=3, cursor=cursor).to_args()))
                assert back_again.cursor == cursor
                assert len(cursor.token) < 120


def _token(payload: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


BAD_CURSORS = {
    "not base64": "after=%%%",
    "not json": "after=" + _token(b"nope"),
    "not a list": "after=" + _token(b'{"a":1}'),
    "too short": "after=" + _token(b'["username","x"]'),
    "id not a number": "after=" + _token(b'["username","x","7"]'),
    "id zero": "after=" + _token(b'["username","x",0]'),
    "id too big": "after=" + _token(b'["username","x",99999999999999999999]'),
    "id a float": "after=" + _token(b'["username","x",1.5]'),
    "id a flag": "after=" + _token(b'["username","x",true]'),
    "number for text": "after=" + _token(b'["username",5,1]'),
    "empty for a required column": "after=" + _token(b'["username",null,1]'),
    "NUL in text": "after=" + _token(b'["username","a\\u0000b",1]'),
    "lone surrogate": "after=" + _token(b'["username","\\ud800",1]'),
    "text too long": "after=" + _token(b'["username","' + b"a" * 65 + b'",1]'),
    "not a time": "sort=created_at&after=" + _token(b'["created_at","yesterday",1]'),
    "time with a zone": "sort=created_at&after=" + _token(b'["created_at","2024-01-01T00:00:00+05:00",1]'),
    "text for a flag": "sort=is_active&after=" + _token(b'["is_active","true",1]'),
    "SQL in the value": "after=" + _token(b'["username","\' OR 1=1 --",1]'),
    "both directions": "after=" + _token(b'["username","x",1]') + "&before=" + _token(b'["username","x",1]'),
    "far too long": "after=" + "A" * 5000,
}


@pytest.mark.parametrize("name", BAD_CURSORS)
def test_a_damaged_cursor_is_a_400_with_a_message_never_a_500(crowd, client_as, name):
    response = client_as("admin").get(LIST + "?" + BAD_CURSORS[name], headers=HX)
    if name == "SQL in the value":  # a well-formed cursor: the text is only ever a bound value
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.status_code
    text = response.get_data(as_text=True)
    assert "page link" in text


def test_a_cursor_from_another_sort_is_ignored_in_favour_of_the_page_number(crowd, client_as):
    admin = client_as("admin")
    html = admin.get(LIST + "?page_size=25", headers=HX).get_data(as_text=True)
    href = re.search(r'id="page-next"[^>]*href="([^"]+)"', html).group(1).replace("&amp;", "&")
    foreign = admin.get(href + "&sort=-email", headers=HX)
    by_page = admin.get(LIST + "?page_size=25&page=2&sort=-email", headers=HX)
    assert foreign.status_code == 200
    rows = re.compile(r'<tr id="user-\d+"')
    assert rows.findall(foreign.get_data(as_text=True)) == rows.findall(by_page.get_data(as_text=True))


def test_a_cursor_past_the_end_falls_back_to_the_page_number(crowd):
    with crowd.app_context():
        args = {"page_size": "25", "sort": "username"}
        last = by_number(args, 10**6)
        after_last = follow(last, args, forward=True)
        assert (after_last.page, ids(after_last), after_last.keyset) == (last.page, ids(last), False)
        assert after_last.query.cursor is None


def test_a_cursor_page_runs_a_constant_handful_of_statements(app, admin_client):
    add_users(app, 60)
    first = admin_client.get(LIST + "?sort=last_login_at&page_size=25", headers=HX).get_data(as_text=True)
    href = re.search(r'id="page-next"[^>]*href="([^"]+)"', first).group(1).replace("&amp;", "&")
    small = statements_during(app, lambda: admin_client.get(href, headers=HX))
    add_users(app, 150)
    large = statements_during(app, lambda: admin_client.get(href, headers=HX))
    assert len(small) == len(large) <= 5, large


def test_deep_offset_pages_read_ids_from_a_covering_index(crowd):
    """The deferred join's id lookup never visits the table (PostgreSQL: migration 0004)."""
    with crowd.app_context():
        connection = db.session.connection()
        for sort in ("username", "email", "full_name", "created_at", "role", "is_active"):
            order = users._order_by(users.ListQuery(sort=sort))
            lookup = db.select(User.id).order_by(*order).limit(26).offset(50)
            sql = str(lookup.compile(connection, compile_kwargs={"literal_binds": True}))
            if connection.dialect.name == "sqlite":
                plan = " ".join(r[3] for r in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert "COVERING INDEX" in plan, (sort, plan)
            else:
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                connection.exec_driver_sql("SET LOCAL enable_sort = off")
                plan = " ".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + sql))
                assert "Index Only Scan" in plan, (sort, plan)
        db.session.rollback()
