"""The floor: the SQL a request runs, captured in-process and replayed straight on the driver.

A request is made once through the app's test client while a SQLAlchemy `before_cursor_execute`
listener records every statement; those statements are then run again on a raw DB-API
connection (inside a transaction that is rolled back, so writes leave no trace) and timed. The
difference between a request's latency and its floor is what Python, Flask and the templates cost.
"""

import statistics
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple]]:
    """Record (statement, parameters, executemany) for everything run on `engine` meanwhile."""
    statements: list[tuple] = []

    def listener(_conn, _cursor, statement, parameters, _context, executemany):
        statements.append((statement, parameters, executemany))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def capture(engine: Engine, make_request: Callable[[], object]) -> list[tuple]:
    """The statements one request runs (transaction control left out: replay adds its own)."""
    with captured(engine) as statements:
        make_request()
    return [s for s in statements if not s[0].lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]


def replay_seconds(engine: Engine, statements: list[tuple], repeat: int) -> float:
    """Median time to run `statements` (fetching every row) in a rolled-back transaction."""
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        sqlite = engine.dialect.name == "sqlite"
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            if sqlite:
                dbapi.execute("BEGIN")
            cursor = dbapi.cursor()
            for statement, parameters, many in statements:
                if many:
                    cursor.executemany(statement, parameters)
                else:
                    cursor.execute(statement, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
            dbapi.rollback()
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        raw.close()
