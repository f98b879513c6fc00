"""Backup and restore of PostgreSQL, as docs/operations.md tells an operator to do it.

A database migrated with ``flask db upgrade`` and seeded with the demo chain is dumped with
``pg_dump --format=custom`` and restored with ``pg_restore`` into an empty database: every
table holds the same rows, the schema is at the same migration, and the app writes to the
restored database (its id sequences came along). Skips without PostgreSQL
(``TEST_DATABASE_URL``) or without ``pg_dump``/``pg_restore``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from app import create_app
from app.config import BASE_DIR, TestConfig
from app.extensions import db

pytestmark = pytest.mark.postgres


def _libpq(url: URL) -> str:
    """The libpq address pg_dump and pg_restore take (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _recreate(admin_url: URL, name: str, *, create: bool = True) -> URL:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.set(database=name)


def _row_counts(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            return {
                table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in sorted(tables)
            }
    finally:
        engine.dispose()


def _app_on(url: URL):
    class BackupConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url.render_as_string(hide_password=False)

    return create_app(BackupConfig)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{command[0]} failed: {result.stderr[-2000:]}"


@pytest.fixture
def databases():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore are not installed")
    base = make_url(url)
    source = _recreate(base, f"{base.database}_backup")
    target = _recreate(base, f"{base.database}_restored")
    yield source, target
    for name in (source.database, target.database):
        _recreate(base, name, create=False)


def test_a_dump_of_the_demo_restores_into_an_empty_database(databases, tmp_path):
    source, target = databases
    app = _app_on(source)
    with app.app_context(), app.test_request_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        from app.demo.seed import seed

        seed()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    before = _row_counts(source)
    assert before["sites"] > 0 and before["observations"] > 1000 and before["alembic_version"] == 1

    dump = tmp_path / "rollwise.dump"
    _run("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _libpq(source))
    _run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(target)}", str(dump))

    assert _row_counts(target) == before
    restored = _app_on(target)
    with restored.app_context():
        from app.models import Site

        site = Site(code="RESTORED-1", name="Opened after the restore", region="East")
        db.session.add(site)
        db.session.commit()  # the id sequences were restored: no clash with restored rows
        assert site.id > before["sites"]
        db.session.remove()
        db.engine.dispose()
