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


def _scratch_postgres_url(suffix: str) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    base = make_url(url)
    scratch = base.set(database=f"{base.database}_{suffix}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch.database}"'))
        connection.execute(text(f'CREATE DATABASE "{scratch.database}"'))
    admin.dispose()
    return scratch.render_as_string(hide_password=False)


def _json_null_choices_become_sql_null(url: str) -> None:
    """0003: answers written as JSON ``null`` by older code read as SQL NULL afterwards,
    and real choices are left alone."""
    from datetime import date

    from app.feedback import questionnaires as svc
    from app.feedback import responses
    from app.models import Arm, Assignment, Audience, Pilot, PilotStatus, Site

    app = _app_for(url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        site = Site(code="M01", name="Migration site", region="East")
        pilot = Pilot(name="Migration", status=PilotStatus.RUNNING, start_date=date(2026, 1, 5))
        pilot.assignments.append(Assignment(site=site, arm=Arm.PILOT))
        db.session.add(pilot)
        svc.ensure_forms(pilot)
        form = svc.current_form(pilot.id, Audience.CUSTOMER)
        answers, errors = responses.clean_answers(
            form, {"overall": "5", "ease": "4", "recommend": "9", "age_band": "60+"}
        )
        assert not errors, errors
        responses.submit_response(form, site.id, answers, idempotency_key="migration-key-000001")
        db.session.commit()
        # what the code before none_as_null stored for an answer without choices
        db.session.execute(
            text(
                "UPDATE feedback_answers SET value_choices = 'null'"
                " WHERE question_key <> 'age_band'"
            )
        )
        db.session.commit()
        downgrade(directory=str(MIGRATIONS), revision="0002")
        upgrade(directory=str(MIGRATIONS))
        rows = db.session.execute(
            text(
                "SELECT question_key, value_choices IS NULL FROM feedback_answers"
                " ORDER BY question_key"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            ("age_band", False),
            ("ease", True),
            ("overall", True),
            ("recommend", True),
        ]
        choices = db.session.execute(
            text(
                "SELECT CAST(value_choices AS TEXT) FROM feedback_answers"
                " WHERE question_key = 'age_band'"
            )
        ).scalar()
        assert choices.replace(" ", "") == '["60+"]'
        db.session.remove()
        db.engine.dispose()


def test_json_null_choices_become_sql_null_on_sqlite(tmp_path):
    _json_null_choices_become_sql_null(f"sqlite:///{tmp_path / 'json-null.db'}")


@pytest.mark.postgres
def test_json_null_choices_become_sql_null_on_postgresql():
    _json_null_choices_become_sql_null(_scratch_postgres_url("json_null"))


def test_migrations_have_a_single_head():
    app = _app_for("sqlite://")
    with app.app_context():
        script = ScriptDirectory(str(MIGRATIONS))
        assert len(script.get_heads()) == 1


def test_upgrade_and_downgrade_on_sqlite(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'migrate.db'}")


@pytest.mark.postgres
def test_upgrade_and_downgrade_on_postgresql():
    _round_trip(_scratch_postgres_url("migrations"))
