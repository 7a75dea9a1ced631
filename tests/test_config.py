"""The factory and configuration: secrets, database location, environments."""

import stat

import pytest

from dashboard import create_app
from dashboard.config import ProductionConfig
from dashboard.config import TestingConfig


def test_development_secret_key_is_generated_once_with_private_permissions(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(TestingConfig, "SECRET_KEY", None)
    first = create_app(TestingConfig).config["SECRET_KEY"]
    second = create_app(TestingConfig).config["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_production_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(ProductionConfig, "SECRET_KEY", None)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)
    assert not (tmp_path / "secret_key").exists()


def test_production_uses_secure_cookies():
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_HTTPONLY is True
    assert ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(TestingConfig, "SQLALCHEMY_DATABASE_URI", None)
    app = create_app(TestingConfig)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'dashboard.db'}"


def test_unknown_environment_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DASHBOARD_ENV", "staging")
    with pytest.raises(RuntimeError, match="DASHBOARD_ENV must be one of"):
        create_app()
