"""Profile one request in process with pyinstrument, on a freshly seeded database.

`python -m bench.profile --users 1000000 "/admin/user/?q=smith"` seeds like the benchmark, signs in
as its admin, warms up, then prints where N requests (HTMX partials unless --full) spend their
time: the evidence behind the benchmark's "what limits it".
"""

import argparse
import os
import tempfile

from pyinstrument import Profiler

from .client import CSRF_RE
from .run import ADMIN
from .run import PASSWORD
from .run import build_app
from .run import database
from .run import prepare_database


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("path", help='a GET path, e.g. "/admin/user/?role=editor&active=yes"')
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--full", action="store_true", help="the full page rather than the partial")
    args = parser.parse_args()
    headers = {} if args.full else {"HX-Request": "true"}
    with tempfile.TemporaryDirectory(prefix="dashboard-profile-") as workdir:
        instance = os.path.join(workdir, "instance")
        with database(args.backend, None, workdir) as url:
            prepare_database(url, instance, args.users)
            client = build_app(url, instance).test_client()
            token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
            client.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": token})
            for _ in range(20):
                assert client.get(args.path, headers=headers).status_code == 200
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(args.requests):
                    client.get(args.path, headers=headers).get_data()
            print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
