"""Error pages and fragments: clear messages, the right status, never a stack trace."""

import logging

from flask import Flask
from flask import make_response
from flask import render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .htmx import is_htmx
from .htmx import vary_on_htmx

log = logging.getLogger(__name__)

STORAGE_MESSAGE = (
    "The database is unavailable right now ({reason}). Nothing was lost; please try again shortly."
)


def storage_fault_reason(error: OperationalError) -> str:
    """Name a storage fault in words an admin understands."""
    text = str(error.orig).lower() if error.orig is not None else str(error).lower()
    if "locked" in text or "lock timeout" in text:
        return "it is busy with another change"
    if "full" in text or "no space" in text:
        return "the disk or database is full"
    if "readonly" in text or "read-only" in text:
        return "it is read-only"
    if "unable to open" in text or "no such table" in text:
        return "the database file cannot be opened"
    return "a storage error occurred"


def render_error(status: int, title: str, message: str, headers: dict | None = None):
    """Render an error as a full page, or as a fragment for HTMX."""
    template = "errors/_message.html" if is_htmx() else "errors/page.html"
    body = render_template(template, status=status, title=title, message=message)
    response = vary_on_htmx(make_response(body, status))
    response.headers.update(headers or {})
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(
            400,
            "Form expired",
            "Your form has expired or is missing its security token. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        kept = {k: v for k, v in error.get_headers() if k in ("Allow", "Retry-After")}
        return render_error(error.code, error.name, error.description or error.name, kept)

    @app.errorhandler(OperationalError)
    def storage_error(error: OperationalError):
        db.session.rollback()
        log.warning("storage fault: %s", error)
        reason = storage_fault_reason(error)
        return render_error(
            503, "Database unavailable", STORAGE_MESSAGE.format(reason=reason), {"Retry-After": "5"}
        )
