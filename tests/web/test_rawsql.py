"""The driver SQL of the bulk paths (app/core/rawsql.py): Core statements rendered by the
session's dialect run on the raw connection exactly as SQLAlchemy would run them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import event, insert, select

from app.core import rawsql
from app.extensions import db
from app.models import Observation


def _observations(make_site, make_metric):
    site, other = make_site(), make_site()
    metric = make_metric()
    for n, day in enumerate((date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3))):
        for where in (site, other):
            db.session.add(Observation(site=where, metric=metric, date=day, value=n))
    db.session.commit()
    return site, metric


def test_a_core_query_runs_on_the_raw_connection_as_sqlalchemy_would_run_it(
    app, make_site, make_metric
):
    site, metric = _observations(make_site, make_metric)
    table = Observation.__table__
    query = (
        select(table.c.id)
        .where(table.c.site_id.in_([site.id, site.id + 1000]))
        .where(table.c.metric_id.in_([metric.id]), table.c.date >= date(2026, 1, 2))
        .order_by(table.c.id)
    )
    sql, params = rawsql.driver_sql(query)
    assert "POSTCOMPILE" not in sql and len(params) == 4  # one placeholder per list value
    assert (sql, params) == _what_sqlalchemy_sends(query)
    cursor = rawsql.raw_connection().cursor()
    try:
        cursor.execute(sql, params)
        found = [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
    assert found == db.session.scalars(query).all()
    assert len(found) == 2  # the date compared as a date, not as text against a date object


def _what_sqlalchemy_sends(query) -> tuple:
    """The statement and parameters SQLAlchemy itself hands the driver for ``query``."""
    sent = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        db.session.execute(query).all()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    return statement, list(parameters) if isinstance(parameters, tuple) else parameters


def test_a_value_is_stored_as_sqlalchemy_stores_it(app, make_site, make_metric):
    site, metric = make_site(), make_metric()
    now = datetime(2026, 1, 5, 8, 30, 15, 250, tzinfo=UTC)
    orm = Observation(site=site, metric=metric, date=date(2026, 1, 1), value=1, updated_at=now)
    db.session.add(orm)
    db.session.commit()
    table = Observation.__table__
    columns = {
        "site_id": [site.id],
        "metric_id": [metric.id],
        "date": [rawsql.stored(table.c.date, date(2026, 1, 2))],
        "value": [2.0],
        "updated_at": [rawsql.stored(table.c.updated_at, now)],
    }
    cursor = rawsql.raw_connection().cursor()
    try:
        cursor.executemany(*rawsql.driver_many(insert(table).inline(), columns))
        # read the cells as the database holds them (text on SQLite), not through the ORM
        cursor.execute(*rawsql.driver_sql(select(table.c.updated_at).order_by(table.c.id)))
        by_orm, by_driver = (row[0] for row in cursor.fetchall())
    finally:
        cursor.close()
    assert by_driver == by_orm


def test_an_executemany_takes_its_values_in_the_order_of_the_placeholders(
    app, make_site, make_metric
):
    site, metric = make_site(), make_metric()
    db.session.commit()
    table = Observation.__table__
    now = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    columns = {  # not the table's column order
        "value": [1.5, 2.5],
        "date": [rawsql.stored(table.c.date, date(2026, 1, d)) for d in (1, 2)],
        "updated_at": [rawsql.stored(table.c.updated_at, now)] * 2,
        "metric_id": [metric.id] * 2,
        "site_id": [site.id] * 2,
    }
    cursor = rawsql.raw_connection().cursor()
    try:
        cursor.executemany(*rawsql.driver_many(insert(table).inline(), columns))
    finally:
        cursor.close()
    rows = db.session.execute(
        select(Observation.date, Observation.value, Observation.site_id).order_by(Observation.date)
    ).all()
    assert [tuple(r) for r in rows] == [
        (date(2026, 1, 1), 1.5, site.id),
        (date(2026, 1, 2), 2.5, site.id),
    ]
