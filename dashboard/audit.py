"""The audit trail: every change recorded with before/after values, in the caller's transaction."""

from datetime import date
from datetime import datetime
from typing import Any

from flask import has_request_context
from flask import request
from flask_login import current_user

from .extensions import db
from .models import AuditEntry


def _plain(value: Any) -> Any:
    """Make a value JSON-friendly."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose values differ, as {field: {"before": b, "after": a}}."""
    return {
        field: {"before": _plain(before.get(field)), "after": _plain(after.get(field))}
        for field in sorted(set(before) | set(after))
        if before.get(field) != after.get(field)
    }


def client_address() -> str | None:
    """The client's address as the server saw it (behind a proxy, configure ProxyFix)."""
    return request.remote_addr if has_request_context() else None


def record(
    action: str,
    target_id: int | None,
    changes: dict[str, dict[str, Any]] | None = None,
    *,
    actor=None,
    target_type: str = "user",
) -> AuditEntry:
    """Add an audit entry to the current session; it commits with the change it describes."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        action=action,
        target_type=target_type,
        target_id=target_id,
        changes=changes or {},
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None),
        client_addr=client_address(),
    )
    db.session.add(entry)
    return entry
