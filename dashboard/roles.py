"""Who may do what to whom: the role rules, enforced on the server for every write.

viewer: reads everything, changes nothing.
editor: creates and edits member and viewer accounts, activates and deactivates them; cannot
        grant or remove editor/admin, delete, or touch editors and admins.
admin:  everything.
Nobody can deactivate, demote or delete themselves, and the last active admin stays an admin.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from .extensions import db
from .models import User

EDITABLE_BY_EDITOR = ("member", "viewer")


def can_write(actor: User) -> bool:
    """True for roles that may change anything at all."""
    return actor.role in ("admin", "editor")


def assignable_roles(actor: User) -> tuple[str, ...]:
    """The roles this actor may give an account."""
    if actor.role == "admin":
        return ("admin", "editor", "viewer", "member")
    if actor.role == "editor":
        return EDITABLE_BY_EDITOR
    return ()


def _other_active_admins(target_id: int) -> int:
    """How many active admins there are besides this account."""
    query = select(func.count()).where(User.role == "admin", User.is_active.is_(True), User.id != target_id)
    return db.session.scalar(query) or 0


def create_denial(actor: User, role: str) -> str | None:
    """Why this actor may not create an account with this role, or None if allowed."""
    if not can_write(actor):
        return "Your role cannot create accounts."
    if role not in assignable_roles(actor):
        return f"Your role cannot create {role} accounts."
    return None


def edit_denial(actor: User, target: User, changes: Mapping[str, Any]) -> str | None:
    """Why this actor may not make these changes to this account, or None if allowed.

    `changes` maps field names to new values; only fields that differ need be present.
    """
    if not can_write(actor):
        return "Your role cannot change accounts."
    if actor.role == "editor" and target.role not in EDITABLE_BY_EDITOR and target.id != actor.id:
        return f"Editors cannot change {target.role} accounts."
    new_role = changes.get("role", target.role)
    if new_role != target.role and new_role not in assignable_roles(actor):
        return f"Your role cannot make an account {new_role}."
    deactivating = changes.get("is_active", target.is_active) is False and target.is_active
    demoting = target.role == "admin" and new_role != "admin"
    if target.id == actor.id and (deactivating or (new_role != target.role)):
        return "You cannot deactivate yourself or change your own role."
    removing_admin = target.role == "admin" and target.is_active and (deactivating or demoting)
    if removing_admin and not _other_active_admins(target.id):
        return "This is the last active admin; make another admin first."
    return None


def delete_denial(actor: User, target: User) -> str | None:
    """Why this actor may not delete this account, or None if allowed."""
    if actor.role != "admin":
        return "Only admins can delete accounts."
    if target.id == actor.id:
        return "You cannot delete yourself."
    if target.role == "admin" and target.is_active and not _other_active_admins(target.id):
        return "This is the last active admin; make another admin first."
    return None


def password_denial(actor: User, target: User) -> str | None:
    """Why this actor may not set this account's password, or None (own password always allowed)."""
    if target.id == actor.id or actor.role == "admin":
        return None
    return "Only admins can set another account's password."
