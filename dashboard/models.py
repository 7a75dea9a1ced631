"""Typed SQLAlchemy models: users, their audit trail, and login-throttle events."""

import secrets
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import update
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import validates
from sqlalchemy.orm.attributes import set_committed_value

from .extensions import db

ROLES = ("admin", "editor", "viewer", "member")
STAFF_ROLES = ("admin", "editor", "viewer")  # roles that may sign in to the dashboard
USERNAME_MAX = 64
EMAIL_MAX = 254
FULL_NAME_MAX = 120


def utcnow() -> datetime:
    """Current UTC time as a naive datetime: the form every column stores on both backends."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_session_token() -> str:
    """A fresh random token; rotating it signs the user out of every session at once."""
    return secrets.token_urlsafe(24)


class User(db.Model):
    """An account: staff who use the dashboard, and members it administers."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role_known"),
        CheckConstraint("username = lower(username)", name="username_lowercase"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("length(username) > 0", name="username_not_empty"),
        CheckConstraint("length(full_name) > 0", name="full_name_not_empty"),
        Index("ix_users_role_active", "role", "is_active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased (checked by the database), so uniqueness is case-insensitive.
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, default=None, index=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    @validates("username", "email")
    def _lowercase(self, key: str, value: str) -> str:
        """Usernames and emails are case-insensitive: store them lower-cased and trimmed."""
        return value.strip().lower() if value is not None else value

    # Flask-Login protocol. The id carries the session token so rotating it ends every session.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def rotate_session_token(self) -> None:
        """Invalidate every existing session of this user."""
        self.session_token = new_session_token()

    @property
    def can_sign_in(self) -> bool:
        return self.is_active and self.role in STAFF_ROLES and self.password_hash is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"


def update_bookkeeping(user: User, **values: Any) -> None:
    """Write sign-in bookkeeping (last login, password hash, session token) without a new version.

    The version counts the edits two admins could overwrite; a user signing in or out, or
    changing their password, must not turn an admin's pending edit of that row into a conflict.
    The caller commits.
    """
    db.session.execute(update(User.__table__).where(User.__table__.c.id == user.id).values(**values))
    for name, value in values.items():
        set_committed_value(user, name, value)


class AuditEntry(db.Model):
    """One change: who did what to which row, with before/after values of every changed field."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    # Kept as text too, so the entry still names its actor after that account is deleted.
    actor_name: Mapped[str | None] = mapped_column(String(USERNAME_MAX), default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target_type: Mapped[str] = mapped_column(String(32), default="user")
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # {"field": {"before": ..., "after": ...}} for every changed field.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_addr: Mapped[str | None] = mapped_column(String(64), default=None)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.target_type}:{self.target_id}>"


class LoginFailure(db.Model):
    """A failed sign-in, counted per username and per client address to throttle guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "user:<name>" or "addr:<ip>"
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
