"""Peak memory of the CSV export as the row count grows (it should stay flat).

Usage: DASHBOARD_INSTANCE_PATH=/tmp/big .venv/bin/python -m bench.table_export_memory [limit ...]
(or DATABASE_URL=postgresql+psycopg://...). Each limit runs in a fresh process and streams the
export (csv_export.csv_blocks, in the list's default order) of every user whose id is at most
`limit`, discarding the bytes. The peak RSS should not grow with the limit.
"""

import resource
import subprocess
import sys
import time


def measure(limit: int) -> None:
    """Stream the export for ids <= limit in a request context; print rows, MB, seconds."""
    from dashboard import create_app
    from dashboard import csv_export
    from dashboard import users
    from dashboard.extensions import db
    from dashboard.models import User

    app = create_app()
    real_clauses = users.filter_clauses
    users.filter_clauses = lambda query: [*real_clauses(query), User.id <= limit]
    with app.test_request_context("/admin/user/export.csv"):
        start = time.perf_counter()
        lines = 0
        size = 0
        for chunk in csv_export.csv_blocks(users.ListQuery()):
            lines += chunk.count(b"\n")
            size += len(chunk)
        elapsed = time.perf_counter() - start
        db.session.remove()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{lines - 1:>9,} rows  {size / 1e6:8.1f} MB of CSV  peak RSS {peak_mb:6.1f} MB  {elapsed:6.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        measure(int(sys.argv[2]))
    else:
        for limit in [int(a) for a in sys.argv[1:]] or [1_000, 100_000, 1_000_000]:
            command = [sys.executable, "-m", "bench.table_export_memory", "--one", str(limit)]
            subprocess.run(command, check=True)
