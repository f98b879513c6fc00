"""Stored times are UTC on PostgreSQL even when the server's default time zone is not.

A chain in China will often run PostgreSQL with ``timezone = 'Asia/Shanghai'``; the driver
sends aware datetimes as ``timestamptz`` and the server converts them with the session's time
zone into our ``timestamp without time zone`` columns. The app pins its sessions to UTC.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import AuditEvent


@pytest.mark.postgres
def test_times_are_stored_as_utc_on_a_server_set_to_shanghai():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    scratch = make_url(url).set(database=f"{make_url(url).database}_tz")
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch.database}"'))
        connection.execute(text(f'CREATE DATABASE "{scratch.database}"'))
        connection.execute(
            text(f"ALTER DATABASE \"{scratch.database}\" SET timezone TO 'Asia/Shanghai'")
        )
    admin.dispose()
    plain = create_engine(scratch)
    with plain.connect() as connection:  # what a connection without the app's setting sees
        assert connection.execute(text("SHOW TimeZone")).scalar() == "Asia/Shanghai"
    plain.dispose()

    class ShanghaiServer(TestConfig):
        SQLALCHEMY_DATABASE_URI = scratch.render_as_string(hide_password=False)

    app = create_app(ShanghaiServer)
    moment = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    with app.app_context():
        db.create_all()
        db.session.add(AuditEvent(at=moment, action="test", entity_type="test"))
        db.session.commit()
        stored = db.session.execute(text("SELECT at FROM audit_events")).scalar()
        assert stored == moment.replace(tzinfo=None)  # not 09:30
        assert db.session.scalar(select(AuditEvent.at)) == moment.replace(tzinfo=None)
        db.session.remove()
        db.engine.dispose()
