"""Whole-table snapshots, to prove that a refused request changed nothing."""

from sqlalchemy import text

from dashboard.extensions import db

TABLES = ("users", "audit_entries")


def snapshot(app, tables: tuple[str, ...] = TABLES) -> dict[str, list[tuple]]:
    """Every row of each table, ordered by id."""
    with app.app_context():
        result = {
            table: [tuple(row) for row in db.session.execute(text(f"SELECT * FROM {table} ORDER BY id"))]
            for table in tables
        }
        db.session.rollback()
    return result
