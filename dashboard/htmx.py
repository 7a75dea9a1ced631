"""A dozen lines of HTMX request/response helpers (htmx 4 header names)."""

from flask import Response
from flask import request


def is_htmx() -> bool:
    """True for an HTMX request that wants a partial (a history restore wants the full page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Request-Type", "partial") != "full"
    )


def vary_on_htmx(response: Response) -> Response:
    """Mark a response whose body depends on whether HTMX asked for it."""
    response.vary.add("HX-Request")
    return response


def hx_redirect(response: Response, url: str) -> Response:
    """Ask HTMX to leave the page for `url` as a full navigation."""
    response.headers["HX-Redirect"] = url
    return response
