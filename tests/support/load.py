"""A load client for the users table: many signed-in admins editing rows at once, then checks.

Each client is a thread with its own keep-alive HTTP connection and session cookie. It signs in,
then repeatedly loads a random user's row in edit mode (reading the version it shows) and saves
an edit of the full name with that version. Every attempt and its outcome are recorded; after the
run `verify` compares them with the database and its audit trail:

- zero 5xx answers;
- every acknowledged write is in the database (the audit log holds exactly one entry for it, and
  the row's stored value is the last value written to it);
- no stale overwrite: each acknowledged write replaced exactly the version it was sent with (the
  per-row audit chain of full-name changes is linear, and an acknowledged write at position k
  of its row's chain was sent with version v0 + k - 1);
- every refused write was a 409;
- on SQLite, PRAGMA integrity_check is ok and PRAGMA foreign_key_check is empty.
"""

import http.client
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

CONNECTION_ERRORS = (ConnectionError, http.client.HTTPException, OSError)


class HttpClient:
    """A minimal browser: one keep-alive connection, cookies, CSRF token; reconnects on failure."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf_token: str | None = None
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, Any] | list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """Send one request; returns (status, headers with lower-case names, body text).

        Raises a ConnectionError subclass (or OSError) when the server drops the connection, as
        it does when a worker is killed; the next request opens a new connection.
        """
        sent_headers = {"Connection": "keep-alive", **(headers or {})}
        if self.cookies:
            sent_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method != "GET" and self.csrf_token and "X-CSRFToken" not in sent_headers:
            sent_headers["X-CSRFToken"] = self.csrf_token
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._connection.request(method, path, body=body, headers=sent_headers)
            response = self._connection.getresponse()
            payload = response.read().decode("utf-8", "replace")
        except CONNECTION_ERRORS:
            self.close()
            raise
        received = {k.lower(): v for k, v in response.getheaders()}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, val = cookie.partition("=")
                if val:
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        if response.will_close or received.get("connection", "").lower() == "close":
            self.close()
        return response.status, received, payload

    def get(self, path: str, headers: dict[str, str] | None = None):
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form, headers: dict[str, str] | None = None):
        return self.request("POST", path, form=form, headers=headers)

    def login(self, username: str, password: str) -> int:
        """Sign in through the real form; returns the status (302 on success)."""
        _, _, page = self.get("/login")
        self.csrf_token = csrf_token_in(page)
        status, _, _ = self.post(
            "/login", {"username": username, "password": password, "csrf_token": self.csrf_token}
        )
        if status == 302:
            # Signing in clears the session, and with it the token: read the new one.
            _, _, home = self.get("/admin/")
            self.csrf_token = csrf_token_in(home)
        return status


def csrf_token_in(html: str) -> str:
    """The CSRF token a page embeds in its meta tag or a hidden field."""
    match = re.search(r'name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"', html)
    if not match:
        raise AssertionError(f"page carries no CSRF token: {html[:300]!r}")
    return match.group(1)


class _FormFields(HTMLParser):
    """The named form controls of an HTML fragment, with the values a browser would submit."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self.version_attr: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag, attrs):
        attr = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "tr" and "data-version" in attr and self.version_attr is None:
            self.version_attr = attr["data-version"]
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attr:
                    self.values[name] = attr.get("value", "on")
            elif kind not in ("submit", "button", "reset"):
                self.values[name] = attr.get("value", "")
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = attr.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attr:
                self.values[self._select] = value
        elif tag == "textarea" and name:
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.values.setdefault(self._select, self._first_option or "")
            self._select = None


def form_fields(html: str) -> tuple[dict[str, str], str | None]:
    """(the submitted values of the fragment's form controls, the row's data-version)."""
    parser = _FormFields()
    parser.feed(html)
    return dict(parser.values), parser.version_attr  # HTMLParser already decoded entities


VERSION_IN_ROW = re.compile(r'id="user-(\d+)"[^>]*data-version="(\d+)"')


@dataclass
class Attempt:
    """One edit: what a client sent and what came of it."""

    client: int
    user_id: int
    version_sent: int
    value: str
    status: int | None  # None: the connection failed (outcome unknown)
    new_version: int | None = None
    latency: float = 0.0
    error: str | None = None


@dataclass
class LoadResult:
    """Everything a run recorded."""

    attempts: list[Attempt] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # every response, reads included
    server_errors: list[str] = field(default_factory=list)
    connection_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    duration: float = 0.0
    kills: int = 0

    @property
    def acknowledged(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == 200]

    @property
    def conflicts(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == 409]


class EditingClient(threading.Thread):
    """One admin's browser: loads and saves random rows until told to stop."""

    def __init__(self, number, base_url, signed_in, user_ids, stop, result, lock, seed):
        super().__init__(name=f"load-client-{number}", daemon=True)
        self.number = number
        self.http = HttpClient(base_url)
        self.http.cookies = dict(signed_in.cookies)
        self.http.csrf_token = signed_in.csrf_token
        self.user_ids = user_ids
        self.stop = stop
        self.result = result
        self.lock = lock
        self.random = random.Random(seed)
        self.sequence = 0

    def _note(self, status: int, what: str, body: str) -> None:
        with self.lock:
            self.result.statuses[status] += 1
            if status >= 500:
                self.result.server_errors.append(f"{status} {what}: {body[:200]}")

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.edit_once()
        except Exception as error:  # a bug in the harness must show, not hang the run
            with self.lock:
                self.result.unexpected.append(f"client {self.number} crashed: {error!r}")
        finally:
            self.http.close()

    def edit_once(self) -> None:
        user_id = self.random.choice(self.user_ids)
        hx = {"HX-Request": "true"}
        try:
            status, _, body = self.http.get(f"/admin/user/row/{user_id}/edit", headers=hx)
        except CONNECTION_ERRORS:
            with self.lock:
                self.result.connection_errors += 1
            return
        self._note(status, f"GET row {user_id}/edit", body)
        if status != 200:
            if status < 500:
                with self.lock:
                    self.result.unexpected.append(f"GET row {user_id}/edit answered {status}")
            return
        values, version = form_fields(body)
        version = values.get("version") or version
        if version is None:
            with self.lock:
                self.result.unexpected.append(f"edit row {user_id} shows no version")
            return
        self.sequence += 1
        value = f"Load c{self.number} n{self.sequence}"
        values.pop("csrf_token", None)
        form = {**values, "full_name": value, "version": version}
        attempt = Attempt(self.number, user_id, int(version), value, None)
        started = time.perf_counter()
        try:
            status, _, body = self.http.post(f"/admin/user/row/{user_id}", form, headers=hx)
        except CONNECTION_ERRORS as error:
            attempt.latency = time.perf_counter() - started
            attempt.error = type(error).__name__
            with self.lock:
                self.result.connection_errors += 1
                self.result.attempts.append(attempt)
            return
        attempt.latency = time.perf_counter() - started
        attempt.status = status
        if status == 200:
            match = VERSION_IN_ROW.search(body)
            attempt.new_version = int(match.group(2)) if match else None
        self._note(status, f"POST row {user_id}", body)
        with self.lock:
            self.result.attempts.append(attempt)
            if status not in (200, 409) and status < 500:
                self.result.unexpected.append(f"POST row {user_id} answered {status}: {body[:200]}")


def sign_in_all(base_url: str, accounts: list[tuple[str, str]], result: LoadResult) -> list[HttpClient]:
    """Sign each account in once, one after another (the clients then share these sessions).

    Signing in is deliberately slow (argon2); a login storm is not what this run measures.
    """
    signed_in = []
    for username, password in accounts:
        http = HttpClient(base_url)
        status = http.login(username, password)
        http.close()
        result.statuses[status] += 1
        if status != 302:
            raise AssertionError(f"{username} could not sign in: {status}")
        signed_in.append(http)
    return signed_in


def run_load(
    base_url: str,
    accounts: list[tuple[str, str]],
    user_ids: list[int],
    duration: float,
    clients: int = 32,
    seed: int = 1,
    during=None,
) -> LoadResult:
    """Run `clients` editing clients for `duration` seconds over the accounts' sessions.

    `during(stop, result)` runs alongside (e.g. killing workers) and ends when `stop` is set.
    """
    result = LoadResult()
    sessions = sign_in_all(base_url, accounts, result)
    stop = threading.Event()
    lock = threading.Lock()
    threads = [
        EditingClient(n, base_url, sessions[n % len(sessions)], user_ids, stop, result, lock, seed * 1000 + n)
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    helper = None
    if during is not None:
        helper = threading.Thread(target=during, args=(stop, result), daemon=True)
        helper.start()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    if helper is not None:
        helper.join(timeout=60)
    result.duration = time.perf_counter() - started
    return result


# --- checks against the database ---------------------------------------------------------


@dataclass
class Verdict:
    """The counts a run is judged by (all problem lists must be empty)."""

    acknowledged: int
    conflicts: int
    unknown: int
    five_xx: int
    lost: list[str]
    stale: list[str]
    refused_not_409: list[str]
    integrity: list[str]
    edits_per_second: float
    p50_ms: float
    p99_ms: float
    kills: int
    connection_errors: int = 0

    def problems(self) -> list[str]:
        return [*self.lost, *self.stale, *self.refused_not_409, *self.integrity]

    def summary(self, label: str) -> str:
        return (
            f"{label}: {self.edits_per_second:.1f} edits/s, p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms; acknowledged {self.acknowledged}, conflicts {self.conflicts}, "
            f"unknown outcome {self.unknown}, lost {len(self.lost)}, stale {len(self.stale)}, "
            f"5xx {self.five_xx}, refused-not-409 {len(self.refused_not_409)}, worker kills {self.kills}, "
            f"connection errors seen by clients {self.connection_errors}"
        )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _audit_chains(connection, user_ids: list[int]) -> dict[int, list[tuple[Any, Any]]]:
    """Per user, the (before, after) full names of its update audit entries in commit order."""
    import json

    chains: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
    rows = connection.execute(
        text("SELECT target_id, changes FROM audit_entries WHERE action = 'update' ORDER BY id")
    )
    wanted = set(user_ids)
    for target_id, changes in rows:
        if target_id not in wanted:
            continue
        if isinstance(changes, str):
            changes = json.loads(changes)
        change = changes.get("full_name")
        chains[target_id].append(((change or {}).get("before"), (change or {}).get("after")))
    return chains


def verify(database_url: str, result: LoadResult, initial: dict[int, tuple[str, int]]) -> Verdict:
    """Compare what the clients were told with what the database holds.

    `initial` maps each user id to its (full_name, version) before the run.
    """
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            stored = {
                row.id: (row.full_name, row.version)
                for row in connection.execute(text("SELECT id, full_name, version FROM users"))
            }
            chains = _audit_chains(connection, list(initial))
            integrity: list[str] = []
            if engine.dialect.name == "sqlite":
                check = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
                if check != ["ok"]:
                    integrity.append(f"integrity_check: {check}")
                orphans = list(connection.exec_driver_sql("PRAGMA foreign_key_check"))
                if orphans:
                    integrity.append(f"foreign_key_check: {orphans}")
    finally:
        engine.dispose()

    lost: list[str] = []
    stale: list[str] = []
    attempted_values = {a.value for a in result.attempts if a.status is None}
    acked_by_value = {a.value: a for a in result.acknowledged}
    for user_id, (first_name, first_version) in initial.items():
        chain = chains.get(user_id, [])
        previous = first_name
        for position, (before, after) in enumerate(chain, start=1):
            if before != previous:
                stale.append(f"user {user_id}: change {position} replaced {before!r}, not {previous!r}")
            previous = after
            acked = acked_by_value.get(after)
            if acked is not None:
                if acked.user_id != user_id:
                    stale.append(f"{after!r} was written to user {user_id}, sent for {acked.user_id}")
                if acked.version_sent != first_version + position - 1:
                    stale.append(
                        f"user {user_id}: {after!r} was sent with version {acked.version_sent} but "
                        f"replaced version {first_version + position - 1}"
                    )
                if acked.new_version is not None and acked.new_version != first_version + position:
                    stale.append(f"user {user_id}: {after!r} answered version {acked.new_version}")
            elif after not in attempted_values:
                stale.append(f"user {user_id}: {after!r} was written but never acknowledged nor pending")
        name, version = stored.get(user_id, (None, None))
        if name != previous:
            lost.append(f"user {user_id}: stores {name!r} but its audit chain ends at {previous!r}")
        if version != first_version + len(chain):
            lost.append(f"user {user_id}: version {version} after {len(chain)} changes from {first_version}")
    chained = Counter(after for chain in chains.values() for _, after in chain)
    for attempt in result.acknowledged:
        if chained[attempt.value] != 1:
            lost.append(
                f"acknowledged {attempt.value!r} on user {attempt.user_id} has "
                f"{chained[attempt.value]} audit entries"
            )
    refused = [
        f"user {a.user_id}: {a.status}"
        for a in result.attempts
        if a.status is not None and a.status not in (200, 409)
    ]
    latencies = sorted(a.latency * 1000 for a in result.attempts if a.status is not None)
    return Verdict(
        acknowledged=len(result.acknowledged),
        conflicts=len(result.conflicts),
        unknown=sum(1 for a in result.attempts if a.status is None),
        five_xx=sum(count for status, count in result.statuses.items() if status >= 500),
        lost=lost,
        stale=stale,
        refused_not_409=refused,
        integrity=integrity,
        edits_per_second=len(result.acknowledged) / result.duration if result.duration else 0.0,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        kills=result.kills,
        connection_errors=result.connection_errors,
    )
