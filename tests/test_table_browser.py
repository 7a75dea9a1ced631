"""The users table in a real Chromium against a real gunicorn: the flows a person goes through.

Every test also fails on any console error or CSP violation (the `page`/`new_page` fixtures). The
only console errors forgiven are Chromium's own "Failed to load resource" lines for the 409/422
answers a test provokes on purpose.
"""

import csv
import re
from datetime import datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.server]


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def forgive_expected_statuses(problems, *statuses: int) -> None:
    """Drop Chromium's resource-load lines for statuses the test provoked on purpose."""
    expected = [f"status of {status}" for status in statuses]
    problems[:] = [
        p for p in problems if not ("Failed to load resource" in p and any(e in p for e in expected))
    ]


def seed(app, count: int, prefix: str = "person", **fields) -> None:
    """Insert members fast, straight through the session."""
    with app.app_context():
        db.session.add_all(
            User(
                username=f"{prefix}{n:03d}",
                email=f"{prefix}{n:03d}@example.com",
                full_name=f"{prefix.title()} Number{n:03d}",
                created_at=datetime(2024, 1, 1 + n % 28),
                **fields,
            )
            for n in range(count)
        )
        db.session.commit()


def stored(app, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge(user)
        return user


def rows(page):
    return page.locator("#user-rows tr")


def test_search_filters_sort_paging_and_history(app, live_server, page, make_user):
    make_user("admin", username="root")
    seed(app, 60)
    seed(app, 3, prefix="viewerish", role="viewer")
    sign_in(page, live_server, "root")
    page.goto(f"{live_server}/admin/user/")
    expect(page.locator("#user-count")).to_have_text("64 users")

    # `/` focuses search; typing filters as you type, without losing what was typed.
    page.locator("body").press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("number00", delay=40)
    expect(page.locator("#user-count")).to_have_text("13 users")  # person000-009, viewerish000-002
    expect(page.locator("#search")).to_have_value("number00")
    expect(page).to_have_url(re.compile(r"\?q=number00$"))

    # Filters combine with search; the URL carries them.
    page.locator("#search").fill("")
    page.locator("#search").press("Enter")
    expect(page.locator("#user-count")).to_have_text("64 users")
    page.get_by_label("viewer", exact=True).check()
    expect(page.locator("#user-count")).to_have_text("3 users")
    expect(page).to_have_url(re.compile(r"role=viewer"))
    page.get_by_label("viewer", exact=True).uncheck()
    expect(page.locator("#user-count")).to_have_text("64 users")

    # Sort by a header, both ways, with aria-sort.
    page.locator("#sort-username").click()
    expect(page.locator("th[aria-sort=descending] #sort-username")).to_be_visible()
    expect(rows(page).first).to_contain_text("viewerish002")
    expect(page).to_have_url(re.compile(r"sort=-username"))

    # Page through.
    page.locator("#page-next").click()
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2")
    expect(page).to_have_url(re.compile(r"page=2"))
    page_two = rows(page).first.get_attribute("id")

    # Back and forward restore the view; a reload shows the same rows.
    page.go_back()
    expect(page.locator("#page-of")).to_have_text("Page 1 of 2")
    expect(rows(page).first).to_contain_text("viewerish002")
    page.go_forward()
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2")
    page.reload()
    expect(rows(page).first).to_have_attribute("id", page_two)

    # Clear filters brings everything back.
    page.goto(f"{live_server}/admin/user/?q=zzz-nothing")
    expect(page.locator("#user-count")).to_have_text("0 users")
    page.locator("#clear-filters").click()
    expect(page.locator("#user-count")).to_have_text("64 users")
    expect(page.locator("#search")).to_have_value("")


def test_edit_in_place_with_the_keyboard_and_validation(app, live_server, page, page_problems, make_user):
    make_user("admin", username="root")
    target = make_user("member", username="anna", full_name="Anna Original", email="anna@example.com")
    make_user("member", username="taken", email="taken@example.com")
    sign_in(page, live_server, "root")
    page.goto(f"{live_server}/admin/user/?q=anna")
    row = page.locator(f"#user-{target.id}")

    # Enter on a focused row opens it for editing; Escape restores it.
    row.focus()
    page.keyboard.press("Enter")
    name_input = row.get_by_label("Full name", exact=True)
    expect(name_input).to_be_focused()
    name_input.fill("Something Else")
    page.keyboard.press("Escape")
    expect(row).to_contain_text("Anna Original")
    expect(row.locator("input")).to_have_count(1)  # only the bulk checkbox

    # Edit button; a taken email is refused in the row, input kept, message by the field.
    row.get_by_role("link", name="Edit").click()
    row.get_by_label("Full name", exact=True).fill("Anna Renamed")
    row.get_by_label("Email", exact=True).fill("taken@example.com")
    page.keyboard.press("Enter")
    expect(row.locator(".invalid-feedback")).to_have_text("Another account already uses that email.")
    expect(row.get_by_label("Full name", exact=True)).to_have_value("Anna Renamed")
    expect(page.locator("#messages")).to_contain_text("Another account already uses that email.")

    # Fix it and press Enter: saved, message shown, and it fades away by itself.
    row.get_by_label("Email", exact=True).fill("anna.renamed@example.com")
    row.get_by_label("Email", exact=True).press("Enter")
    expect(row).to_contain_text("Anna Renamed")
    expect(row).to_have_attribute("data-version", "2")
    expect(page.locator("#messages")).to_contain_text("Saved anna.")
    expect(page.locator("#messages .flash-message")).to_have_count(0, timeout=10_000)

    # One click toggles active; a reload shows what was stored.
    row.get_by_role("button", name="Active").click()
    expect(row.get_by_role("button", name="Inactive")).to_be_visible()
    page.reload()
    expect(row).to_contain_text("Anna Renamed")
    expect(row.get_by_role("button", name="Inactive")).to_be_visible()
    user = stored(app, "anna")
    assert (user.full_name, user.email, user.is_active) == ("Anna Renamed", "anna.renamed@example.com", False)
    forgive_expected_statuses(page_problems, 422)


def test_two_admins_editing_the_same_row(app, live_server, new_page, page_problems, make_user):
    make_user("admin", username="first")
    make_user("admin", username="second")
    target = make_user("member", username="shared", full_name="Shared Original")
    one, two = new_page(), new_page()
    for page, who in ((one, "first"), (two, "second")):
        sign_in(page, live_server, who)
        page.goto(f"{live_server}/admin/user/?q=shared")
        row = page.locator(f"#user-{target.id}")
        row.get_by_role("link", name="Edit").click()
        expect(row.get_by_label("Full name", exact=True)).to_be_visible()

    one.locator(f"#user-{target.id}").get_by_label("Full name", exact=True).fill("From First")
    one.get_by_role("button", name="Save").click()
    expect(one.locator(f"#user-{target.id}")).to_contain_text("From First")

    two.locator(f"#user-{target.id}").get_by_label("Full name", exact=True).fill("From Second")
    two.get_by_role("button", name="Save").click()
    conflict = two.locator(f"#user-{target.id}.conflict")
    expect(conflict).to_contain_text("Someone else changed this user")
    expect(conflict).to_contain_text("From First")  # what is stored now
    expect(conflict).to_contain_text("From Second")  # what this admin tried
    assert stored(app, "shared").full_name == "From First"

    conflict.get_by_role("button", name="Re-apply my changes").click()
    saved = two.locator(f"#user-{target.id}")
    expect(saved).to_have_attribute("data-version", "3")
    expect(saved).not_to_have_class("conflict")
    expect(saved).to_contain_text("From Second")
    assert stored(app, "shared").full_name == "From Second"
    forgive_expected_statuses(page_problems, 409)


def test_bulk_on_all_matching_rows_and_csv_export(app, live_server, page, make_user, tmp_path):
    make_user("admin", username="root")
    seed(app, 60, prefix="bulk")
    seed(app, 5, prefix="other")
    sign_in(page, live_server, "root")
    page.goto(f"{live_server}/admin/user/?page_size=25")
    page.locator("#search").fill("bulk")
    expect(page.locator("#user-count")).to_have_text("60 users")

    page.locator("#bulk-action").select_option("deactivate")
    page.get_by_label(re.compile(r"all 60 matching")).check()
    page.locator("#bulk").get_by_role("button", name="Apply…").click()
    expect(page.locator(".bulk-confirm")).to_contain_text("Deactivate 60 users?")
    page.get_by_role("button", name="Yes, deactivate 60").click()
    expect(page.locator("#messages")).to_contain_text("Deactivated 60 users.")
    expect(page.locator("#user-rows .toggle.on")).to_have_count(0)
    with app.app_context():
        inactive = db.session.scalars(select(User.username).where(User.is_active.is_(False))).all()
    assert sorted(inactive) == [f"bulk{n:03d}" for n in range(60)]

    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    path = tmp_path / "users.csv"
    download_info.value.save_as(path)
    with open(path, newline="") as handle:
        exported = list(csv.reader(handle))
    assert exported[0][:3] == ["id", "username", "email"]
    assert [row[1] for row in exported[1:]] == [f"bulk{n:03d}" for n in range(60)]


def test_create_and_delete_from_the_table(app, live_server, page, make_user):
    make_user("admin", username="root")
    sign_in(page, live_server, "root")
    page.goto(f"{live_server}/admin/user/")
    page.get_by_text("Add user").click()
    page.locator("#create-username").fill("fresh")
    page.locator("#create-email").fill("fresh@example.com")
    page.locator("#create-full_name").fill("Fresh Person")
    page.locator("#create-form").get_by_role("button", name="Create").click()
    expect(page.locator("#messages")).to_contain_text("Created fresh.")
    expect(page.locator("#create-panel")).not_to_have_attribute("open", "")
    fresh = stored(app, "fresh")
    row = page.locator(f"#user-{fresh.id}")
    row.get_by_role("link", name="Delete").click()
    expect(row).to_contain_text("This cannot be undone.")
    row.get_by_role("button", name="Delete fresh").click()
    expect(page.locator("#messages")).to_contain_text("Deleted fresh.")
    expect(page.locator(f"#user-{fresh.id}")).to_have_count(0)


def test_everything_but_live_search_works_without_javascript(
    app, browser, live_server, page_problems, make_user
):
    from tests.conftest import watch_page

    make_user("admin", username="root")
    target = make_user("member", username="plain", full_name="Plain Before")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        watch_page(page, page_problems)
        page.goto(f"{live_server}/login")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server}/admin/user/")
        page.locator("#search").fill("plain")
        page.get_by_role("button", name="Apply", exact=True).click()
        expect(page).to_have_url(re.compile(r"q=plain"))
        expect(page.locator("#user-count")).to_have_text("1 user")
        row = page.locator(f"#user-{target.id}")
        row.get_by_role("link", name="Edit").click()
        row.get_by_label("Full name", exact=True).fill("Plain After")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/admin/user/\?q=plain$"))
        expect(page.locator(f"#user-{target.id}")).to_contain_text("Plain After")
        expect(page.locator(".alert")).to_contain_text("Saved plain.")
        page.locator(f"#user-{target.id}").get_by_role("button", name="Active").click()
        expect(page.locator(f"#user-{target.id}")).to_contain_text("Inactive")
    finally:
        context.close()
    assert stored(app, "plain").full_name == "Plain After"


def test_next_and_previous_by_cursor_with_back_forward_and_reload(app, live_server, page, make_user):
    make_user("admin", username="root")
    seed(app, 80)
    sign_in(page, live_server, "root")
    page.goto(f"{live_server}/admin/user/?page_size=25")
    first = rows(page).first.get_attribute("id")

    page.locator("#page-next").click()
    expect(page.locator("#page-of")).to_have_text("Page 2 of 4")
    page.locator("#page-next").click()
    expect(page.locator("#page-of")).to_have_text("Page 3 of 4")
    expect(page).to_have_url(re.compile(r"page=3&after=[\w-]+"))
    expect(page.locator(".range")).to_have_text("showing 51–75")
    third = rows(page).first.get_attribute("id")

    # A row removed behind the position shifts nothing: Previous shows the rows just before.
    with app.app_context():
        db.session.delete(db.session.scalar(select(User).where(User.username == "person000")))
        db.session.commit()
    page.locator("#page-prev").click()
    expect(page.locator("#page-of")).to_have_text("Page 2 of 4")
    expect(page).to_have_url(re.compile(r"page=2&before=[\w-]+"))
    expect(rows(page).last).to_contain_text("person049")
    second = rows(page).first.get_attribute("id")

    page.go_back()
    expect(page.locator("#page-of")).to_have_text("Page 3 of 4")
    expect(rows(page).first).to_have_attribute("id", third)
    page.go_forward()
    expect(page.locator("#page-of")).to_have_text("Page 2 of 4")
    expect(rows(page).first).to_have_attribute("id", second)
    page.reload()
    expect(rows(page).first).to_have_attribute("id", second)
    page.locator("#page-first").click()
    expect(page.locator("#page-of")).to_have_text("Page 1 of 4")
    expect(rows(page).first).not_to_have_attribute("id", first)  # person000 is gone
    expect(rows(page).first).to_contain_text("person001")
