"""Every storage fault maps to a 503 that names it; errors that are bugs are not disguised as one."""

import sqlite3

import psycopg
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import InternalError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from dashboard import errors
from dashboard.extensions import db


def sqlite_error(name: str, message: str) -> OperationalError:
    orig = sqlite3.OperationalError(message)
    orig.sqlite_errorname = name
    return OperationalError("statement", {}, orig)


def pg_error(kind: type[psycopg.Error], sqlstate: str, message: str, wrapper=OperationalError):
    orig = kind(message)
    orig.sqlstate = sqlstate  # psycopg sets it from the server's answer
    return wrapper("statement", {}, orig)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (sqlite_error("SQLITE_BUSY", "database is locked"), "busy"),
        (sqlite_error("SQLITE_FULL", "database or disk is full"), "full"),
        (sqlite_error("SQLITE_READONLY", "attempt to write a readonly database"), "read-only"),
        (sqlite_error("SQLITE_READONLY_DIRECTORY", "attempt to write a readonly database"), "read-only"),
        (sqlite_error("SQLITE_CANTOPEN", "unable to open database file"), "unreadable"),
        (sqlite_error("SQLITE_IOERR_WRITE", "disk I/O error"), "unreadable"),
        (pg_error(psycopg.errors.DiskFull, "53100", "could not extend file: No space left"), "full"),
        (
            pg_error(psycopg.errors.LockNotAvailable, "55P03", "canceling statement due to lock timeout"),
            "busy",
        ),
        (pg_error(psycopg.errors.AdminShutdown, "57P01", "terminating connection"), "unreachable"),
        (
            pg_error(psycopg.errors.ReadOnlySqlTransaction, "25006", "read-only transaction", InternalError),
            "read-only",
        ),
        (OperationalError("connect", {}, psycopg.OperationalError("connection refused")), "unreachable"),
        (PoolTimeoutError("QueuePool limit reached"), "busy"),
    ],
)
def test_storage_faults_are_named(error, kind):
    fault = errors.classify(error)
    assert fault is not None and fault.kind == kind


def test_a_constraint_violation_is_not_a_storage_fault():
    assert errors.classify(IntegrityError("insert", {}, sqlite3.IntegrityError("UNIQUE failed"))) is None


@pytest.fixture
def faulty_app(app: Flask) -> Flask:
    """The app with routes that raise each fault inside a real request."""

    @app.get("/_test/fault/<kind>")
    def raise_fault(kind: str):
        with db.session.begin():
            db.session.execute(text("SELECT 1"))
        raise {
            "full": sqlite_error("SQLITE_FULL", "database or disk is full"),
            "integrity": IntegrityError("insert", {}, sqlite3.IntegrityError("UNIQUE failed")),
        }[kind]

    return app


def test_fault_in_a_request_answers_503_page_or_fragment(faulty_app):
    client = faulty_app.test_client()
    page = client.get("/_test/fault/full")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "30"
    body = page.get_data(as_text=True)
    assert "<html" in body and "The database is full" in body
    fragment = client.get("/_test/fault/full", headers={"HX-Request": "true"})
    assert fragment.status_code == 503
    assert "<html" not in fragment.get_data(as_text=True)
    assert "The database is full" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_a_bug_is_not_reported_as_a_storage_fault(faulty_app):
    faulty_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = faulty_app.test_client().get("/_test/fault/integrity")
    assert response.status_code == 500


def test_a_value_the_database_refuses_is_a_400(backend, admin_client):
    """An id beyond PostgreSQL's integer range (and anything else the database refuses as data)."""
    response = admin_client.get("/admin/user/row/2147483648", headers={"HX-Request": "true"})
    if backend == "sqlite":  # SQLite's integers are 64-bit: simply no such user
        assert response.status_code == 404
    else:
        assert response.status_code == 400
        assert "out of range" in response.get_data(as_text=True)
