"""Writing many observations in bulk: a staging table, then set-based SQL.

Rows go into a temporary **staging table** on the caller's connection a block at a time
(PostgreSQL: binary ``COPY`` built with numpy, no Python object per row; SQLite:
``executemany``), so memory stays bounded by the block whatever the number of rows. Then,
inside the caller's transaction:

* duplicates (same site, metric and day twice) are found in SQL, naming the rows;
* changed values are updated in one ``UPDATE … FROM`` (values equal within
  :data:`VALUE_TOLERANCE` are left alone; a blank denominator keeps the stored one), each
  with an ``ObservationRevision`` holding the value it replaced. On PostgreSQL a
  concurrent identical import waits for the row lock and then finds nothing left to
  change, so it writes no second revision;
* new rows go in with one ``INSERT … SELECT`` in the order of the unique index (when
  nothing is stored for the staged metrics and days, without looking for matches). A
  concurrent insert of the same key makes it fail with ``IntegrityError``: nothing is
  written, and the import can simply be run again;
* the counts inserted / updated / unchanged are those of the statements.

Nothing is committed here: the caller's transaction makes it atomic.

On PostgreSQL the per-row foreign-key triggers of ``observations`` (site, metric, import
batch: three lookups per row) cost more than the insert itself. When the database role may
set ``session_replication_role`` (a superuser, or PostgreSQL ≥ 15 with
``GRANT SET ON PARAMETER session_replication_role TO <role>``), the references are checked
once per distinct key instead — the sites and metrics are locked ``FOR KEY SHARE`` exactly
as the triggers would lock them, the batch row is the transaction's own — and the update
and insert run with the triggers off (``SET LOCAL session_replication_role = replica``,
reset right after). Without that right, with :data:`SKIP_FK_TRIGGERS` off, or when a
reference is missing, the triggers run as usual.

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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.core import clock

#: Values closer than this are the same value (no update, no revision).
VALUE_TOLERANCE = 1e-9
#: PostgreSQL: check references once per key and run the upsert without the per-row
#: foreign-key triggers when the role may (see the module's docstring). ``False``: always
#: let the triggers run.
SKIP_FK_TRIGGERS = True
#: PostgreSQL ``work_mem`` for the import's transaction (hash joins over the staged rows).
WORK_MEM = "64MB"
#: SQLite: page cache (KiB) while the staged rows are checked and written, so the indexes
#: being filled stay in memory (the default is 2 MB); the connection's own is restored.
SQLITE_CACHE_KB = 131_072
#: Rows per block written to the staging table.
DEFAULT_BATCH = 100_000
#: PostgreSQL: a write of at least this many new or changed rows refreshes the planner's
#: statistics of ``observations`` (see :meth:`Stage._refresh_statistics`).
ANALYZE_AFTER_ROWS = 100_000
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
        self.site_ids: set[int] = set()
        self.metric_ids: set[int] = set()
        self.first: np.datetime64 | None = None
        self.last: np.datetime64 | None = None
        self._analysed = False
        self._dbapi = connection.connection.driver_connection
        columns = (
            "row BIGINT, site_id INTEGER, metric_id INTEGER, date {date}, value {real}, "
            "denominator {real}"
        )
        if self.postgres:
            definition = columns.format(date="DATE", real="DOUBLE PRECISION")
            # for this transaction: no JIT compile (seconds) for one-off statements, and
            # room for the hash joins and aggregates over the staged rows
            self._run("SET LOCAL jit = off")
            self._run(f"SET LOCAL work_mem = '{WORK_MEM}'")
            self._run(f"CREATE TEMPORARY TABLE {self.name} ({definition}) ON COMMIT DROP")
        else:
            self._run(f"DROP TABLE IF EXISTS temp.{self.name}")
            definition = columns.format(date="TEXT", real="REAL")
            self._run(f"CREATE TEMPORARY TABLE {self.name} ({definition})")

    # ------------------------------------------------------------ plumbing

    def _run(self, sql: str, params: Any = None) -> Any:
        """Rows of a query, or the rowcount; driver errors as SQLAlchemy's (an
        ``IntegrityError`` is one whichever the database)."""
        result = self.connection.exec_driver_sql(sql, params if params is not None else ())
        return result.fetchall() if result.returns_rows else result.rowcount

    @contextmanager
    def _cache(self) -> Iterator[None]:
        """SQLite: a larger page cache for the statements inside (then the previous one)."""
        if self.postgres:
            yield
            return
        previous = int(self._run("PRAGMA cache_size")[0][0])
        self._run(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
        try:
            yield
        finally:
            self._run(f"PRAGMA cache_size = {previous}")

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
        self._analysed = False
        self.site_ids.update(int(i) for i in block["site_id"].unique())
        self.metric_ids.update(int(i) for i in block["metric_id"].unique())
        days = block["date"].to_numpy(dtype="datetime64[D]")
        low, high = days.min(), days.max()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)

    def _analyse(self) -> None:
        """PostgreSQL: statistics of the staged rows, for the plans of the joins."""
        if self.postgres and not self._analysed:
            self._run(f"ANALYZE {self.name}")
        self._analysed = True

    def _any_stored(self) -> bool:
        """Whether any stored observation has one of the staged metrics on a staged day."""
        if self.first is None:
            return False
        metrics = ", ".join(str(int(m)) for m in sorted(self.metric_ids))
        found = self._run(
            f"SELECT 1 FROM observations WHERE metric_id IN ({metrics}) "
            f"AND date >= {self._mark} AND date <= {self._mark} LIMIT 1",
            (str(self.first), str(self.last)),
        )
        return bool(found)

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
        den = block["denominator"]
        rows = zip(
            block["row"].to_numpy(dtype="int64").tolist(),
            block["site_id"].to_numpy(dtype="int64").tolist(),
            block["metric_id"].to_numpy(dtype="int64").tolist(),
            block["date"].dt.strftime("%Y-%m-%d").tolist(),  # as SQLAlchemy stores a date
            block["value"].to_numpy(dtype="float64").tolist(),
            den.astype(object).where(den.notna(), None).tolist(),
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
        self._analyse()
        with self._cache():
            return self._duplicates(limit, per_row)

    def _duplicates(self, limit: int, per_row: bool) -> tuple[int, list[Duplicate]]:
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
        self._analyse()
        with self._cache():
            new, changed, total = self._run(
                "SELECT coalesce(sum(CASE WHEN o.id IS NULL THEN 1 ELSE 0 END), 0), "
                f"coalesce(sum(CASE WHEN o.id IS NOT NULL AND {self._differs()} "
                f"THEN 1 ELSE 0 END), 0), count(*) FROM {self._join()}"
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
            counts = self._upsert_postgres(batch_id, now)
            if counts.inserted + counts.updated >= ANALYZE_AFTER_ROWS:
                self._refresh_statistics()
            return counts
        with self._cache():
            return self._upsert_sqlite(batch_id, now)

    def _refresh_statistics(self) -> None:
        """PostgreSQL: fresh planner statistics of ``observations`` after a big write, so the
        pages' next queries are planned for the table as it now is (autovacuum would get
        there later, or never where it is off). Inside the transaction, which sees its own
        rows; skipped without the right to."""
        self._run("SAVEPOINT rollwise_analyze")
        try:
            self._run("ANALYZE observations")
        except DBAPIError:
            self._run("ROLLBACK TO SAVEPOINT rollwise_analyze")
        self._run("RELEASE SAVEPOINT rollwise_analyze")

    def _match(self, target: str = "o") -> str:
        return (
            f"{target}.site_id = s.site_id AND {target}.date = s.date "
            f"AND {target}.metric_id = s.metric_id"
        )

    def _insert_new(self, params: Any, *, any_stored: bool) -> int:
        """Insert the staged rows no stored observation has yet; how many."""
        mark = "%(batch)s, %(now)s" if self.postgres else "?, ?"
        sql = (
            "INSERT INTO observations "
            "(site_id, metric_id, date, value, denominator, batch_id, updated_at) "
            f"SELECT s.site_id, s.metric_id, s.date, s.value, {self._den}, {mark} "
            f"FROM {self.name} s"
        )
        if any_stored:
            sql += f" WHERE NOT EXISTS (SELECT 1 FROM observations o WHERE {self._match()})"
        # in the order of the unique index: its pages are filled one after the other
        sql += " ORDER BY s.site_id, s.date, s.metric_id"
        return int(self._run(sql, params))

    def _upsert_postgres(self, batch_id: int | None, now: datetime) -> WriteCounts:
        # Changed rows are updated in place; the join of ``observations`` with itself
        # (``old``) gives the value each replaces. A concurrent import of the same rows
        # waits for the row lock, then the WHERE is checked again on the value it wrote:
        # only one of several identical imports revises a value. A concurrent insert of a
        # new key makes the INSERT fail (IntegrityError): nothing written, import again.
        self._analyse()
        params = {"batch": batch_id, "now": now}
        any_stored = self._any_stored()
        fast = self._without_fk_triggers(batch_id)
        try:
            updated = 0
            if any_stored:
                updated = self._run(
                    f"""
                    WITH changed AS (
                        UPDATE observations o SET
                            value = s.value,
                            denominator = coalesce({self._den}, o.denominator),
                            batch_id = %(batch)s,
                            updated_at = %(now)s
                        FROM {self.name} s, observations old
                        WHERE {self._match()} AND old.id = o.id AND {self._differs()}
                        RETURNING o.id, old.value AS old_value, o.value AS new_value
                    ), revised AS (
                        INSERT INTO observation_revisions
                            (observation_id, old_value, new_value, batch_id, changed_at)
                        SELECT id, old_value, new_value, %(batch)s, %(now)s FROM changed
                    )
                    SELECT count(*) FROM changed
                    """,
                    params,
                )[0][0]
            inserted = self._insert_new(params, any_stored=any_stored)
        finally:
            if fast:
                self._run("SET LOCAL session_replication_role = origin")
        return WriteCounts(inserted, int(updated), self.n_rows - inserted - int(updated))

    def _without_fk_triggers(self, batch_id: int | None) -> bool:
        """PostgreSQL: check the references once (locking them as the foreign-key triggers
        would) and turn the triggers off for the next statements, if this role may."""
        if not SKIP_FK_TRIGGERS:
            return False
        for table, ids in (("sites", self.site_ids), ("metrics", self.metric_ids)):
            locked = self._run(
                f"SELECT id FROM {table} WHERE id = ANY(%s) FOR KEY SHARE", (sorted(ids),)
            )
            if len(locked) != len(ids):
                return False  # a missing reference: let the triggers name it
        if batch_id is not None and not self._run(
            "SELECT 1 FROM import_batches WHERE id = %s FOR KEY SHARE", (batch_id,)
        ):
            return False
        self._run("SAVEPOINT rollwise_stage_fk")
        try:
            self._run("SET LOCAL session_replication_role = replica")
        except DBAPIError:  # no right to: the triggers run as usual
            self._run("ROLLBACK TO SAVEPOINT rollwise_stage_fk")
            self._run("RELEASE SAVEPOINT rollwise_stage_fk")
            return False
        self._run("RELEASE SAVEPOINT rollwise_stage_fk")
        return True

    def _upsert_sqlite(self, batch_id: int | None, now: datetime) -> WriteCounts:
        # the transaction holds SQLite's write lock (one writer): nothing changes meanwhile
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DateTime
        params = (batch_id, stamp)
        updated = 0
        any_stored = self._any_stored()
        if any_stored:
            updated = self._run(
                "INSERT INTO observation_revisions "
                "(observation_id, old_value, new_value, batch_id, changed_at) "
                f"SELECT o.id, o.value, s.value, ?, ? FROM {self.name} s "
                f"JOIN observations o ON {self._match()} WHERE {self._differs()}",
                params,
            )
            if updated:
                self._run(
                    "UPDATE observations AS o SET value = s.value, "
                    "denominator = coalesce(s.denominator, o.denominator), "
                    "batch_id = ?, updated_at = ? "
                    f"FROM {self.name} s WHERE {self._match()} AND {self._differs()}",
                    params,
                )
        inserted = self._insert_new(params, any_stored=any_stored)
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
