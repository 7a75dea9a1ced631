"""The users list over HTTP: search, filters, sort, paging, partial vs full page, bad input."""

import re
from datetime import datetime

import pytest

from dashboard import users
from dashboard.extensions import db
from dashboard.models import User

LIST = "/admin/user/"
HX = {"HX-Request": "true"}


def usernames(html: str) -> list[str]:
    """The usernames of the rows in a rendered table, in order."""
    return re.findall(r'<tr id="user-\d+"[^>]*>.*?<th scope="row">([^<]+)</th>', html, re.S)


@pytest.fixture
def people(make_user):
    """A small, varied set of accounts (plus whoever signs in)."""
    made = [
        make_user(
            "member",
            username="alice",
            full_name="Alice Smith",
            email="alice@corp.example",
            created_at=datetime(2024, 1, 10, 9, 0),
            last_login_at=datetime(2025, 3, 1, 12, 0),
        ),
        make_user(
            "member",
            username="bob",
            full_name="Bob Stone",
            email="bob@mail.example",
            created_at=datetime(2024, 2, 20, 9, 0),
            is_active=False,
        ),
        make_user(
            "viewer",
            username="carol",
            full_name="Carol Smithers",
            email="carol@corp.example",
            created_at=datetime(2024, 3, 5, 9, 0),
            last_login_at=datetime(2025, 6, 1, 12, 0),
        ),
        make_user(
            "editor",
            username="dave",
            full_name="Dave Jones",
            email="dave@mail.example",
            created_at=datetime(2024, 4, 1, 9, 0),
        ),
    ]
    return {user.username: user for user in made}


def get_names(client, query: str = "", htmx: bool = True) -> list[str]:
    response = client.get(f"{LIST}?{query}", headers=HX if htmx else {})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [name for name in usernames(response.get_data(as_text=True)) if not name.startswith("admin")]


def test_list_requires_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_full_page_and_partial_from_the_same_url(admin_client, people):
    full = admin_client.get(f"{LIST}?q=smith&sort=-username")
    partial = admin_client.get(f"{LIST}?q=smith&sort=-username", headers=HX)
    assert full.status_code == partial.status_code == 200
    assert "<html" in full.get_data(as_text=True)
    assert "<html" not in partial.get_data(as_text=True)
    assert 'id="user-rows"' in partial.get_data(as_text=True)
    assert (
        usernames(full.get_data(as_text=True))
        == usernames(partial.get_data(as_text=True))
        == [
            "carol",
            "alice",
        ]
    )
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in partial.headers["Vary"]


def test_history_restore_gets_the_full_page(admin_client, people):
    response = admin_client.get(LIST, headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


def test_search_every_term_must_match_case_insensitively(admin_client, people):
    assert get_names(admin_client, "q=SMITH") == ["alice", "carol"]
    assert get_names(admin_client, "q=smith+corp+carol") == ["carol"]
    assert get_names(admin_client, "q=mail.example") == ["bob", "dave"]
    assert get_names(admin_client, "q=nobody-like-this") == []


def test_count_is_shown_with_thousands_separator(admin_client, people):
    html = admin_client.get(f"{LIST}?q=smith", headers=HX).get_data(as_text=True)
    assert re.search(r'id="user-count"[^>]*>2 users<', html)
    html = admin_client.get(f"{LIST}?q=alice", headers=HX).get_data(as_text=True)
    assert re.search(r'id="user-count"[^>]*>1 user<', html)


def test_role_filter_takes_several_roles(admin_client, people):
    assert get_names(admin_client, "role=viewer") == ["carol"]
    assert get_names(admin_client, "role=viewer&role=editor") == ["carol", "dave"]


def test_active_filter(admin_client, people):
    assert get_names(admin_client, "active=no") == ["bob"]
    assert "bob" not in get_names(admin_client, "active=yes")


def test_created_between_is_inclusive(admin_client, people):
    assert get_names(admin_client, "created_from=2024-02-20&created_to=2024-03-05") == ["bob", "carol"]


def test_last_login_never_before_after(admin_client, people):
    assert get_names(admin_client, "login=never&role=member&role=editor") == ["bob", "dave"]
    assert get_names(admin_client, "login=before&login_date=2025-04-01") == ["alice"]
    assert get_names(admin_client, "login=after&login_date=2025-04-01") == ["carol"]


def test_filters_combine_with_search(admin_client, people):
    assert get_names(admin_client, "q=corp&role=member") == ["alice"]
    assert get_names(admin_client, "q=example&active=yes&role=member&role=editor") == ["alice", "dave"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("username", ["alice", "bob", "carol", "dave"]),
        ("-username", ["dave", "carol", "bob", "alice"]),
        ("email", ["alice", "bob", "carol", "dave"]),
        ("full_name", ["alice", "bob", "carol", "dave"]),
        ("-created_at", ["dave", "carol", "bob", "alice"]),
        ("role", ["dave", "alice", "bob", "carol"]),
        ("is_active", ["bob", "alice", "carol", "dave"]),
        ("-last_login_at", ["carol", "alice", "dave", "bob"]),  # never-logged-in last, ties by id
    ],
)
def test_every_column_sorts(admin_client, people, sort, expected):
    assert get_names(admin_client, f"q=example&sort={sort}") == expected


def test_sorted_header_has_aria_sort_and_links_to_the_other_direction(admin_client, people):
    html = admin_client.get(f"{LIST}?sort=-email", headers=HX).get_data(as_text=True)
    assert re.search(r'aria-sort="descending">\s*<a id="sort-email"', html)
    assert re.search(r'aria-sort="none">\s*<a id="sort-username"', html)
    assert re.search(r'id="sort-email"[^>]*href="/admin/user/\?sort=email"', html)


def test_paging(app, admin_client, make_user):
    for number in range(30):
        make_user("member", username=f"pager{number:02d}")
    assert get_names(admin_client, "q=pager&page_size=25") == [f"pager{n:02d}" for n in range(25)]
    assert get_names(admin_client, "q=pager&page_size=25&page=2") == [f"pager{n:02d}" for n in range(25, 30)]
    html = admin_client.get(f"{LIST}?q=pager&page_size=25", headers=HX).get_data(as_text=True)
    assert "Page 1 of 2" in html
    assert (
        'id="page-next" class="btn btn-sm btn-outline-secondary" href="/admin/user/?q=pager&amp;page=2'
        in html
    )
    assert 'id="page-last"' in html and 'id="page-first"' not in html


@pytest.mark.parametrize(("page", "expected_page"), [("-3", 1), ("0", 1), ("99999999999999999999", 2)])
def test_out_of_range_pages_fall_back_to_first_or_last(admin_client, make_user, page, expected_page):
    for number in range(30):
        make_user("member", username=f"pager{number:02d}")
    html = admin_client.get(f"{LIST}?q=pager&page_size=25&page={page}", headers=HX).get_data(as_text=True)
    assert f"Page {expected_page} of 2" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=password_hash", "Cannot sort by that"),
        ("sort=--username", "Cannot sort by that"),
        ("page=abc", "Page must be a whole number"),
        ("page_size=10000", "Rows per page must be one of 25, 50, 100"),
        ("page_size=-1", "Rows per page"),
        ("created_from=2024-13-45", "Created from must be a date"),
        ("created_to=yesterday", "Created to must be a date"),
        ("login=before", "Give a date"),
        ("login=sometimes", "Last login must be one of"),
        ("login=after&login_date=01/02/2024", "Last login date must be a date"),
        ("role=superuser", "Unknown role"),
        ("active=maybe", "Active must be one of"),
        ("q=" + "x" * 10_000, "limited to 200 characters"),
        ("q=abc%00def", "cannot be searched for"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_a_clear_400(admin_client, query, message, htmx):
    response = admin_client.get(f"{LIST}?{query}", headers=HX if htmx else {})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_html_in_search_and_data_is_rendered_as_text(admin_client, make_user):
    make_user("member", username="xss", full_name="<script>alert(1)</script>")
    html = admin_client.get(f"{LIST}?q=%3Cscript%3E", headers=HX).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    full = admin_client.get(f"{LIST}?q=%22%3E%3Cimg+src%3Dx%3E").get_data(as_text=True)
    assert '"><img src=x>' not in full
    assert "&#34;&gt;&lt;img src=x&gt;" in full


def test_full_page_keeps_the_filters_in_the_form(admin_client, people):
    html = admin_client.get(
        f"{LIST}?q=smith&role=viewer&active=yes&login=after&login_date=2025-01-02"
    ).get_data(as_text=True)
    assert 'id="search" name="q" value="smith"' in html
    assert 'value="viewer" checked' in html
    assert '<option value="yes" selected>' in html
    assert 'name="login_date" value="2025-01-02"' in html


def test_partial_for_fifty_rows_stays_small(app, admin_client):
    with app.app_context():
        db.session.add_all(
            User(
                username=f"someone.longname{n:04d}",
                email=f"someone.longname{n:04d}@example.com",
                full_name=f"Someone Longname {n}",
                last_login_at=datetime(2025, 1, 1, 8, 30),
            )
            for n in range(60)
        )
        db.session.commit()
    response = admin_client.get(LIST, headers=HX)
    assert len(usernames(response.get_data(as_text=True))) == 50
    assert len(response.data) < 40_000


def test_list_query_round_trips_through_args(app):
    from werkzeug.datastructures import MultiDict

    args = MultiDict(
        [
            ("q", "a b"),
            ("role", "viewer"),
            ("role", "admin"),
            ("active", "no"),
            ("sort", "-email"),
            ("page", "3"),
        ]
    )
    query = users.ListQuery.from_args(args)
    assert query.roles == ("admin", "viewer")
    assert users.ListQuery.from_args(MultiDict(query.to_args())) == query
