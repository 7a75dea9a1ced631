"""Seed N users, serve ours and the Flask-Admin baseline with gunicorn, measure, print the table.

`python -m bench --users 1000000 --backend sqlite|postgresql`. Each scenario is timed with one
client (p50, p95 of time to last byte), then with 4 clients at once (requests per second); the
same SQL is replayed straight on the driver (the floor). Reads (S1-S5) are timed by wrk; the edits
(S6, each needing the row's current version) and the export (S7, with the server's memory
sampled) by a Python client with precise timing. Ours is measured as the HTMX partial and as the
full page; the baseline has only full pages.
"""

import argparse
import collections
import contextlib
import html
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from . import floor
from . import wrk
from .client import CSRF_RE
from .client import Client
from .server import rss_bytes
from .server import serve
from .server import worker_pids

ADMIN = "benchadmin"
PASSWORD = "bench password not secret"  # noqa: S105 (a throwaway database)
SECRET_KEY = "bench-secret-key-" + uuid.uuid4().hex
HX = {"HX-Request": "true"}
SEARCH_TERM = "smith"  # a last name: about 0.5% of seeded users
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    variant: str
    p50: float | None = None
    p95: float | None = None
    rps4: float | None = None
    size: int | None = None
    floor: float | None = None
    ratio: float | None = None
    notes: list[str] = field(default_factory=list)
    errors: dict[int | str, int] = field(default_factory=dict)


@dataclass
class Context:
    """What scenarios need: sizes, ids to edit, tokens."""

    users: int
    pages: int
    edit_ids: collections.deque  # (id, version, email) of members; an edited one rejoins at the end
    csrf: str = ""


# --- timing ---------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


Send = Callable[[Client], object]


def single_client(client: Client, send: Callable, seconds: float, max_requests: int, row: Row) -> None:
    """Time requests one after another (after a short warm-up)."""
    for _ in range(2):
        send(client)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < max_requests and (len(times) < 5 or time.perf_counter() < deadline):
        answer = send(client)
        times.append(answer.seconds)
        row.size = len(answer.body)
    row.p50 = statistics.median(times) * 1000
    row.p95 = percentile(times, 0.95) * 1000


def four_clients(make_client: Callable[[], Client], send: Callable, seconds: float, row: Row) -> None:
    """Requests per second with 4 clients each on its own keep-alive connection."""
    clients = [make_client() for _ in range(4)]
    counts = [0] * 4
    stop = time.perf_counter() + seconds

    def work(index: int) -> None:
        while time.perf_counter() < stop:
            send(clients[index])
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row.rps4 = sum(counts) / (time.perf_counter() - started)
    for client in clients:
        client.close()


def measure_reads(client: Client, base_url: str, path: str, headers: dict, seconds: float, row: Row) -> None:
    """A GET timed by wrk with one connection, then four; one request first for status and size."""
    answer = client.request("GET", path, headers=headers)
    row.size = len(answer.body)
    if answer.status != 200:
        row.errors[answer.status] = row.errors.get(answer.status, 0) + 1
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = {**headers, "Cookie": cookie} if cookie else dict(headers)
    wrk.run(base_url + path, headers, 2, 1)  # warm both workers (their caches, lazy imports)
    # Long enough for several requests of a slow page (wrk counts only those that complete).
    seconds = max(seconds, 5 * answer.seconds)
    one = wrk.run(base_url + path, headers, 1, seconds)
    four = wrk.run(base_url + path, headers, 4, seconds)
    row.p50, row.p95, row.rps4 = one.p50_ms, one.p95_ms, four.per_second
    for figures in (one, four):
        if figures.non_2xx:
            row.errors["non-2xx"] = row.errors.get("non-2xx", 0) + figures.non_2xx
        if figures.socket_errors:
            row.notes.append(f"{figures.socket_errors} socket errors")


def checked(row: Row, expected: tuple[int, ...], request: Callable[[Client], object]) -> Callable:
    """Wrap a request so unexpected statuses are counted against the row."""

    def send(client: Client):
        answer = request(client)
        if answer.status not in expected:
            row.errors[answer.status] = row.errors.get(answer.status, 0) + 1
        return answer

    return send


# --- scenarios --------------------------------------------------------------------------------


def ours_paths(ctx: Context) -> dict[str, str]:
    return {
        "S1 first page": "/admin/user/",
        "S2 middle page": f"/admin/user/?page={max(1, ctx.pages // 2)}",
        "S3 search": f"/admin/user/?q={SEARCH_TERM}",
        "S4 editor & active": "/admin/user/?role=editor&active=yes",
        "S5 sort -email": "/admin/user/?sort=-email",
    }


def baseline_paths(ctx: Context) -> dict[str, str]:
    from .baseline_app import ACTIVE_FILTER
    from .baseline_app import ROLE_FILTER

    return {
        "S1 first page": "/admin/user/",
        "S2 middle page": f"/admin/user/?page={max(0, ctx.pages // 2 - 1)}",
        "S3 search": f"/admin/user/?search={SEARCH_TERM}",
        "S4 editor & active": f"/admin/user/?flt0_{ROLE_FILTER}=editor&flt1_{ACTIVE_FILTER}=1",
        "S5 sort -email": "/admin/user/?sort=1&desc=1",
    }


NEXT_LINK = re.compile(r'id="page-next"[^>]*?href="([^"]+)"')


def next_link(client: Client, path: str) -> str:
    """The pager's Next link on the page at `path` (what a user clicks to go one page deeper)."""
    found = NEXT_LINK.search(client.request("GET", path, headers=HX).text)
    if not found:
        raise SystemExit(f"no Next link on {path}")
    return html.unescape(found.group(1))


OURS_EXPORT = "/admin/user/export.csv?role=editor&active=yes"


def baseline_export() -> str:
    from .baseline_app import ACTIVE_FILTER
    from .baseline_app import ROLE_FILTER

    return f"/admin/user/export/csv/?flt0_{ROLE_FILTER}=editor&flt1_{ACTIVE_FILTER}=1"


def next_edit(ctx: Context) -> tuple[int, int, str]:
    """A member to edit, at the version it has now."""
    return ctx.edit_ids.popleft()


def edited(ctx: Context, user_id: int, version: int, email: str, answer, ok: tuple[int, ...]):
    """Put the member back in the queue at its new version (unless the edit failed)."""
    ctx.edit_ids.append((user_id, version + 1 if answer.status in ok else version, email))
    return answer


def ours_edit(ctx: Context, htmx: bool) -> Callable[[Client], object]:
    ok = (200,) if htmx else (303,)

    def send(client: Client):
        user_id, version, email = next_edit(ctx)
        form = {
            "full_name": f"Edited {user_id}",
            "email": email,
            "role": "member",
            "is_active": "true",
            "version": str(version),
            "csrf_token": ctx.csrf,
        }
        headers = {**HX, "X-CSRFToken": ctx.csrf} if htmx else {"X-CSRFToken": ctx.csrf}
        cookies = dict(client.cookies)
        answer = client.request("POST", f"/admin/user/row/{user_id}", form=form, headers=headers)
        if not htmx:
            # Without JS the answer is a 303 whose page shows the flashed "Saved" message; not
            # following it, drop the flash as that page would, or the cookie grows every request.
            client.cookies = cookies
        return edited(ctx, user_id, version, email, answer, ok)

    return send


def baseline_edit(ctx: Context) -> Callable[[Client], object]:
    def send(client: Client):
        user_id, version, email = next_edit(ctx)
        form = {
            "username": email.split("@")[0],
            "email": email,
            "full_name": f"Edited {user_id}",
            "role": "member",
            "is_active": "y",
        }
        answer = client.request("POST", f"/admin/user/edit/?id={user_id}", form=form)
        return edited(ctx, user_id, version, email, answer, (302,))

    return send


def export_once(client: Client, path: str, master_pid: int, row: Row) -> tuple[float, int, int]:
    """Stream one export; returns (seconds, rows, peak RSS growth of any worker in bytes)."""
    before = {pid: rss_bytes(pid) for pid in worker_pids(master_pid)}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in before:
                peak[pid] = max(peak[pid], rss_bytes(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    lines = 0
    size = 0

    def count(chunk: bytes) -> None:
        nonlocal lines, size
        lines += chunk.count(b"\n")
        size += len(chunk)

    try:
        answer = client.request("GET", path, stream_to=count)
    finally:
        done.set()
        sampler.join()
    if answer.status != 200:
        row.errors[answer.status] = row.errors.get(answer.status, 0) + 1
    row.size = size
    growth = max((peak[pid] - before[pid] for pid in before), default=0)
    return answer.seconds, max(0, lines - 1), growth


def measure_export(client: Client, path: str, master_pid: int, row: Row, runs: int) -> None:
    results = [export_once(client, path, master_pid, row) for _ in range(runs)]
    seconds = statistics.median(r[0] for r in results)
    rows = results[0][1]
    row.p50 = seconds * 1000
    row.p95 = max(r[0] for r in results) * 1000
    row.notes.append(f"{rows:,} rows, {rows / seconds:,.0f} rows/s")
    row.notes.append(f"RSS +{max(r[2] for r in results) / 2**20:.1f} MB")


# --- the databases ----------------------------------------------------------------------------


def build_app(database_url: str, instance: str):
    from dashboard import create_app
    from dashboard.config import DevelopmentConfig

    os.environ["DASHBOARD_INSTANCE_PATH"] = instance
    return create_app(DevelopmentConfig, {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY})


def prepare_database(database_url: str, instance: str, users: int) -> float:
    """Migrate, seed `users` users and one admin; returns the seconds the seed took."""
    from flask_migrate import upgrade

    from dashboard import seed
    from dashboard import users as user_service
    from dashboard.extensions import db

    app = build_app(database_url, instance)
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        seed.seed_users(users)
        seconds = time.perf_counter() - started
        user_service.create_staff(ADMIN, "benchadmin@example.com", "Bench Admin", "admin", PASSWORD)
        db.session.commit()
        db.engine.dispose()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum would soon do after a bulk load: the visibility map makes
            # index-only scans possible; statistics for the planner.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE users"))
            db.engine.dispose()
    return seconds


def edit_candidates(app, count: int) -> collections.deque:
    from dashboard.extensions import db

    with app.app_context():
        rows = db.session.execute(
            text("SELECT id, version, email FROM users WHERE role = 'member' ORDER BY id LIMIT :n"),
            {"n": count},
        ).all()
        db.session.rollback()
    return collections.deque(tuple(r) for r in rows)


@contextlib.contextmanager
def database(backend: str, postgres_url: str | None, workdir: str):
    """Yield a URL for an empty database on `backend`; a PostgreSQL cluster is started if needed."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir}/bench.db"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    with contextlib.ExitStack() as stack:
        if postgres_url is None:
            from tests.support.postgres import throwaway_cluster

            postgres_url = stack.enter_context(throwaway_cluster())
        base = postgres_url.rstrip("/")
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{base}/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# --- the run ----------------------------------------------------------------------------------


def floor_ms(app, engine, make_request: Callable[[], object], repeat: int) -> float:
    with app.app_context():
        statements = floor.capture(engine, make_request)
        return floor.replay_seconds(engine, statements, repeat) * 1000


def measure_ours(url: str, master_pid: int, ctx: Context, args, app) -> list[Row]:
    from dashboard.extensions import db

    rows: list[Row] = []
    main = Client(url)
    main.login(ADMIN, PASSWORD)
    ctx.csrf = main.csrf_token("/admin/")

    def another() -> Client:
        client = Client(url)
        client.cookies = dict(main.cookies)
        return client

    # In-process twin for the floor: same database, same code, test client signed in the same way.
    tester = app.test_client()
    with app.app_context():
        engine = db.engine
    login_page = tester.get("/login").get_data(as_text=True)
    tester.post(
        "/login",
        data={"username": ADMIN, "password": PASSWORD, "csrf_token": CSRF_RE.search(login_page).group(1)},
    )
    tester_csrf = CSRF_RE.search(tester.get("/admin/").get_data(as_text=True)).group(1)

    for scenario, path in ours_paths(ctx).items():
        for variant, headers in (("partial", HX), ("full page", {})):
            row = Row(scenario, f"ours {variant}")
            measure_reads(main, url, path, headers, args.seconds, row)
            row.floor = floor_ms(
                app, engine, lambda p=path, h=headers: tester.get(p, headers=h), args.floor_repeat
            )
            rows.append(row)

    # A user deep in the table gets there by a link: Next from the middle page (keyset, where
    # the page number alone means an OFFSET).
    following = next_link(main, ours_paths(ctx)["S2 middle page"])
    for variant, headers in (("partial", HX), ("full page", {})):
        row = Row("S2 middle page", f"ours {variant}, Next link")
        measure_reads(main, url, following, headers, args.seconds, row)
        row.floor = floor_ms(
            app, engine, lambda p=following, h=headers: tester.get(p, headers=h), args.floor_repeat
        )
        rows.append(row)

    for variant, htmx, expected in (("partial", True, (200,)), ("full page", False, (303,))):
        row = Row("S6 save edit", f"ours {variant}")
        send = checked(row, expected, ours_edit(ctx, htmx))
        single_client(main, send, args.seconds, args.max_requests, row)
        four_clients(another, send, args.seconds, row)
        user_id, version, email = next_edit(ctx)
        form = {"full_name": "Floor Edit", "email": email, "role": "member", "is_active": "true"}
        form.update(version=str(version), csrf_token=tester_csrf)
        row.floor = floor_ms(
            app,
            engine,
            lambda f=form, u=user_id, h=htmx: tester.post(
                f"/admin/user/row/{u}", data=f, headers=HX if h else {}
            ),
            args.floor_repeat,
        )
        rows.append(row)

    row = Row("S7 CSV export", "ours")
    measure_export(main, OURS_EXPORT, master_pid, row, args.export_runs)
    if engine.dialect.name == "postgresql":
        row.notes.append("floor not captured (COPY runs beneath SQLAlchemy)")
    else:
        row.floor = floor_ms(app, engine, lambda: tester.get(OURS_EXPORT).get_data(), 1)
    rows.append(row)
    main.close()
    return rows


def measure_baseline(url: str, master_pid: int, ctx: Context, args, database_url: str) -> list[Row]:
    from dashboard.extensions import db

    from .baseline_app import create_baseline_app

    app = create_baseline_app(database_url)
    tester = app.test_client()
    with app.app_context():
        engine = db.engine
    rows: list[Row] = []
    main = Client(url)
    for scenario, path in baseline_paths(ctx).items():
        row = Row(scenario, "baseline")
        measure_reads(main, url, path, {}, args.seconds, row)
        row.floor = floor_ms(app, engine, lambda p=path: tester.get(p), args.floor_repeat)
        rows.append(row)
    row = Row("S6 save edit", "baseline")
    send = checked(row, (302,), baseline_edit(ctx))
    single_client(main, send, args.seconds, args.max_requests, row)
    four_clients(lambda: Client(url), send, args.seconds, row)
    user_id, _version, email = next_edit(ctx)
    form = {"username": email.split("@")[0], "email": email, "full_name": "Floor", "role": "member"}
    # A fresh client each time: Flask-Admin flashes "saved" into the session, which would grow.
    edit_path = f"/admin/user/edit/?id={user_id}"
    row.floor = floor_ms(app, engine, lambda: app.test_client().post(edit_path, data=form), args.floor_repeat)
    rows.append(row)
    row = Row("S7 CSV export", "baseline")
    measure_export(main, baseline_export(), master_pid, row, 1)
    row.floor = floor_ms(app, engine, lambda: tester.get(baseline_export()).get_data(), 1)
    rows.append(row)
    main.close()
    with app.app_context():
        db.engine.dispose()
    return rows


def add_ratios(rows: list[Row]) -> None:
    baseline = {row.scenario: row for row in rows if row.variant == "baseline"}
    for row in rows:
        other = baseline.get(row.scenario)
        if row.variant != "baseline" and other and other.p50 and row.p50 is not None:
            row.ratio = row.p50 / other.p50


def fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def render(rows: list[Row], header: str) -> str:
    titles = (
        "scenario",
        "variant",
        "p50 ms",
        "p95 ms",
        "req/s x4",
        "bytes",
        "floor ms",
        "ours/base",
        "notes",
    )
    lines = [
        [
            row.scenario,
            row.variant,
            fmt(row.p50),
            fmt(row.p95),
            fmt(row.rps4, "{:.0f}"),
            fmt(row.size, "{:,}"),
            fmt(row.floor),
            fmt(row.ratio, "{:.3f}"),
            "; ".join(row.notes + ([f"unexpected HTTP {row.errors}"] if row.errors else [])),
        ]
        for row in rows
    ]
    widths = [max(len(t), *(len(line[i]) for line in lines)) for i, t in enumerate(titles)]
    out = [header, "", "| " + " | ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000, help="how many users to seed")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url", help="a server URL without a database (default: a throwaway cluster)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement")
    parser.add_argument("--max-requests", type=int, default=400, help="cap on single-client requests")
    parser.add_argument("--floor-repeat", type=int, default=10)
    parser.add_argument("--export-runs", type=int, default=2)
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as workdir:
        instance = os.path.join(workdir, "instance")
        with database(args.backend, args.postgres_url, workdir) as database_url:
            print(f"seeding {args.users:,} users on {args.backend} ...", flush=True)
            seed_seconds = prepare_database(database_url, instance, args.users)
            print(f"seeded in {seed_seconds:.1f} s", flush=True)
            app = build_app(database_url, instance)
            pages = max(1, -(-args.users // 50))
            ctx = Context(args.users, pages, edit_candidates(app, 20_000))
            env = {
                "DATABASE_URL": database_url,
                "DASHBOARD_INSTANCE_PATH": instance,
                "DASHBOARD_ENV": "development",
                "SECRET_KEY": SECRET_KEY,
            }
            with serve("dashboard.wsgi:app", env) as (url, process):
                rows = measure_ours(url, process.pid, ctx, args, app)
            with serve("bench.baseline_app:app", env) as (url, process):
                rows += measure_baseline(url, process.pid, ctx, args, database_url)
            from dashboard.extensions import db

            with app.app_context():
                db.engine.dispose()
    order = {name: i for i, name in enumerate(dict.fromkeys(r.scenario for r in rows))}
    variants = {
        "ours partial": 0,
        "ours": 0,
        "ours full page": 1,
        "ours partial, Next link": 2,
        "ours full page, Next link": 3,
        "baseline": 4,
    }
    rows.sort(key=lambda r: (order[r.scenario], variants[r.variant]))
    add_ratios(rows)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Benchmark {stamp}: {args.users:,} users on {args.backend}, gunicorn 2 workers, "
        f"seed {seed_seconds:.1f} s, load average {os.getloadavg()[0]:.2f}"
    )
    table = render(rows, header)
    print(table, flush=True)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{args.backend}-{args.users}.md"
        (RESULTS / name).write_text(table + "\n")
    if any(row.errors for row in rows):
        print("some requests answered an unexpected status (see notes)", file=sys.stderr)
        sys.exit(1)
