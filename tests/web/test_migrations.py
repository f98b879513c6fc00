"""Migrations: one head, upgrade from empty and downgrade to base, on SQLite and PostgreSQL,
and the migrated schema equals the models (autogenerate finds nothing to add)."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.config import BASE_DIR, TestConfig
from app.extensions import db

MIGRATIONS = BASE_DIR / "migrations"


def _app_for(url: str):
    class MigrationConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    return create_app(MigrationConfig)


def _round_trip(url: str) -> None:
    app = _app_for(url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, db.metadata)
            tables = set(inspect(connection).get_table_names())
        assert diff == [], f"models and migrations disagree: {diff}"
        assert {"sites", "pilots", "observations", "audit_events"} <= tables
        downgrade(directory=str(MIGRATIONS), revision="base")
        with db.engine.connect() as connection:
            left = set(inspect(connection).get_table_names()) - {"alembic_version"}
        assert left == set()
        db.engine.dispose()


def test_migrations_have_a_single_head():
    app = _app_for("sqlite://")
    with app.app_context():
        script = ScriptDirectory(str(MIGRATIONS))
        assert len(script.get_heads()) == 1


def test_upgrade_and_downgrade_on_sqlite(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'migrate.db'}")


@pytest.mark.postgres
def test_upgrade_and_downgrade_on_postgresql():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    base = make_url(url)
    scratch = base.set(database=f"{base.database}_migrations")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch.database}"'))
        connection.execute(text(f'CREATE DATABASE "{scratch.database}"'))
    admin.dispose()
    _round_trip(scratch.render_as_string(hide_password=False))
