"""The CSV export, formatted by the database and streamed as bytes in blocks of rows.

The output is byte for byte what `csv.writer` (QUOTE_MINIMAL, CRLF line ends) writes for
`users.neutralise_cell` of each value of `users.EXPORT_COLUMNS`, in the list's order. Building
each cell in Python costs microseconds per value (seconds at 150,000 rows), so:

- PostgreSQL: `COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)` quotes in C exactly as
  QUOTE_MINIMAL does (a value holding , " CR or LF); the SELECT only neutralises formula cells,
  formats times and yes/no, and turns '' into NULL (COPY would quote an empty string, Python
  does not). COPY ends lines with LF: a block with no quoted value (no embedded line break) has
  every LF replaced by CRLF; one with quotes has each row's final LF replaced.
- SQLite: one `printf` per row joins the raw values with the byte 0xFF and ends the line with
  0xFE: bytes that never occur in UTF-8, so never in a stored value. A block of rows is checked
  with a few memchr-speed tests: when no value holds , " CR or LF, and the SQL flagged no value
  that might start like a formula (a marker " is then put in front of the line), the separators
  are replaced by , and CRLF and the block is final. Lines that fail the test (rare) are
  rewritten by Python's csv module from the row's values, read again by id in the same
  transaction, so awkward values come out exactly as the reference writes them.

Memory stays flat: rows come off a streaming cursor (COPY streams row by row) in blocks.
"""

import csv
import io
import sqlite3
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager

import psycopg
from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import LargeBinary
from sqlalchemy import Select
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select

from . import users
from .extensions import db
from .models import User

EXPORT_CACHE_KIB = 2048  # SQLite page cache (so sorter memory) while an export runs
BLOCK = 4000  # rows per fetch, and per chunk written to the response (about 400 kB)
HEADER = (",".join(users.EXPORT_COLUMNS) + "\r\n").encode()
TEXT = ("username", "email", "full_name")  # free text: may need quoting or neutralising
# role is written as stored: the database's CHECK constraint allows only models.ROLES, plain
# words that need neither quotes nor neutralising (tests/test_paging_export.py checks that).

SEPARATOR = b"\xff"  # between cells (SQLite); never a byte of UTF-8 text
LINE_END = b"\xfe"  # after each line (SQLite); never a byte of UTF-8 text
MARKER = b'"'  # put in front of a line whose values the SQL flagged as maybe formula-like
CAREFUL_BYTES = (b",", b'"', b"\r", b"\n")  # any of these in a block: check line by line


def csv_blocks(query: users.ListQuery) -> Iterator[bytes]:
    """The header, then every matching row's CSV line, in the list's order, in blocks."""
    yield HEADER
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        yield from _postgresql_blocks(connection, query)
    else:
        yield from _sqlite_blocks(connection, query)


def _matching(cells: list[ColumnElement], query: users.ListQuery) -> Select:
    """SELECT the cells of every user the query matches, in the list's order."""
    return select(*cells).where(*users.filter_clauses(query)).order_by(*users._order_by(query))


# --- PostgreSQL: COPY ... TO STDOUT WITH (FORMAT csv) ------------------------------------------


def _neutralised(text: ColumnElement[str]) -> ColumnElement[str]:
    """users.neutralise_cell in SQL; '' becomes NULL, which COPY writes as nothing."""
    # ascii() is the first character's code point (0 for ''): cheaper than left(text, 1) IN.
    starts = func.ascii(text).in_([ord(start) for start in users.FORMULA_STARTS])
    return func.nullif(case((starts, literal("'") + text), else_=text), "")


def postgresql_cells() -> list[ColumnElement]:
    """The SELECT list COPY formats: one cell per export column, already neutralised."""
    cells: list[ColumnElement] = []
    for name in users.EXPORT_COLUMNS:
        column = getattr(User, name)
        if name in TEXT:
            cells.append(_neutralised(column))
        elif name == "id":
            cells.append(_neutralised(cast(column, String)))
        elif name == "is_active":
            cells.append(case((column.is_(True), "yes"), else_="no"))
        elif name in ("created_at", "last_login_at"):
            # 'YYYY-MM-DD HH:MM:SS' under DateStyle ISO (set for the export); NULL stays NULL.
            # A third of the cost of to_char(column, 'YYYY-MM-DD HH24:MI:SS').
            cells.append(cast(func.date_trunc("second", column), String))
        else:
            cells.append(column)
    return cells


def _postgresql_blocks(connection: Connection, query: users.ListQuery) -> Iterator[bytes]:
    statement = _matching(postgresql_cells(), query)
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    copy_sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)"
    driver_connection = connection.connection.driver_connection
    driver_connection.execute("SET LOCAL DateStyle = 'ISO, MDY'")  # until the transaction ends
    with driver_connection.cursor() as cursor, cursor.copy(copy_sql, compiled.params):
        # psycopg's Copy.read() costs ~10 us a row (a generator and a wait per message): read
        # the rows straight from libpq instead, blocking, one message (one row) per call.
        pgconn = driver_connection.pgconn
        rows: list[memoryview] = []
        while (size_and_row := pgconn.get_copy_data(0))[0] > 0:
            rows.append(size_and_row[1])
            if len(rows) == BLOCK:
                yield _crlf(rows)
                rows = []
        if size_and_row[0] != -1:
            raise psycopg.OperationalError(pgconn.get_error_message())
        if rows:
            yield _crlf(rows)
        # The COPY's own result: consumed here, so the connection is ready for the next query
        # (Copy's exit only cleans up after an error).
        while (result := pgconn.get_result()) is not None:
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                raise psycopg.OperationalError(result.get_error_message())


def _crlf(rows: Sequence[memoryview]) -> bytes:
    """COPY's rows with CRLF line ends; line breaks inside quoted values stay as they are."""
    block = b"".join(rows)
    if b'"' not in block:  # no quoted value, so every LF ends a row
        return block.replace(b"\n", b"\r\n")
    return b"".join(bytes(row[:-1]) + b"\r\n" for row in rows)


# --- SQLite: printf per row, checked and finished per block -----------------------------------


def _may_start_like_formula(text: ColumnElement[str]) -> ColumnElement[bool]:
    """True for a value starting with = + - @ TAB or CR (and some harmless neighbours).

    String comparisons rather than a function call, and one alone for a value starting with a
    letter: below '.' covers TAB, CR, + and - (and space and some punctuation); '=' up to 'A'
    covers = and @ (and > ?). The extra values only take the careful path.
    """
    return and_(text < "A", or_(text < ".", text >= "="))


def sqlite_line() -> ColumnElement[bytes]:
    """A users row as MARKER? id 0xFF username 0xFF ... last_login_at 0xFE, as a blob."""
    flagged = or_(User.id < 0, *(_may_start_like_formula(getattr(User, name)) for name in TEXT))
    formats = {"id": b"%d", "created_at": b"%.19s", "last_login_at": b"%.19s"}
    cells = SEPARATOR.join(formats.get(name, b"%s") for name in users.EXPORT_COLUMNS)
    line_format = b"%s" + cells + LINE_END  # the first %s: the marker, or nothing
    yes_no = case((User.is_active, "yes"), else_="no")
    arguments = [yes_no if name == "is_active" else getattr(User, name) for name in users.EXPORT_COLUMNS]
    # Times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff': %.19s drops the fraction; NULL gives ''.
    marker = case((flagged, MARKER.decode()), else_="")
    return cast(func.printf(literal(line_format, LargeBinary), marker, *arguments), LargeBinary)


def _sqlite_blocks(connection: Connection, query: users.ListQuery) -> Iterator[bytes]:
    with _small_page_cache(connection.connection.driver_connection):
        result = connection.execute(_matching([sqlite_line()], query))
        cursor = result.cursor  # the DBAPI cursor: no SQLAlchemy work per row
        try:
            while rows := cursor.fetchmany(BLOCK):
                lines = [row[0] for row in rows]
                block = b"".join(lines)
                if any(byte in block for byte in CAREFUL_BYTES):
                    yield _careful_block(connection, lines)
                else:
                    yield _finished(block)
        finally:
            result.close()


@contextmanager
def _small_page_cache(driver_connection: sqlite3.Connection) -> Iterator[None]:
    """Shrink this connection's page cache for the export, then give it back its size.

    SQLite sizes the sorter's memory by the page cache (config.SQLITE_CACHE_KIB, 32 MB), so with
    the full cache the ORDER BY would hold every line in memory (about 25 MB at 150,000 rows),
    and the table pages the export reads once would fill the cache (another 30 MB that stays).
    With a small cache the sort spills to a temporary file and memory stays flat.
    """
    (size,) = driver_connection.execute("PRAGMA cache_size").fetchone()
    driver_connection.execute(f"PRAGMA cache_size = -{EXPORT_CACHE_KIB}")
    try:
        yield
    finally:
        driver_connection.execute(f"PRAGMA cache_size = {int(size)}")


def _finished(lines: bytes) -> bytes:
    """Lines whose values need no care: the separators become , and CRLF."""
    return lines.replace(SEPARATOR, b",").replace(LINE_END, b"\r\n")


def _careful_block(connection: Connection, lines: list[bytes]) -> bytes:
    """A block with some awkward lines: those are written by csv.writer from the row's values."""
    awkward: dict[int, bytes] = {}
    for line in lines:
        if any(byte in line for byte in CAREFUL_BYTES):
            awkward[int(line.lstrip(MARKER).split(SEPARATOR, 1)[0])] = b""
    columns = [getattr(User, name) for name in users.EXPORT_COLUMNS]
    for row in connection.execute(select(*columns).where(User.id.in_(awkward))):
        awkward[row[0]] = python_line(row)
    out = []
    for line in lines:
        if any(byte in line for byte in CAREFUL_BYTES):
            out.append(awkward[int(line.lstrip(MARKER).split(SEPARATOR, 1)[0])])
        else:
            out.append(_finished(line))
    return b"".join(out)


def python_line(values: Sequence) -> bytes:
    """One row as csv.writer writes it (QUOTE_MINIMAL, CRLF) after users.neutralise_cell."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([users.neutralise_cell(value) for value in values])
    return buffer.getvalue().encode()
