"""Command-line commands: create-admin, seed, demo."""

import getpass
import secrets
import sys
import time

import click
from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import Flask
from flask.cli import with_appcontext

from . import seed as seeding
from . import users
from .extensions import db


def _read_password(from_stdin: bool) -> str:
    """Read a new password: one line from stdin, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Repeat password: ")
    if first != second:
        raise click.ClickException("The two passwords do not match. Nothing was written.")
    return first


def _valid_email(email: str) -> str:
    """Normalise an email address or stop with a clear message."""
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.ClickException(f"Invalid email address: {error}") from None


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--full-name", default=None, help="Display name (default: the username).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def create_admin_command(username: str, email: str, full_name: str | None, password_stdin: bool) -> None:
    """Create an admin account."""
    email = _valid_email(email)
    password = _read_password(password_stdin)
    try:
        user = users.create_staff(username, email, full_name or username, "admin", password)
    except users.UserError as error:
        db.session.rollback()
        raise click.ClickException(f"{error.message} Nothing was written.") from None
    db.session.commit()
    click.echo(f"Created admin {user.username!r}.")


@click.command("seed")
@with_appcontext
@click.option(
    "--users", "count", type=click.IntRange(1, 10_000_000), required=True, help="How many users to add."
)
@click.option("--add", is_flag=True, help="Add to a database that already has users.")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True, help="Random seed.")
def seed_command(count: int, add: bool, seed_value: int) -> None:
    """Insert realistic, deterministic demo users."""
    existing = users.count_users()
    if existing and not add:
        raise click.ClickException(f"The database already has {existing:,} users; pass --add to add more.")
    started = time.perf_counter()
    inserted = seeding.seed_users(count, seed_value)
    elapsed = time.perf_counter() - started
    click.echo(f"Seeded {inserted:,} users in {elapsed:.1f} s.")


@click.command("demo")
@with_appcontext
@click.option("--users", "count", type=click.IntRange(0, 1_000_000), default=3000, show_default=True)
def demo_command(count: int) -> None:
    """Set up the demo once: an admin with a generated password, and demo users."""
    if users.count_users():
        click.echo("Demo data already present; sign in with the admin password printed the first time.")
        return
    password = secrets.token_urlsafe(12)
    users.create_staff("admin", "admin@example.com", "Demo Admin", "admin", password)
    db.session.commit()
    if count:
        seeding.seed_users(count)
    click.echo("")
    click.echo("  Demo admin created. Sign in at http://127.0.0.1:5000/login")
    click.echo("    username: admin")
    click.echo(f"    password: {password}")
    click.echo("  This password is shown only once.")
    click.echo("")


def register_commands(app: Flask) -> None:
    """Attach the commands to `flask`/`manage.py`."""
    for command in (create_admin_command, seed_command, demo_command):
        app.cli.add_command(command)
