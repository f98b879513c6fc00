"""Configuration read from the environment.

Every setting has one source: an environment variable (or a ``.env`` file next to
``wsgi.py`` in development). ``ProductionConfig`` refuses to start without a secret.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from app.core.clock import DEFAULT_ZONE

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


def _sqlite_url(name: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / name}"


def _seconds_from_env(name: str, default: timedelta) -> timedelta:
    """A duration given in seconds in the environment (``43200`` is 12 hours)."""
    value = os.environ.get(name)
    if not value:
        return default
    if not value.strip().isdigit() or int(value) <= 0:
        raise RuntimeError(f"{name} must be a positive number of seconds, not {value!r}")
    return timedelta(seconds=int(value))


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
    #: where background jobs run: sync, thread or rq (default: rq with REDIS_URL, else thread)
    JOB_RUNNER = os.environ.get("JOB_RUNNER") or None
    #: the older name of JOB_RUNNER, still read when JOB_RUNNER is unset
    REPORT_RUNNER = os.environ.get("REPORT_RUNNER") or None
    #: seconds an RQ job may run before RQ stops it
    JOB_TIMEOUT = int(os.environ.get("JOB_TIMEOUT") or 1800)
    #: seconds without progress after which a queued or running job is shown failed
    JOB_STALLED_AFTER = int(os.environ.get("JOB_STALLED_AFTER") or 900)
    #: days a finished job (its result, its PDF) is kept by ``flask jobs prune``; the
    #: newest of each kind per subject is always kept
    JOB_KEEP_DAYS = int(os.environ.get("JOB_KEEP_DAYS") or 30)
    #: imports with more data rows than this run as a background job
    IMPORT_JOB_ROWS = int(os.environ.get("IMPORT_JOB_ROWS") or 100_000)
    #: move the objects of a started app out of the garbage collector's full passes
    #: (``app/core/heap.py``); ``ROLLWISE_GC_FREEZE=0`` turns it off
    FREEZE_STARTUP_OBJECTS = os.environ.get("ROLLWISE_GC_FREEZE", "1") != "0"
    RATELIMIT_HEADERS_ENABLED = True
    LANGUAGES = ("en", "zh_CN")
    BABEL_DEFAULT_LOCALE = "en"
    #: the organisation's time zone: its days are the days of pilots, retros and feedback
    BABEL_DEFAULT_TIMEZONE = os.environ.get("ROLLWISE_TIMEZONE") or DEFAULT_ZONE
    BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).resolve().parent / "translations")
    WTF_CSRF_TIME_LIMIT = None
    BOOTSTRAP_SERVE_LOCAL = True
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    TESTING = False
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a hash method name, not a secret
    # -- the public feedback form's rate limits (Flask-Limiter syntax; docs/feedback.md) --
    #: one table sticker cannot be used to flood the pilot
    FEEDBACK_RATELIMIT_PER_TOKEN = os.environ.get("FEEDBACK_RATELIMIT_PER_TOKEN") or (
        "20 per minute;300 per hour"
    )
    #: a whole restaurant can share one public address (guest Wi-Fi): generous per address
    FEEDBACK_RATELIMIT_PER_ADDRESS = os.environ.get("FEEDBACK_RATELIMIT_PER_ADDRESS") or (
        "30 per minute;600 per hour"
    )
    FEEDBACK_RATELIMIT_VIEW = os.environ.get("FEEDBACK_RATELIMIT_VIEW") or "120 per minute"

    # -- operations (docs/operations.md) --
    #: the public address of the app (e.g. https://pilots.example.com): every link and QR code
    #: printed on sheets or exported is built on it; unset, the address the page was opened at
    PUBLIC_BASE_URL = (os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/") or None
    #: how long a back-office form's one-time key is remembered (``flask maintenance purge``)
    FORM_SUBMISSION_KEY_HOURS = int(os.environ.get("FORM_SUBMISSION_KEY_HOURS") or 48)
    #: where uploads wait between their preview and their import; with several app servers, a
    #: folder they all share (default: ``rollwise-uploads`` in the system's temporary folder)
    UPLOAD_STASH_DIR = os.environ.get("UPLOAD_STASH_DIR") or None

    # -- sessions, sign-in and rate limits (docs/security.md, "Sessions and sign-in") --------
    #: how long a sign-in lasts (seconds in the environment); remember-me starts a new one
    PERMANENT_SESSION_LIFETIME = _seconds_from_env(
        "PERMANENT_SESSION_LIFETIME", timedelta(hours=12)
    )
    #: how long "remember me" lasts from the sign-in with a password (seconds)
    REMEMBER_COOKIE_DURATION = _seconds_from_env("REMEMBER_COOKIE_DURATION", timedelta(days=14))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: failed sign-ins allowed per account, and per client address (Flask-Limiter syntax)
    LOGIN_RATELIMIT_PER_ACCOUNT = os.environ.get("LOGIN_RATELIMIT_PER_ACCOUNT") or (
        "10 per 15 minutes"
    )
    LOGIN_RATELIMIT_PER_ADDRESS = os.environ.get("LOGIN_RATELIMIT_PER_ADDRESS") or (
        "100 per 15 minutes"
    )
    #: rate-limit counters: shared by every worker and server in Redis when REDIS_URL is set
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    #: a Redis that does not answer fails fast (StorageError), never hangs a worker
    RATELIMIT_STORAGE_OPTIONS = {
        "wrap_exceptions": True,
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
    }

    # -- headers and TLS proxy (app/core/security.py; docs/security.md, "Headers and TLS
    # proxy"). Flags take 1/true/yes/on or 0/false/no/off; counts are whole numbers.
    #: redirect plain HTTP to HTTPS; unset: on in production, off elsewhere
    FORCE_HTTPS = os.environ.get("FORCE_HTTPS") or None
    #: Strict-Transport-Security on HTTPS answers, in seconds (0: no HSTS)
    HSTS_MAX_AGE = os.environ.get("HSTS_MAX_AGE") or 31536000
    HSTS_INCLUDE_SUBDOMAINS = os.environ.get("HSTS_INCLUDE_SUBDOMAINS") or False
    HSTS_PRELOAD = os.environ.get("HSTS_PRELOAD") or False
    #: how many proxies in front of the app set each X-Forwarded-* header (0: not trusted)
    PROXY_FIX_X_FOR = os.environ.get("PROXY_FIX_X_FOR") or 0
    PROXY_FIX_X_PROTO = os.environ.get("PROXY_FIX_X_PROTO") or 0
    PROXY_FIX_X_HOST = os.environ.get("PROXY_FIX_X_HOST") or 0
    PROXY_FIX_X_PORT = os.environ.get("PROXY_FIX_X_PORT") or 0
    PROXY_FIX_X_PREFIX = os.environ.get("PROXY_FIX_X_PREFIX") or 0
    #: where browsers report Content-Security-Policy violations (optional)
    CSP_REPORT_URI = os.environ.get("CSP_REPORT_URI") or None
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
    REMEMBER_COOKIE_SECURE = True

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
    FREEZE_STARTUP_OBJECTS = False  # an app per test: leave the collector alone


def worker_count(environ: Mapping[str, str] = os.environ) -> int:
    """Worker processes the app server is told to run: ``WEB_CONCURRENCY`` (gunicorn reads
    it), ``GUNICORN_WORKERS``, or ``-w``/``--workers`` in ``GUNICORN_CMD_ARGS``."""
    counts = [environ.get("WEB_CONCURRENCY"), environ.get("GUNICORN_WORKERS")]
    found = re.search(r"(?:-w|--workers)[ =]?(\d+)", environ.get("GUNICORN_CMD_ARGS") or "")
    counts.append(found.group(1) if found else None)
    return max([int(c) for c in counts if c and c.strip().isdigit()], default=1)


def check_rate_limit_storage(config: Mapping, environ: Mapping[str, str] = os.environ) -> None:
    """Production refuses per-process rate-limit counters when several workers serve it.

    With ``memory://`` every worker counts on its own: two workers let twice the documented
    number of sign-in attempts and form submissions through.
    """
    if config.get("ENV_NAME") != "production" or not config.get("RATELIMIT_ENABLED", True):
        return
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    workers = worker_count(environ)
    if storage.startswith("memory://") and workers > 1:
        raise RuntimeError(
            f"{workers} workers are configured but rate limits are kept in process memory "
            "(each worker would count on its own): set REDIS_URL or RATELIMIT_STORAGE_URI "
            "to a Redis server shared by every worker (see docs/security.md)"
        )


def config_from_env() -> type[Config]:
    name = os.environ.get("ROLLWISE_ENV", "development").lower()
    return ProductionConfig if name == "production" else Config
