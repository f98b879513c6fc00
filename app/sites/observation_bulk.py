"""Writing many observations at the database's own speed: a staging table and one upsert.

Rows go into a temporary **staging table** on the caller's connection a block at a time
(PostgreSQL: binary ``COPY`` built with numpy, no Python object per row; SQLite:
``executemany``), so memory stays bounded by the block whatever the number of rows. Then,
inside the caller's transaction:

* duplicates (same site, metric and day twice) are found in SQL, naming the rows;
* one ``INSERT … SELECT … ON CONFLICT (site_id, date, metric_id) DO UPDATE`` writes the rows
  that are new or changed (values equal within :data:`VALUE_TOLERANCE` are left alone; a
  blank denominator keeps the stored one), and every changed value gets an
  ``ObservationRevision`` with the value it replaced;
* the counts inserted / updated / unchanged come from the statement itself (on PostgreSQL
  from its ``RETURNING`` rows, so a concurrent identical import finds nothing left to change
  and writes no second revision).

Nothing is committed here: the caller's transaction makes it atomic.

On PostgreSQL the per-row foreign-key triggers of ``observations`` (site, metric, import
batch: three lookups per row) cost more than everything else together. When the database
role may set ``session_replication_role`` (a superuser, or PostgreSQL ≥ 15 with
``GRANT SET ON PARAMETER session_replication_role TO <role>``), the upsert checks the
references once per distinct key instead — the sites and metrics it refers to are locked
``FOR KEY SHARE`` exactly as the triggers would lock them, the batch row is the
transaction's own — and runs that one statement with the triggers off
(``SET LOCAL session_replication_role = replica``, reset at once). Without that right, or
when a reference is missing, the triggers run as usual.

:func:`bulk_write` is the public entry for code that has ids already (seeding, jobs); the
file and API imports (:mod:`app.sites.observation_import`) use :class:`Stage` directly so
that a preview can validate and count without writing.
"""

# The SQL here names the stage by its generated name (``observation_stage_<n>``) and the
# fixed tables and tolerance; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy.engine import Connection

from app.core import clock

#: Values closer than this are the same value (no update, no revision).
VALUE_TOLERANCE = 1e-9
#: Rows per block written to the staging table.
DEFAULT_BATCH = 100_000
#: Columns of a staged block (a DataFrame): the file's row number and the observation.
STAGE_COLUMNS = ("row", "site_id", "metric_id", "date", "value", "denominator")

_EPOCH = np.datetime64("2000-01-01", "D")  # PostgreSQL's day zero
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
#: One staged row in PostgreSQL's binary COPY format: field count, then length + value.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("row_len", ">i4"), ("row", ">i8"),
        ("site_len", ">i4"), ("site_id", ">i4"),
        ("metric_len", ">i4"), ("metric_id", ">i4"),
        ("date_len", ">i4"), ("date", ">i4"),
        ("value_len", ">i4"), ("value", ">f8"),
        ("den_len", ">i4"), ("denominator", ">f8"),
    ]
)  # fmt: skip
_names = itertools.count(1)


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """What a bulk write did: rows inserted, rows updated (each with a revision), rows unchanged."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A staged row whose site, metric and day an earlier row already has."""

    row: int
    first: int
    metric_id: int


class StageGone(RuntimeError):
    """The staging table is no longer there (its transaction ended, or another connection)."""


class Stage:
    """A temporary table of observations to write, on one connection, in one transaction.

    ``write(block)`` adds a DataFrame with :data:`STAGE_COLUMNS` (``date`` as
    ``datetime64``, a missing denominator as NaN); :meth:`duplicates`, :meth:`compare`
    (counts without writing) and :meth:`upsert` work on everything staged. On PostgreSQL the
    table is dropped when the transaction ends; :meth:`drop` removes it earlier.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.name = f"observation_stage_{next(_names)}"
        self.n_rows = 0
        self._dbapi = connection.connection.driver_connection
        columns = (
            "row BIGINT, site_id INTEGER, metric_id INTEGER, date {date}, value {real}, "
            "denominator {real}"
        )
        if self.postgres:
            definition = columns.format(date="DATE", real="DOUBLE PRECISION")
            self._run(f"CREATE TEMPORARY TABLE {self.name} ({definition}) ON COMMIT DROP")
        else:
            self._run(f"DROP TABLE IF EXISTS temp.{self.name}")
            definition = columns.format(date="TEXT", real="REAL")
            self._run(f"CREATE TEMPORARY TABLE {self.name} ({definition})")

    # ------------------------------------------------------------ plumbing

    def _run(self, sql: str, params: Any = None) -> Any:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(sql, params) if params is not None else cursor.execute(sql)
            return cursor.fetchall() if cursor.description else cursor.rowcount
        finally:
            cursor.close()

    @property
    def _mark(self) -> str:
        return "%s" if self.postgres else "?"

    @property
    def _den(self) -> str:
        """The staged denominator as SQL (NaN stands for none in PostgreSQL's binary COPY)."""
        return "NULLIF(s.denominator, 'NaN'::float8)" if self.postgres else "s.denominator"

    def exists(self) -> bool:
        if self.postgres:
            found = self._run("SELECT to_regclass(%s)", (f"pg_temp.{self.name}",))
            return found[0][0] is not None
        found = self._run("SELECT 1 FROM sqlite_temp_master WHERE name = ?", (self.name,))
        return bool(found)

    def drop(self) -> None:
        self._run(f"DROP TABLE IF EXISTS {self.name}")

    # ------------------------------------------------------------ writing the stage

    def write(self, block: pd.DataFrame) -> None:
        """Add the rows of ``block`` (columns :data:`STAGE_COLUMNS`)."""
        if block.empty:
            return
        if self.postgres:
            self._copy(block)
        else:
            self._insert(block)
        self.n_rows += len(block)

    def _copy(self, block: pd.DataFrame) -> None:
        packed = np.empty(len(block), dtype=_COPY_ROW)
        packed["fields"] = len(STAGE_COLUMNS)
        for name, size in (("row", 8), ("site", 4), ("metric", 4), ("date", 4)):
            packed[f"{name}_len"] = size
        for name in ("value", "den"):
            packed[f"{name}_len"] = 8
        packed["row"] = block["row"].to_numpy(dtype="int64")
        packed["site_id"] = block["site_id"].to_numpy(dtype="int64")
        packed["metric_id"] = block["metric_id"].to_numpy(dtype="int64")
        days = block["date"].to_numpy(dtype="datetime64[D]")
        packed["date"] = (days - _EPOCH).astype("int64")
        packed["value"] = block["value"].to_numpy(dtype="float64")
        packed["denominator"] = block["denominator"].to_numpy(dtype="float64", na_value=np.nan)
        columns = ", ".join(STAGE_COLUMNS)
        cursor = self._dbapi.cursor()
        try:
            with cursor.copy(f"COPY {self.name} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_COPY_HEADER + packed.tobytes() + _COPY_TRAILER)
        finally:
            cursor.close()

    def _insert(self, block: pd.DataFrame) -> None:
        days = block["date"].to_numpy(dtype="datetime64[D]").astype(str)
        den = block["denominator"].astype(object)
        den = den.where(block["denominator"].notna(), None)
        rows = zip(
            block["row"].tolist(),
            block["site_id"].tolist(),
            block["metric_id"].tolist(),
            days.tolist(),
            block["value"].tolist(),
            den.tolist(),
            strict=True,
        )
        cursor = self._dbapi.cursor()
        try:
            cursor.executemany(f"INSERT INTO {self.name} VALUES (?, ?, ?, ?, ?, ?)", rows)
        finally:
            cursor.close()

    # ------------------------------------------------------------ checks

    def duplicates(self, limit: int, *, per_row: bool = False) -> tuple[int, list[Duplicate]]:
        """How many staged rows repeat an earlier row's site, metric and day, and the first
        ``limit`` of them (``per_row``: each row once, as a wide file's row holds several
        metrics)."""
        if not self._run(
            f"SELECT 1 FROM {self.name} GROUP BY site_id, metric_id, date "
            "HAVING count(*) > 1 LIMIT 1"
        ):
            return 0, []
        later = (
            f"SELECT row, metric_id, min(row) OVER (PARTITION BY site_id, metric_id, date) "
            f"AS first FROM {self.name}"
        )
        if per_row:
            later = (
                f"SELECT row, min(metric_id) AS metric_id, min(first) AS first FROM ({later}) d "
                "WHERE row <> first GROUP BY row"
            )
        else:
            later = f"SELECT row, metric_id, first FROM ({later}) d WHERE row <> first"
        total = self._run(f"SELECT count(*) FROM ({later}) x")[0][0]
        listed = self._run(
            f"SELECT row, first, metric_id FROM ({later}) x ORDER BY row LIMIT {int(limit)}"
        )
        return int(total), [Duplicate(int(r), int(f), int(m)) for r, f, m in listed]

    def _differs(self) -> str:
        tol = repr(VALUE_TOLERANCE)
        return (
            f"(abs(o.value - s.value) > {tol} OR ({self._den} IS NOT NULL AND "
            f"(o.denominator IS NULL OR abs(o.denominator - {self._den}) > {tol})))"
        )

    def _join(self) -> str:
        return (
            f"{self.name} s LEFT JOIN observations o ON o.site_id = s.site_id "
            "AND o.date = s.date AND o.metric_id = s.metric_id"
        )

    def compare(self) -> WriteCounts:
        """What :meth:`upsert` would do with the stored rows as they are now (writes nothing)."""
        if not self.exists():
            raise StageGone(self.name)
        new, changed, total = self._run(
            "SELECT coalesce(sum(CASE WHEN o.id IS NULL THEN 1 ELSE 0 END), 0), "
            f"coalesce(sum(CASE WHEN o.id IS NOT NULL AND {self._differs()} THEN 1 ELSE 0 END), 0),"
            f" count(*) FROM {self._join()}"
        )[0]
        return WriteCounts(int(new), int(changed), int(total) - int(new) - int(changed))

    # ------------------------------------------------------------ writing observations

    def upsert(self, batch_id: int | None, now: datetime | None = None) -> WriteCounts:
        """Write every staged row (new or changed) in the current transaction, with a
        revision for each changed value; the counts."""
        if not self.exists():
            raise StageGone(self.name)
        now = now or clock.utc_now()
        if self.postgres:
            return self._upsert_postgres(batch_id, now)
        return self._upsert_sqlite(batch_id, now)

    def _upsert_postgres(self, batch_id: int | None, now: datetime) -> WriteCounts:
        sql = f"""
            WITH src AS (
                SELECT s.site_id, s.metric_id, s.date, s.value, {self._den} AS denominator,
                       o.id AS old_id, o.value AS old_value
                FROM {self._join()}
                WHERE o.id IS NULL OR {self._differs()}
            ), up AS (
                INSERT INTO observations
                    (site_id, metric_id, date, value, denominator, batch_id, updated_at)
                SELECT site_id, metric_id, date, value, denominator, %(batch)s, %(now)s
                FROM src
                ON CONFLICT (site_id, date, metric_id) DO UPDATE SET
                    value = excluded.value,
                    denominator = coalesce(excluded.denominator, observations.denominator),
                    batch_id = excluded.batch_id,
                    updated_at = excluded.updated_at
                WHERE abs(observations.value - excluded.value) > {VALUE_TOLERANCE!r}
                   OR (excluded.denominator IS NOT NULL AND (observations.denominator IS NULL
                       OR abs(observations.denominator - excluded.denominator)
                          > {VALUE_TOLERANCE!r}))
                RETURNING id, value, (xmax = 0) AS inserted
            ), revised AS (
                INSERT INTO observation_revisions
                    (observation_id, old_value, new_value, batch_id, changed_at)
                SELECT up.id, src.old_value, up.value, %(batch)s, %(now)s
                FROM up JOIN src ON src.old_id = up.id
                WHERE NOT up.inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM up
        """
        params = {"batch": batch_id, "now": now}
        fast = self._without_fk_triggers(batch_id)
        try:
            inserted, updated = self._run(sql, params)[0]
        finally:
            if fast:
                self._run("SET LOCAL session_replication_role = origin")
        unchanged = self.n_rows - int(inserted) - int(updated)
        return WriteCounts(int(inserted), int(updated), unchanged)

    def _without_fk_triggers(self, batch_id: int | None) -> bool:
        """PostgreSQL: check the references once (locking them as the foreign-key triggers
        would) and turn the triggers off for the next statement, if this role may."""
        for table, column in (("sites", "site_id"), ("metrics", "metric_id")):
            wanted = self._run(f"SELECT count(DISTINCT {column}) FROM {self.name}")[0][0]
            locked = self._run(
                f"SELECT count(*) FROM (SELECT id FROM {table} WHERE id IN "
                f"(SELECT DISTINCT {column} FROM {self.name}) FOR KEY SHARE) x"
            )[0][0]
            if locked != wanted:
                return False  # a missing reference: let the triggers name it
        if batch_id is not None and not self._run(
            "SELECT 1 FROM import_batches WHERE id = %s FOR KEY SHARE", (batch_id,)
        ):
            return False
        self._run("SAVEPOINT rollwise_stage_fk")
        try:
            self._run("SET LOCAL session_replication_role = replica")
        except psycopg.Error:  # no right to: the triggers run as usual
            self._run("ROLLBACK TO SAVEPOINT rollwise_stage_fk")
            self._run("RELEASE SAVEPOINT rollwise_stage_fk")
            return False
        self._run("RELEASE SAVEPOINT rollwise_stage_fk")
        return True

    def _upsert_sqlite(self, batch_id: int | None, now: datetime) -> WriteCounts:
        # the transaction holds SQLite's write lock (one writer): nothing changes meanwhile
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DateTime
        updated = self._run(
            "INSERT INTO observation_revisions "
            "(observation_id, old_value, new_value, batch_id, changed_at) "
            f"SELECT o.id, o.value, s.value, ?, ? FROM {self._join()} "
            f"WHERE o.id IS NOT NULL AND {self._differs()}",
            (batch_id, stamp),
        )
        written = self._run(
            "INSERT INTO observations "
            "(site_id, metric_id, date, value, denominator, batch_id, updated_at) "
            f"SELECT s.site_id, s.metric_id, s.date, s.value, s.denominator, ?, ? "
            f"FROM {self.name} s WHERE true "
            "ON CONFLICT (site_id, date, metric_id) DO UPDATE SET "
            "value = excluded.value, "
            "denominator = coalesce(excluded.denominator, observations.denominator), "
            "batch_id = excluded.batch_id, updated_at = excluded.updated_at "
            f"WHERE abs(observations.value - excluded.value) > {VALUE_TOLERANCE!r} "
            "OR (excluded.denominator IS NOT NULL AND (observations.denominator IS NULL "
            f"OR abs(observations.denominator - excluded.denominator) > {VALUE_TOLERANCE!r}))",
            (batch_id, stamp),
        )
        inserted = written - updated
        return WriteCounts(inserted, updated, self.n_rows - inserted - updated)


# ---------------------------------------------------------------- the public entry


def bulk_write(
    connection: Connection,
    rows: Iterable[tuple[Any, ...]],
    *,
    batch_id: int | None = None,
    batch: int = DEFAULT_BATCH,
    now: datetime | None = None,
) -> WriteCounts:
    """Upsert observations from an iterator of rows; the counts. Memory bounded by ``batch``.

    ``rows`` yields ``(site_id, metric_id, day, value)`` or ``(site_id, metric_id, day,
    value, denominator)`` (``day`` a ``date``; ``denominator`` ``None`` keeps a stored one).
    They are consumed ``batch`` at a time into a staging table on ``connection`` (a
    SQLAlchemy ``Connection``, e.g. ``db.session.connection()``), then written in one
    statement inside the connection's current transaction, which the caller commits:
    changed values get an ``ObservationRevision`` tied to ``batch_id`` (an ``ImportBatch``
    id, or ``None``), equal values are left alone.

    Raises ``ValueError`` naming the positions (counted from 1) of rows that repeat an
    earlier row's site, metric and day (nothing is written); an unknown site or metric id
    raises the database's ``IntegrityError``. Ids are trusted otherwise: file and API input
    goes through :mod:`app.sites.observation_import`, which validates every cell first.
    """
    stage = Stage(connection)
    for block in _blocks(iter(rows), batch):
        stage.write(block)
    total, listed = stage.duplicates(10) if stage.n_rows else (0, [])
    counts = stage.upsert(batch_id, now) if stage.n_rows and not total else WriteCounts()
    stage.drop()  # (a failed statement above leaves it to the caller's rollback)
    if total:
        where = ", ".join(f"row {d.row} (same as row {d.first})" for d in listed)
        raise ValueError(f"{total} rows repeat a site, metric and day: {where}")
    return counts


def _blocks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[pd.DataFrame]:
    start = 1
    while block := list(itertools.islice(rows, size)):
        frame = pd.DataFrame.from_records(
            [(*r, None) if len(r) == 4 else tuple(r) for r in block],
            columns=list(STAGE_COLUMNS[1:]),
        )
        del block
        frame.insert(0, "row", np.arange(start, start + len(frame), dtype="int64"))
        start += len(frame)
        frame["date"] = pd.to_datetime(frame["date"].map(_iso))
        frame["value"] = frame["value"].astype("float64")
        frame["denominator"] = pd.to_numeric(frame["denominator"]).astype("float64")
        yield frame


def _iso(day: date | str) -> str:
    return day.isoformat() if isinstance(day, date) else str(day)
