"""Error pages and fragments: clear messages, the right status, never a stack trace.

Storage faults (a busy, full, read-only or unreachable database) answer 503 with Retry-After and
a message that names the fault; the worker stays up, and connections that can no longer write
are dropped so that the server recovers by itself once the fault is cleared.
"""

import logging
from dataclasses import dataclass

from flask import Flask
from flask import current_app
from flask import make_response
from flask import render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import DataError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from .extensions import db
from .htmx import is_htmx
from .htmx import vary_on_htmx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StorageFault:
    """One kind of storage fault: what the admin is told, and how soon to retry."""

    kind: str
    title: str
    message: str
    retry_after: int
    # True when the connection that saw it must be replaced before it can write again.
    reconnect: bool = False


BUSY = StorageFault(
    "busy",
    "Database busy",
    "The database is busy with another change and could not take this one in time. "
    "Nothing was saved; please try again in a moment.",
    2,
)
FULL = StorageFault(
    "full",
    "Database full",
    "The database is full: there is no space left for new data. Nothing was saved and nothing "
    "already saved was lost; free some space, then try again.",
    30,
)
READ_ONLY = StorageFault(
    "read-only",
    "Database read-only",
    "The database is read-only right now, so changes cannot be saved. Nothing was saved and "
    "nothing already saved was lost; reading still works.",
    30,
    reconnect=True,
)
UNREACHABLE = StorageFault(
    "unreachable",
    "Database unreachable",
    "The database cannot be reached right now. If you were saving a change, reload in a moment "
    "to see whether it was saved.",
    10,
    reconnect=True,
)
UNREADABLE = StorageFault(
    "unreadable",
    "Database unreadable",
    "The database file cannot be opened or read. Nothing was saved; an operator must check it.",
    30,
    reconnect=True,
)
UNKNOWN = StorageFault(
    "unknown",
    "Database unavailable",
    "The database reported a storage error. Nothing was saved; please try again shortly.",
    10,
)

# PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_FAULTS = {
    "25006": READ_ONLY,  # read_only_sql_transaction (default_transaction_read_only, hot standby)
    "53100": FULL,  # disk_full
    "53200": FULL,  # out_of_memory
    "53300": BUSY,  # too_many_connections
    "55P03": BUSY,  # lock_not_available (lock_timeout)
    "57014": BUSY,  # query_canceled (statement_timeout)
    "40001": BUSY,  # serialization_failure
    "40P01": BUSY,  # deadlock_detected
    "57P01": UNREACHABLE,  # admin_shutdown
    "57P02": UNREACHABLE,  # crash_shutdown
    "57P03": UNREACHABLE,  # cannot_connect_now
    "3D000": UNREACHABLE,  # invalid_catalog_name: the database does not exist
    "55000": UNREACHABLE,  # object_not_in_prerequisite_state: not accepting connections
}

# SQLite extended error names (sqlite3.Error.sqlite_errorname, Python 3.11+).
_SQLITE_FAULTS = {
    "SQLITE_BUSY": BUSY,
    "SQLITE_LOCKED": BUSY,
    "SQLITE_FULL": FULL,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_CANTOPEN": UNREADABLE,
    "SQLITE_NOTADB": UNREADABLE,
    "SQLITE_CORRUPT": UNREADABLE,
    "SQLITE_IOERR": UNREADABLE,
    "SQLITE_PERM": READ_ONLY,
}

# Words in driver messages, for errors that carry no code (e.g. connection refused).
_TEXT_FAULTS = (
    (("database is locked", "database table is locked", "lock timeout"), BUSY),
    (("database or disk is full", "no space left", "disk full"), FULL),
    (("readonly database", "read-only transaction", "read-only"), READ_ONLY),
    (
        (
            "connection refused",
            "could not connect",
            "connection failed",
            "server closed the connection",
            "terminating connection",
            "connection is closed",
            "connection to server",
            "not currently accepting connections",
        ),
        UNREACHABLE,
    ),
    (("unable to open database", "file is not a database", "disk i/o error", "malformed"), UNREADABLE),
)


def classify(error: BaseException) -> StorageFault | None:
    """The storage fault this database error represents, or None if it is not one (a bug)."""
    if isinstance(error, PoolTimeoutError):
        return BUSY
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        if sqlstate in _PG_FAULTS:
            return _PG_FAULTS[sqlstate]
        if sqlstate.startswith("08"):  # connection_exception
            return UNREACHABLE
    name = getattr(orig, "sqlite_errorname", None) or ""
    base_name = "_".join(name.split("_")[:2])  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY
    if base_name in _SQLITE_FAULTS:
        return _SQLITE_FAULTS[base_name]
    text = str(orig if orig is not None else error).lower()
    for needles, fault in _TEXT_FAULTS:
        if any(needle in text for needle in needles):
            return fault
    if getattr(error, "connection_invalidated", False):
        return UNREACHABLE
    return None


def render_error(status: int, title: str, message: str, headers: dict | None = None):
    """Render an error as a full page, or as a fragment for HTMX."""
    template = "errors/_message.html" if is_htmx() else "errors/page.html"
    body = render_template(template, status=status, title=title, message=message)
    response = vary_on_htmx(make_response(body, status))
    response.headers.update(headers or {})
    return response


def _drop_connections_that_cannot_write(app: Flask) -> None:
    """Treat read-only/unopenable faults as disconnects, so the pool opens fresh connections.

    A SQLite connection opened while the file was read-only stays read-only after the fault is
    cleared, and so does a PostgreSQL session started under default_transaction_read_only.
    """
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        fault = classify(context.sqlalchemy_exception or context.original_exception)
        if fault is not None and fault.reconnect:
            context.is_disconnect = True


def storage_fault_response(error: BaseException):
    """The 503 answer for a storage fault; re-raises errors that are not storage faults."""
    fault = classify(error)
    if fault is None:
        raise error
    try:
        db.session.rollback()
    except Exception as cleanup_error:  # the connection may already be gone
        log.warning("rollback after storage fault failed: %s", cleanup_error)
    log.warning("storage fault (%s): %s", fault.kind, str(error).splitlines()[0])
    response = render_error(503, fault.title, fault.message, {"Retry-After": str(fault.retry_after)})
    response.headers["X-Storage-Fault"] = fault.kind
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    _drop_connections_that_cannot_write(app)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(
            400,
            "Form expired",
            "Your form has expired or is missing its security token. Reload the page and try again.",
        )

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        response = render_error(
            413,
            "Request too large",
            f"The request is larger than the {limit // 1024:,} KB this server accepts. "
            "Nothing was saved; shorten the input and try again.",
        )
        # The unread rest of the body must not be taken for the next request on this connection.
        response.headers["Connection"] = "close"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        kept = {k: v for k, v in error.get_headers() if k in ("Allow", "Retry-After")}
        return render_error(error.code, error.name, error.description or error.name, kept)

    @app.errorhandler(ValueError)
    def header_injection(error: ValueError):
        """A submitted value that reached a response header (e.g. a redirect's `url`) with a newline.

        Werkzeug refuses to send it, rightly; the answer is the client's fault, so 400, not 500.
        """
        if "must not contain newline" not in str(error):
            raise error
        return render_error(
            400,
            "Bad request",
            "A link in this request contains line breaks or other characters that are not allowed. "
            "Nothing was changed.",
        )

    @app.errorhandler(DataError)
    def bad_value(error: DataError):
        """A value the database refuses as data (an id beyond the integer range, a NUL byte).

        It came from the request, so it is the client's mistake: 400, and nothing was written.
        """
        db.session.rollback()
        log.info("value refused by the database: %s", str(error.orig).splitlines()[0])
        return render_error(
            400,
            "Bad request",
            "A value in this request is out of range or not allowed (for example a number too large "
            "or a NUL character). Nothing was changed.",
        )

    @app.errorhandler(DBAPIError)
    def storage_error(error: DBAPIError):
        return storage_fault_response(error)

    @app.errorhandler(PoolTimeoutError)
    def pool_timeout(error: PoolTimeoutError):
        return storage_fault_response(error)
