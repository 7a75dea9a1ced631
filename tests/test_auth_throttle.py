"""Login throttling: per username and per address, in the database, across worker processes."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard import sessions
from dashboard.auth.login import LOGIN_FAILED
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import LoginFailure
from dashboard.models import utcnow
from tests.conftest import PASSWORD
from tests.conftest import AuthActions
from tests.conftest import csrf_token_from
from tests.support.server import gunicorn


@pytest.fixture
def clock(monkeypatch):
    state = {"now": utcnow()}
    monkeypatch.setattr(sessions, "now", lambda: state["now"])
    return state


def fail(client, username, times):
    for _ in range(times):
        response = AuthActions(client).login(username, "a wrong password!")
        assert response.status_code == 200 and LOGIN_FAILED in response.get_data(as_text=True)


def test_username_is_throttled_even_with_the_right_password(app, client, make_user, clock):
    user = make_user("admin")
    fail(client, user.username, 5)
    response = AuthActions(client).login(user.username)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 15 * 60
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["login_failed"] * 5 + ["login_throttled"]


def test_throttle_is_per_username_not_case_sensitive(client, make_user, clock):
    user = make_user("admin")
    fail(client, user.username.upper(), 5)
    assert AuthActions(client).login(f"  {user.username} ").status_code == 429


def test_other_usernames_are_not_throttled_by_one_username(client, make_user, clock):
    victim = make_user("admin")
    other = make_user("admin")
    fail(client, victim.username, 5)
    assert AuthActions(client).login(other.username).status_code == 302


def test_address_is_throttled_across_usernames(app, client, make_user, clock):
    user = make_user("viewer")
    for number in range(20):
        fail(client, f"guess{number}", 1)
    response = AuthActions(client).login(user.username)
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert AuthActions(other_address).login(user.username).status_code == 302


def test_throttle_lifts_when_the_window_passes(client, make_user, clock):
    user = make_user("admin")
    fail(client, user.username, 5)
    clock["now"] += timedelta(minutes=10)
    response = AuthActions(client).login(user.username)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 5 * 60
    clock["now"] += timedelta(minutes=5, seconds=1)
    assert AuthActions(client).login(user.username).status_code == 302


def test_success_clears_the_username_count(app, client, make_user, clock):
    user = make_user("admin")
    fail(client, user.username, 4)
    assert AuthActions(client).login(user.username).status_code == 302
    other = app.test_client()
    fail(other, user.username, 4)
    assert AuthActions(other).login(user.username).status_code == 302


def test_old_failures_are_pruned(app, client, make_user, clock):
    fail(client, "someone", 3)
    clock["now"] += timedelta(hours=1)
    fail(client, "someone", 1)
    with app.app_context():
        assert len(db.session.scalars(select(LoginFailure)).all()) == 2  # one user key, one address key


# --- across two gunicorn workers -----------------------------------------------------------


class Browser:
    """A cookie-keeping HTTP client for a real server."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, body, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def login(self, username: str, password: str) -> tuple[int, dict]:
        _status, _headers, page = self.request("/login")
        token = csrf_token_from(page)
        status, headers, _body = self.request(
            "/login", {"username": username, "password": password, "csrf_token": token}
        )
        return status, headers


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def posts_by_pid(log_path) -> dict[str, list[str]]:
    """{pid: [status of each POST /login it served]} from the access log."""
    served: dict[str, list[str]] = {}
    for line in log_path.read_text().splitlines():
        match = re.match(r"<?(\d+)>? POST /login (\d+)", line)
        if match:
            served.setdefault(match.group(1), []).append(match.group(2))
    return served


@pytest.mark.server
@pytest.mark.slow
def test_throttle_holds_across_two_gunicorn_workers(database_url, tmp_path, make_user):
    user = make_user("admin")
    log = tmp_path / "access.log"
    limit = 6
    with gunicorn(
        database_url,
        str(tmp_path / "instance"),
        workers=2,
        extra_env={"LOGIN_MAX_FAILURES_PER_USER": str(limit)},
        extra_args=("--access-logfile", str(log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"),
    ) as (url, _process):
        # Concurrent wrong guesses: exactly `limit` are judged, the rest refused.
        with ThreadPoolExecutor(max_workers=4) as pool:
            guesses = list(pool.map(lambda _: Browser(url).login(user.username, "wrong!!"), range(3 * limit)))
        assert sorted(status for status, _headers in guesses) == [200] * limit + [429] * (2 * limit)
        # Then the right password, many times and concurrently, until both workers have answered.
        statuses = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _round in range(25):
                results = list(pool.map(lambda _: Browser(url).login(user.username, PASSWORD), range(4)))
                statuses += [status for status, _headers in results]
                assert all("Retry-After" in headers for _status, headers in results)
                refused_by = [pid for pid, codes in posts_by_pid(log).items() if "429" in codes]
                if len(refused_by) >= 2:
                    break
    served = posts_by_pid(log)
    assert len([pid for pid, codes in served.items() if "429" in codes]) == 2, served
    assert set(statuses) == {429}
    assert sum(codes.count("200") for codes in served.values()) == limit
