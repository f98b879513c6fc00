"""Rollwise: pilot → daily review → refine → staged rollout.

``create_app`` reads like a table of contents of the application.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import BASE_DIR, Config, config_from_env
from app.core.heap import freeze_startup_objects
from app.extensions import babel, bootstrap, csrf, db, limiter, login_manager, migrate

# Each area's blueprint, and the modules that attach its routes and commands to it. The
# packages themselves only create the blueprint, so a workflow module can be imported from
# any area without pulling in the web layer.
BLUEPRINTS = {
    "app.errors": (),
    "app.auth": ("routes",),
    "app.main": ("routes",),
    "app.admin": ("routes",),
    "app.sites": ("routes", "commands"),
    "app.pilots": ("routes",),
    "app.feedback": ("routes", "cli"),
    "app.retros": ("routes",),
    "app.reports": ("routes",),
    "app.rollout": ("routes",),
    "app.api": ("routes",),
    "app.integrations": ("routes",),
    "app.jobs": ("routes", "commands"),
}


def create_app(config_class: type[Config] | None = None) -> Flask:
    config_class = config_class or config_from_env()
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class)
    app.config["SECRET_KEY"] = config_class.init_secret()
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    configure_logging(app)
    freeze_startup_objects(app)  # last: everything a started app holds
    return app


def register_extensions(app: Flask) -> None:
    from app.core.i18n import select_locale, select_timezone

    configure_database_session(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    bootstrap.init_app(app)
    limiter.init_app(app)

    from app.auth.loader import configure_login

    configure_login(login_manager)


def configure_database_session(app: Flask) -> None:
    """PostgreSQL sessions run in UTC, whatever the server's or database's default.

    Timestamps are stored as UTC in ``timestamp without time zone`` columns; the driver sends
    aware datetimes as ``timestamptz``, which PostgreSQL converts with the session's time
    zone. A server set to Asia/Shanghai would otherwise shift every stored time by 8 hours.
    """
    if not str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("options", "-c timezone=UTC")
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_blueprints(app: Flask) -> None:
    import importlib

    for package_name, web_modules in BLUEPRINTS.items():
        package = importlib.import_module(package_name)
        for module_name in web_modules:
            importlib.import_module(f"{package_name}.{module_name}")
        app.register_blueprint(package.bp)


def register_security(app: Flask) -> None:
    from app.core.security import register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from app.errors.handlers import register

    register(app)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from app.core.templating import register

    register(app)


def configure_logging(app: Flask) -> None:
    from app.core.logging import configure

    configure(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # pragma: no cover - driver hook
    """Foreign keys on, and WAL for concurrent readers, on every SQLite connection."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable with WAL, twice the write rate
        cursor.close()
