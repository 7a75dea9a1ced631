"""Template filters for dates: direct calls in compiled templates (a method call per cell through
Jinja's runtime costs several times more, and the table renders two per row)."""

from datetime import date
from datetime import datetime

from flask import Flask


def day(value: date) -> str:
    """2026-11-25"""
    return value.strftime("%Y-%m-%d")


def minute(value: datetime) -> str:
    """2026-11-25 17:58"""
    return value.strftime("%Y-%m-%d %H:%M")


def init_app(app: Flask) -> None:
    app.add_template_filter(day)
    app.add_template_filter(minute)
