"""The queries and writes behind the users table."""

from sqlalchemy import func
from sqlalchemy import select

from . import audit
from . import passwords
from .extensions import db
from .models import User


class UserError(ValueError):
    """A change that cannot be made, with a message fit to show the admin."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def count_users() -> int:
    """How many users there are."""
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def username_or_email_taken(username: str, email: str) -> str | None:
    """Name the field whose value another account already uses, or None."""
    if db.session.scalar(select(User.id).where(User.username == username.strip().lower())):
        return "username"
    if db.session.scalar(select(User.id).where(User.email == email.strip().lower())):
        return "email"
    return None


def create_staff(username: str, email: str, full_name: str, role: str, password: str, actor=None) -> User:
    """Create a staff account with a password; raises UserError on a bad or taken value."""
    problem = passwords.policy_error(password)
    if problem:
        raise UserError(problem, "password")
    taken = username_or_email_taken(username, email)
    if taken:
        raise UserError(f"That {taken} is already taken.", taken)
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        role=role,
        password_hash=passwords.hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "create",
        user.id,
        audit.diff(
            {}, {"username": user.username, "email": user.email, "full_name": full_name, "role": role}
        ),
        actor=actor,
    )
    return user
