"""Configuration read from the environment.

Every setting has one source: an environment variable (or a ``.env`` file next to
``wsgi.py`` in development). ``ProductionConfig`` refuses to start without a secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.core.clock import DEFAULT_ZONE

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


def _sqlite_url(name: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / name}"


def _development_secret() -> str:
    """A stable random key for local runs, kept in ``instance/`` (never committed)."""
    key_file = INSTANCE_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


class Config:
    """Development defaults: SQLite under ``instance/``."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _sqlite_url("rollwise.db")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    #: where report computations run: sync, thread or rq (default: rq with REDIS_URL, else thread)
    REPORT_RUNNER = os.environ.get("REPORT_RUNNER") or None
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LANGUAGES = ("en", "zh_CN")
    BABEL_DEFAULT_LOCALE = "en"
    #: the organisation's time zone: its days are the days of pilots, retros and feedback
    BABEL_DEFAULT_TIMEZONE = os.environ.get("ROLLWISE_TIMEZONE") or DEFAULT_ZONE
    BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).resolve().parent / "translations")
    WTF_CSRF_TIME_LIMIT = None
    BOOTSTRAP_SERVE_LOCAL = True
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    TESTING = False
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a hash method name, not a secret
    # Errors, logs and input limits: structured log lines (json or text) at LOG_LEVEL on
    # standard error; the caps on an uploaded table (rows, columns, uncompressed size)
    LOG_LEVEL = os.environ.get("LOG_LEVEL") or "INFO"
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "json"
    IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS") or 1_000_000)
    IMPORT_MAX_COLUMNS = int(os.environ.get("IMPORT_MAX_COLUMNS") or 200)
    IMPORT_MAX_UNCOMPRESSED_MB = int(os.environ.get("IMPORT_MAX_UNCOMPRESSED_MB") or 200)

    @classmethod
    def init_secret(cls) -> str:
        return cls.SECRET_KEY or _development_secret()


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True

    @classmethod
    def init_secret(cls) -> str:
        if not cls.SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set in the environment in production")
        return cls.SECRET_KEY


class TestConfig(Config):
    """A throwaway database: TEST_DATABASE_URL when set, else in-memory SQLite."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - fixed key for the test suite only
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    SERVER_NAME = None
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105 - fast hashing for the suite


def config_from_env() -> type[Config]:
    name = os.environ.get("ROLLWISE_ENV", "development").lower()
    return ProductionConfig if name == "production" else Config
