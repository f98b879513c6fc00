"""Driver-level SQL for the bulk paths (observation imports, analysis frames).

Building ORM or Core rows costs microseconds per row; for hundreds of thousands of rows the
bulk paths read and write through the session's own DBAPI connection (same transaction)
with the driver's placeholders, and convert values the way SQLAlchemy stores them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.extensions import db


def raw_connection() -> Any:
    """The DBAPI connection of the session's current transaction."""
    return db.session.connection().connection


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def placeholder() -> str:
    return "%s" if is_postgres() else "?"


def placeholders(n: int) -> str:
    return ", ".join([placeholder()] * n)


def db_date(day: date | None) -> Any:
    """A date as a parameter: a ``date`` for PostgreSQL, ISO text as SQLAlchemy stores it
    in SQLite."""
    return day if is_postgres() else (day.isoformat() if day else None)


def sqlite_datetime(moment: datetime) -> str:
    """A timestamp as SQLAlchemy stores it in SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
