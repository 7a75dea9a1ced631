#!/usr/bin/env python
"""The dashboard's command line: run, shell, db, create-admin, seed, demo."""

import os
import sys

import click
from flask.cli import FlaskGroup
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.exc import OperationalError

from dashboard import create_app

cli = FlaskGroup(create_app=create_app, help="Manage the HTMX admin dashboard.")


def describe_database() -> str:
    """The configured database URL with any password hidden."""
    url = os.environ.get("DATABASE_URL") or "sqlite:///instance/dashboard.db"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable DATABASE_URL)"


def main() -> None:
    """Run the CLI; a database that cannot be opened is one clear line, not a traceback."""
    if sys.argv[1:2] == ["run"]:
        from dashboard.startup import database_problem

        problem = database_problem(create_app())
        if problem:
            click.echo(f"Error: the dashboard cannot start: {problem}", err=True)
            sys.exit(1)
    try:
        cli.main(prog_name="manage.py")
    except (OperationalError, ArgumentError, NoSuchModuleError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        click.echo(f"Error: cannot open the database {describe_database()}: {reason}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
