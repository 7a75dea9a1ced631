"""Capped counts, pages past the count, deep pages through the sort index: same rows, less work."""

import re
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from dashboard import paging
from dashboard import users
from dashboard.extensions import db
from dashboard.models import User

LIST = "/admin/user/"
HX = {"HX-Request": "true"}
SORTS = ("username", "email", "full_name", "role", "is_active", "created_at", "last_login_at")


@pytest.fixture
def crowd(app):
    """37 users with repeated roles/flags/names (ties), some never logged in."""
    base = datetime(2024, 1, 1)
    with app.app_context():
        for n in range(37):
            db.session.add(
                User(
                    username=f"user{n:02d}",
                    email=f"{(37 - n):02d}mail{n}@example.com",
                    full_name=f"Person {n % 5}",
                    role=("member", "editor", "viewer", "admin")[n % 4],
                    is_active=n % 3 != 0,
                    created_at=base + timedelta(days=n % 7),
                    last_login_at=None if n % 4 == 0 else base + timedelta(hours=n % 9),
                )
            )
        db.session.commit()
    return app


def _expected(rows: list[User], sort: str) -> list[int]:
    """The list's order computed in Python: column (empty values last), then id."""
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]
    present.sort(key=lambda r: (getattr(r, key), r.id), reverse=descending)
    missing.sort(key=lambda r: r.id, reverse=descending)
    return [r.id for r in present + missing]


def _all_pages(args: dict) -> tuple[list[int], list[users.Page]]:
    ids, pages, number = [], [], 1
    while True:
        page = users.list_users(users.ListQuery.from_args(MultiDict({**args, "page": str(number)})))
        pages.append(page)
        ids += [u.id for u in page.rows]
        if not page.has_next:
            return ids, pages
        number += 1


@pytest.mark.parametrize("sort", [*SORTS, *("-" + s for s in SORTS)])
@pytest.mark.parametrize("filters", [{}, {"role": "editor"}, {"active": "yes", "role": "member"}])
def test_every_page_in_every_order_matches_python_deferred_join_or_not(crowd, monkeypatch, sort, filters):
    monkeypatch.setattr(paging, "COUNT_CAP", 6)  # so most lists are capped: `more` drives the pager
    with crowd.app_context():
        everyone = list(db.session.scalars(db.select(User)))
        wanted = [
            u
            for u in everyone
            if ("role" not in filters or u.role == filters["role"])
            and ("active" not in filters or u.is_active)
        ]
        expected = _expected(wanted, sort)
        args = {**filters, "sort": sort, "page_size": "25"}
        monkeypatch.setattr(paging, "DEFERRED_JOIN_FROM", 10**9)
        plain, _ = _all_pages(args)
        monkeypatch.setattr(paging, "DEFERRED_JOIN_FROM", 1)
        deferred, pages = _all_pages(args)
    assert plain == expected
    assert deferred == expected
    assert pages[-1].last_index == len(expected)


def test_counts_are_exact_up_to_the_cap_then_capped(crowd, monkeypatch):
    with crowd.app_context():
        assert paging.capped_count([User.role == "editor"], cap=20) == (9, True)
        assert paging.capped_count([], cap=20) == (20, False)
        assert paging.capped_count([], cap=37) == (37, True)
        assert paging.exact_count([]) == 37
        monkeypatch.setattr(paging, "COUNT_CAP", 10)
        page = users.list_users(users.ListQuery.from_args(MultiDict({"page_size": "25"})))
        assert (page.total, page.exact, page.has_next) == (10, False, True)
        page = users.list_users(users.ListQuery.from_args(MultiDict({"role": "editor"})))
        assert (page.total, page.exact, page.has_next) == (9, True, False)


def test_a_page_past_a_capped_count_is_served_and_one_past_the_end_falls_back(crowd, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 10)
    with crowd.app_context():
        second = users.list_users(users.ListQuery.from_args(MultiDict({"page": "2", "page_size": "25"})))
        assert (second.page, len(second.rows), second.has_next) == (2, 12, False)
        beyond = users.list_users(users.ListQuery.from_args(MultiDict({"page": "99", "page_size": "25"})))
        assert (beyond.page, beyond.total, beyond.exact, len(beyond.rows)) == (2, 37, True, 12)


def test_the_list_says_n_plus_and_gives_the_exact_count_on_request(crowd, client_as, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 10)
    admin = client_as("admin")  # 38 users now
    html = admin.get(LIST + "?active=yes", headers=HX).get_data(as_text=True)
    assert re.search(r'id="user-count"[^>]*>10\+ users <a id="exact-count"', html)
    link = re.search(r'id="exact-count"[^>]*href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.endswith("/count?active=yes")
    partial = admin.get(link, headers=HX)
    assert partial.status_code == 200 and "Vary" in partial.headers
    assert re.fullmatch(
        r'<span id="user-count" class="user-count">25 users</span>\s*', partial.get_data(as_text=True)
    )
    page = admin.get(link).get_data(as_text=True)  # without JS: the list page, counted exactly
    assert "<html" in page and re.search(r'id="user-count"[^>]*>25 users<', page)
    assert admin.get(LIST + "?role=editor", headers=HX).get_data(as_text=True).count("exact-count") == 0
    assert admin.get("/admin/user/count?active=maybe", headers=HX).status_code == 400


def test_the_count_route_needs_a_signed_in_staff_member(client):
    assert client.get("/admin/user/count").status_code in (302, 401)


def _statements(app, run) -> list[str]:
    seen: list[str] = []
    with app.app_context():
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            run()
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
            db.session.rollback()
    return seen


def test_sqlite_walks_the_sort_index_only_when_filters_cannot_narrow(crowd):
    def page(args):
        return lambda: users.list_users(users.ListQuery.from_args(MultiDict(args)))

    role_only = " ".join(_statements(crowd, page({"role": "editor", "sort": "-email"})))
    dated = " ".join(_statements(crowd, page({"role": "editor", "created_from": "2024-01-03"})))
    unfiltered = " ".join(_statements(crowd, page({})))
    with crowd.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert "INDEXED BY" in role_only
    else:
        assert "INDEXED BY" not in role_only
    assert "INDEXED BY" not in dated
    assert "INDEXED BY" not in unfiltered
