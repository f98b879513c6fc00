"""Driver-level SQL for the bulk paths (observation imports, analysis frames).

Building ORM or Core rows costs microseconds per row; for hundreds of thousands of rows the
bulk paths read and write through the session's own DBAPI connection (same transaction).
The SQL itself is still written with SQLAlchemy (Core statements, ``in_()`` lists,
``bindparam()``) and rendered by the session's dialect, so the placeholders are the driver's
own paramstyle and a list becomes one placeholder per value without any string being put
together by hand here; values are converted the way SQLAlchemy stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeEngine

from app.extensions import db


def raw_connection() -> Any:
    """The DBAPI connection of the session's current transaction."""
    return db.session.connection().connection


def dialect() -> Dialect:
    return db.session.get_bind().dialect


def is_postgres() -> bool:
    return dialect().name == "postgresql"


def driver_sql(statement: ClauseElement) -> tuple[str, Sequence[Any] | dict[str, Any]]:
    """``statement`` as the SQL string and parameters the session's driver takes.

    Rendered by SQLAlchemy's dialect with ``render_postcompile``: an ``in_()`` list (an
    expanding bind parameter) becomes one placeholder per value. Typed parameters (a date
    compared with a ``Date`` column) go through their type's bind processor, as SQLAlchemy
    itself would send them.
    """
    compiled = statement.compile(dialect=dialect(), compile_kwargs={"render_postcompile": True})
    values = dict(compiled.params)
    for key, bind in compiled.binds.items():
        process = _bind_processor(bind.type)
        if process is not None and key in values:
            values[key] = process(values[key])
    if compiled.positiontup is None:
        return str(compiled), values
    return str(compiled), [values[key] for key in compiled.positiontup]


def driver_many(
    statement: ClauseElement, columns: Mapping[str, Sequence[Any]]
) -> tuple[str, Iterable[Sequence[Any] | dict[str, Any]]]:
    """An ``executemany`` of ``statement`` over ``columns`` (parameter name → values).

    An ``insert(table)`` takes its columns' names as parameters; other statements name them
    with ``bindparam()``. The rows are tuples in the order of the placeholders (qmark and
    format paramstyles) or dicts (named paramstyles). Values go to the driver as given: the
    caller converts a whole column at once (see :func:`stored`).
    """
    compiled = statement.compile(dialect=dialect(), column_keys=list(columns))
    names = list(columns)
    if compiled.positiontup is None:
        rows = (dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True))
        return str(compiled), rows
    return str(compiled), zip(*(columns[key] for key in compiled.positiontup), strict=True)


def stored(column: ColumnElement[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy sends it for ``column`` (on SQLite a date is ISO text and a
    timestamp ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    process = _bind_processor(column.type)
    return value if process is None or value is None else process(value)


def _bind_processor(type_: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """The conversion SQLAlchemy applies to a value of ``type_`` on the session's database
    (that of the dialect's own implementation of the type)."""
    current = dialect()
    return type_.dialect_impl(current).bind_processor(current)
