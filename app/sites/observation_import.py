"""Importing daily observations from files and from the API: validate all, then bulk upsert.

One code path for the upload pages, ``flask observations import`` and
``POST /api/v1/observations`` (the pages and the command use it as
:class:`ObservationImport`, a kind of :mod:`app.core.imports`; the API calls the two
functions below directly):

1. ``plan_observations(chunks, pilot=…)`` reads the rows chunk by chunk (memory bounded),
   maps the columns, recognises the **long** form (``site, date, metric, value``
   [, ``denominator``]) or the **wide** form (``site, date`` and one column per metric),
   validates every cell vectorised, and keeps only compact numbers (site id, metric id,
   day, value) for the rows. It then checks duplicates across the whole file and compares
   with the stored values: inserted / updated / unchanged. Nothing is written.
2. ``apply_observations(plan, by=…)`` writes the plan in the caller's transaction with the
   database's bulk path (``COPY`` on PostgreSQL, ``executemany`` on SQLite), stores the
   previous value of every changed observation as an ``ObservationRevision`` tied to the
   ``ImportBatch`` (who, when, which file or token), and returns the batch.

Errors (unknown site codes, unknown metrics, non-dates, dates outside the pilot or in the
future, non-numbers, duplicates inside one file) are all collected and reported together
(the first ``max_errors`` of them listed, the rest counted); with any error nothing is
written. Re-importing the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, insert, select, update

from app.core import clock
from app.core.errors import ImportFailed, RowError
from app.core.imports import MAX_LISTED_ERRORS, Field, ImportKind, ImportPlan, propose_mapping
from app.core.labels import OBSERVATION_FIELD_LABELS
from app.core.rawsql import driver_many, driver_sql, is_postgres, raw_connection, stored
from app.core.tables import normalise_header, parse_dates, parse_numbers
from app.extensions import db
from app.models import (
    ApiToken,
    ImportBatch,
    Metric,
    Observation,
    ObservationRevision,
    Pilot,
    Site,
    User,
)

OBSERVATION_ALIASES: dict[str, list[str]] = {
    "site": ["site code", "site id", "store", "store code", "store id", "branch", "code",
             "门店", "门店编码", "门店编号", "门店代码", "网点", "网点编码", "店号"],
    "date": ["day", "business date", "report date", "日期", "营业日期", "业务日期", "日"],
    "metric": ["metric key", "indicator", "kpi", "measure", "指标", "指标编码", "指标名称",
               "指标代码"],
    "value": ["amount", "数值", "值", "指标值", "数据"],
    "denominator": ["denom", "base", "n", "分母", "样本数", "基数"],
}  # fmt: skip


#: Largest batch the API accepts in one request.
API_MAX_ROWS = 10_000
#: A day of slack for systems whose clock runs ahead of ours.
FUTURE_SLACK = timedelta(days=1)
VALUE_TOLERANCE = 1e-9
#: No daily value of any metric comes near this: a larger one is a mistake (or an attack).
MAX_MAGNITUDE = 1e12
#: Rows per COPY slice on PostgreSQL.
COPY_SLICE = 100_000


@dataclass
class ObservationPlan(ImportPlan):
    """What an import would do. ``ok`` means ``apply_observations`` may run."""

    form: str = "long"
    metric_columns: dict[str, str] = field(default_factory=dict)  # column -> metric key
    ignored_columns: list[str] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    first_date: date | None = None
    last_date: date | None = None
    n_sites: int = 0
    metric_keys: list[str] = field(default_factory=list)
    outside_pilot_sites: list[str] = field(default_factory=list)
    pilot_id: int | None = None
    source: str | None = None
    frame: pd.DataFrame | None = None  # compact rows: row, site_id, metric_id, date, value, den
    existing: pd.DataFrame | None = None  # matched stored rows: id, value, denominator

    def counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def observation_fields() -> list[Field]:
    return [
        Field(
            name,
            str(OBSERVATION_FIELD_LABELS[name]),
            tuple(aliases),
            required=name in ("site", "date"),
        )
        for name, aliases in OBSERVATION_ALIASES.items()
    ]


@dataclass(frozen=True, slots=True)
class _Lookups:
    """What every chunk is checked against: sites, metrics and the allowed days."""

    sites: dict[str, int]  # code -> id
    metric_ids: dict[str, int]  # normalised key or name -> id
    metric_keys: dict[int, str]  # id -> key
    low: date | None
    high: date
    high_is_pilot_end: bool
    metric_bounds: dict[int, tuple[float | None, float | None]]  # id -> (min, max)

    @classmethod
    def load(cls, pilot: Pilot | None, today: date) -> _Lookups:
        sites = {code: sid for sid, code in db.session.execute(select(Site.id, Site.code))}
        metric_ids, metric_keys, bounds = _lookup_metrics()
        latest = today + FUTURE_SLACK
        if pilot is None:
            return cls(sites, metric_ids, metric_keys, None, latest, False, bounds)
        high = min(pilot.end_date, latest) if pilot.end_date else latest
        low = pilot.pre_start or pilot.start_date
        return cls(sites, metric_ids, metric_keys, low, high, high == pilot.end_date, bounds)


def _lookup_metrics() -> tuple[dict[str, int], dict[int, str], dict[int, tuple]]:
    by_name: dict[str, int] = {}
    keys: dict[int, str] = {}
    bounds: dict[int, tuple[float | None, float | None]] = {}
    for metric in db.session.scalars(select(Metric)):
        keys[metric.id] = metric.key
        bounds[metric.id] = metric.bounds
        for name in (metric.name, metric.name_zh):
            if name:
                by_name.setdefault(normalise_header(name), metric.id)
    for metric_id, key in keys.items():  # keys win over names
        by_name[normalise_header(key)] = metric_id
    return by_name, keys, bounds


def plan_observations(
    chunks: Iterable[pd.DataFrame],
    *,
    pilot: Pilot | None = None,
    chosen: Mapping[str, str] | None = None,
    max_errors: int = MAX_LISTED_ERRORS,
    today: date | None = None,
    source: str | None = None,
    compare: bool = True,
) -> ObservationPlan:
    """Validate all rows and work out inserted/updated/unchanged. Writes nothing.

    ``chunks`` are frames of strings indexed by the row number the user sees (as from
    ``tabular.iter_upload``). ``pilot`` restricts dates to its pre-period start … planned end.
    """
    plan = ObservationPlan(
        pilot_id=pilot.id if pilot else None, source=source, max_errors=max_errors
    )
    lookups = _Lookups.load(pilot, today or clock.today())
    parts: list[pd.DataFrame] = []
    mapped = False
    for chunk in chunks:
        if not mapped:
            _map(chunk, plan, lookups, chosen)
            mapped = True
        if chunk.empty:
            continue
        plan.n_rows += len(chunk)
        parts.append(_validate_chunk(chunk, plan, lookups))
    if plan.n_rows == 0:
        raise ImportFailed(_("The file has a header row but no data rows."))
    frame = pd.concat(parts, ignore_index=True)
    _check_duplicates(frame, plan, lookups.metric_keys)
    plan.sort_errors()
    if frame.empty:
        return plan
    _describe(frame, plan, pilot, lookups)
    if plan.ok:
        plan.frame = frame
        if compare:
            _compare_with_stored(plan)
    return plan


def _describe(frame: pd.DataFrame, plan: ObservationPlan, pilot: Pilot | None, lookups) -> None:
    """Days, sites and metrics of the valid rows, and the sites outside the pilot."""
    plan.first_date = frame["date"].min().date()
    plan.last_date = frame["date"].max().date()
    plan.n_sites = int(frame["site_id"].nunique())
    plan.metric_keys = sorted(lookups.metric_keys[m] for m in frame["metric_id"].unique())
    if pilot is not None:
        in_pilot = {a.site_id for a in pilot.assignments}
        codes = {sid: code for code, sid in lookups.sites.items()}
        outside = sorted(set(frame["site_id"].unique()) - in_pilot)
        plan.outside_pilot_sites = [codes[int(s)] for s in outside]


def _map(chunk: pd.DataFrame, plan: ObservationPlan, lookups: _Lookups, chosen) -> None:
    """The columns of the fields, and whether the file is in the long or the wide form."""
    plan.mapping = mapping = propose_mapping(observation_fields(), chunk.columns, chosen)
    used = set(mapping.values())
    if "metric" in mapping or "value" in mapping:
        missing = [f for f in ("metric", "value") if f not in mapping]
        if missing:
            raise _header_problem(
                _(
                    "A long-form file needs both a metric and a value column; "
                    "%(missing)s is missing.",
                    missing=", ".join(missing),
                )
            )
        plan.form = "long"
        plan.ignored_columns = [c for c in chunk.columns if c not in used]
        return
    plan.form = "wide"
    for column in chunk.columns:
        if column in used:
            continue
        metric_id = lookups.metric_ids.get(normalise_header(column))
        if metric_id is None:
            plan.ignored_columns.append(column)
        else:
            plan.metric_columns[column] = lookups.metric_keys[metric_id]
    if not plan.metric_columns:
        raise _header_problem(
            _(
                "No column is a known metric. Use a long-form file (site, date, metric, "
                "value) or name the columns after metrics (e.g. %(examples)s).",
                examples=", ".join(sorted(lookups.metric_keys.values())[:4]) or "avg_wait_min",
            )
        )


def _header_problem(message: str) -> ImportFailed:
    return ImportFailed(RowError(1, "", message))


def _validate_chunk(chunk: pd.DataFrame, plan: ObservationPlan, lookups: _Lookups) -> pd.DataFrame:
    """The chunk's valid values as compact rows; every problem goes into the plan."""
    rows = chunk.index.to_numpy()
    site_ids, bad_site = _check_sites(chunk, rows, plan, lookups)
    days, bad_day = _check_days(chunk, rows, plan, lookups)
    denominators = None
    if "denominator" in plan.mapping:
        denominators, _bad = _numbers(chunk, plan.mapping["denominator"], rows, plan)
        plan.add_errors(
            rows[(denominators < 0).to_numpy()],
            plan.mapping["denominator"],
            _("The denominator is negative."),
        )
        huge = (denominators.abs() > MAX_MAGNITUDE).to_numpy()
        plan.add_errors(
            rows[huge],
            plan.mapping["denominator"],
            [
                _("%(value)s is too large to be a daily value.", value=v)
                for v in chunk[plan.mapping["denominator"]][huge]
            ],
        )
        denominators = denominators.where(~huge)
    columns = {"row": rows, "site_id": site_ids, "date": days, "denominator": denominators}
    usable = ~(bad_site | bad_day)
    if plan.form == "long":
        frame = _long_rows(chunk, rows, plan, lookups, columns, usable)
    else:
        frame = _wide_rows(chunk, rows, plan, lookups, columns, usable)
    frame = frame.astype(
        {"row": "int64", "site_id": "int64", "metric_id": "int64", "value": "float64"}
    )
    frame["denominator"] = frame["denominator"].astype("float64")
    return frame.reset_index(drop=True)


def _check_sites(chunk, rows, plan: ObservationPlan, lookups: _Lookups):
    """Site ids of the rows and a mask of rows without a known site."""
    column = plan.mapping["site"]
    return _look_up(
        plan,
        rows,
        column,
        chunk[column],
        lookups.sites,
        empty=_("The site code is empty."),
        unknown=lambda code: _("Unknown site code '%(code)s'.", code=code),
    )


def _look_up(plan, rows, column: str, cells: pd.Series, ids: dict, *, empty: str, unknown):
    """The ids of ``cells`` and a mask of the cells that are blank or unknown (errors)."""
    found = cells.map(ids)
    blank = cells == ""
    plan.add_errors(rows[blank.to_numpy()], column, empty)
    missing = found.isna() & ~blank
    plan.add_errors(rows[missing.to_numpy()], column, [unknown(c) for c in cells[missing]])
    return found, blank | missing


def _check_days(chunk, rows, plan: ObservationPlan, lookups: _Lookups):
    """Days of the rows and a mask of rows without a day in the allowed window."""
    column = plan.mapping["date"]
    text = chunk[column]
    days, bad = _parsed(plan, rows, column, text, parse_dates, _not_a_date)
    blank = text == ""
    plan.add_errors(rows[blank.to_numpy()], column, _("The date is empty."))
    outside = pd.Series(False, index=chunk.index)
    if lookups.low is not None:
        # only a pilot sets a lower bound (its pre-period start)
        early = days < pd.Timestamp(lookups.low)
        outside |= early
        message = _(
            "%(day)s is before this pilot's pre-period, which starts on %(low)s.",
            day="{day}",
            low=lookups.low.isoformat(),
        )
        _day_errors(plan, rows, column, days, early, message)
    late = days > pd.Timestamp(lookups.high)
    outside |= late
    if lookups.high_is_pilot_end:
        message = _(
            "%(day)s is after this pilot's planned end, %(high)s.", day="{day}", high=lookups.high
        )
    else:
        message = _("%(day)s is in the future.", day="{day}")
    _day_errors(plan, rows, column, days, late, message)
    return days, bad | blank | outside


def _day_errors(plan, rows, column: str, days: pd.Series, mask: pd.Series, message: str) -> None:
    plan.add_errors(
        rows[mask.to_numpy()],
        column,
        [message.replace("{day}", d.date().isoformat()) for d in days[mask]],
    )


def _numbers(chunk, column: str, rows, plan: ObservationPlan) -> tuple[pd.Series, pd.Series]:
    """The numbers of one column; cells that are no number are errors."""
    return _parsed(plan, rows, column, chunk[column], parse_numbers, _not_a_number)


def _not_a_date(value: str) -> str:
    return _("'%(value)s' is not a date; write YYYY-MM-DD.", value=value)


def _not_a_number(value: str) -> str:
    return _("'%(value)s' is not a number.", value=value)


def _parsed(plan, rows, column: str, text: pd.Series, parse, message):
    """``parse(text)`` (values and a mask of unreadable cells); each unreadable cell is an
    error, ``message(cell)``."""
    values, bad = parse(text)
    plan.add_errors(rows[bad.to_numpy()], column, [message(v) for v in text[bad]])
    return values, bad


def _long_rows(chunk, rows, plan, lookups: _Lookups, columns, usable) -> pd.DataFrame:
    """Long form: one value per row, its metric named in the metric column."""
    metric_column, value_column = plan.mapping["metric"], plan.mapping["value"]
    names = chunk[metric_column]
    metric_ids, bad_metric = _look_up(
        plan,
        rows,
        metric_column,
        names,
        {m: lookups.metric_ids.get(normalise_header(m)) for m in names.unique()},
        empty=_("The metric is empty."),
        unknown=lambda name: _("Unknown metric '%(metric)s'.", metric=name),
    )
    values, bad_value = _numbers(chunk, value_column, rows, plan)
    blank_value = chunk[value_column] == ""
    plan.add_errors(rows[blank_value.to_numpy()], value_column, _("The value is empty."))
    outside = _check_bounds(
        plan, rows, value_column, chunk[value_column], values, metric_ids, lookups
    )
    keep = usable & ~(bad_metric | bad_value | blank_value | outside)
    return _compact(columns, metric_ids, values, keep)


def _wide_rows(chunk, rows, plan, lookups: _Lookups, columns, usable) -> pd.DataFrame:
    """Wide form: one value per metric column; a blank cell is no value."""
    pieces = []
    for column, key in plan.metric_columns.items():
        values, bad_value = _numbers(chunk, column, rows, plan)
        metric_id = lookups.metric_ids[normalise_header(key)]
        ids = pd.Series(metric_id, index=chunk.index)
        outside = _check_bounds(plan, rows, column, chunk[column], values, ids, lookups)
        keep = (chunk[column] != "") & ~bad_value & ~outside & usable
        pieces.append(_compact(columns, metric_id, values, keep))
    return pd.concat(pieces, ignore_index=True)


def _check_bounds(plan, rows, column: str, text, values: pd.Series, metric_ids, lookups):
    """A mask of the values beyond :data:`MAX_MAGNITUDE` or outside their metric's bounds;
    each is an error naming the value and the bound."""
    too_large = values.abs() > MAX_MAGNITUDE
    plan.add_errors(
        rows[too_large.to_numpy()],
        column,
        [_("%(value)s is too large to be a daily value.", value=v) for v in text[too_large]],
    )
    lows = {m: low for m, (low, _high) in lookups.metric_bounds.items()}
    highs = {m: high for m, (_low, high) in lookups.metric_bounds.items()}
    low = metric_ids.map(lows).astype("float64")
    high = metric_ids.map(highs).astype("float64")
    below = (values < low) & ~too_large
    above = (values > high) & ~too_large
    keys = metric_ids.map(lookups.metric_keys)
    for outside, bound in ((below, low), (above, high)):
        cells = zip(text[outside], bound[outside], keys[outside], strict=True)
        messages = [_outside_bound(v, _number(b), k, below=outside is below) for v, b, k in cells]
        plan.add_errors(rows[outside.to_numpy()], column, messages)
    return too_large | below | above


def _outside_bound(value: str, bound: str, metric: str, *, below: bool) -> str:
    template = (
        _("%(value)s is below %(bound)s, the smallest value of %(metric)s.")
        if below
        else _("%(value)s is above %(bound)s, the largest value of %(metric)s.")
    )
    return template % {"value": value, "bound": bound, "metric": metric}


def _number(value: float) -> str:
    """A bound as people write it: ``0``, ``1``, ``1440``, ``0.5``."""
    return f"{value:g}"


def _compact(columns: dict[str, Any], metric_ids: Any, values, keep: pd.Series) -> pd.DataFrame:
    """The rows in ``keep`` as ``row, site_id, metric_id, date, value, denominator``."""
    denominators = columns["denominator"]
    frame = pd.DataFrame(
        {
            "row": columns["row"],
            "site_id": columns["site_id"],
            "metric_id": metric_ids,
            "date": columns["date"],
            "value": values,
            "denominator": denominators if denominators is not None else np.nan,
        }
    )
    return frame.loc[keep.to_numpy()]


def _check_duplicates(frame: pd.DataFrame, plan: ObservationPlan, metric_keys) -> None:
    if frame.empty:
        return
    keys = ["site_id", "metric_id", "date"]
    dup = frame.duplicated(keys, keep=False)
    if not dup.any():
        return
    dups = frame.loc[dup].sort_values("row")
    first = dups.groupby(keys)["row"].transform("min")
    later = dups.loc[dups["row"] != first]
    if plan.form == "wide":
        later = later.drop_duplicates("row")
        plan.add_errors(
            later["row"],
            plan.mapping["date"],
            [
                _("Duplicate of row %(first)s (same site and date).", first=int(f))
                for f in first[later.index]
            ],
        )
        return
    column = plan.mapping.get("metric") or plan.mapping["date"]
    messages = [
        _(
            "Duplicate of row %(first)s (same site, date and metric %(metric)s).",
            first=int(f),
            metric=metric_keys[int(m)],
        )
        for f, m in zip(first[later.index], later["metric_id"], strict=True)
    ]
    plan.add_errors(later["row"], column, messages)


# ---------------------------------------------------------------- comparing and writing


def _compare_with_stored(plan: ObservationPlan) -> None:
    frame = plan.frame
    assert frame is not None
    stored = _fetch_stored(_stored_query(frame, plan.first_date, plan.last_date))
    if stored.empty:
        plan.inserted = len(frame)
        plan.existing = None
        frame["id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
        return
    merged = frame.merge(stored, on=["site_id", "metric_id", "date"], how="left")
    matched = merged["id"].notna()
    same_value = (
        np.isclose(merged["value"], merged["stored_value"], rtol=0, atol=VALUE_TOLERANCE)
        & matched.to_numpy()
    )
    # a blank denominator in the file keeps the stored one
    den_same = merged["denominator"].isna() | np.isclose(
        merged["denominator"], merged["stored_den"], rtol=0, atol=VALUE_TOLERANCE
    )
    changed = matched & ~(same_value & den_same)
    plan.inserted = int((~matched).sum())
    plan.updated = int(changed.sum())
    plan.unchanged = int((matched & ~changed).sum())
    merged["id"] = merged["id"].astype("Int64")
    merged["changed"] = changed
    plan.frame = merged


def _stored_query(frame: pd.DataFrame, first: date | None, last: date | None) -> Select:
    """The stored observations a file's rows may match (its metrics and days, its sites when
    they are few enough to list)."""
    table = Observation.__table__
    columns = ("id", "site_id", "metric_id", "date", "value", "denominator")
    query = select(*(table.c[name] for name in columns)).where(
        table.c.metric_id.in_(sorted(int(m) for m in frame["metric_id"].unique())),
        table.c.date >= first,
        table.c.date <= last,
    )
    site_ids = sorted(int(s) for s in frame["site_id"].unique())
    if len(site_ids) <= 500:
        query = query.where(table.c.site_id.in_(site_ids))
    return query


_STORED_COLUMNS = ["id", "site_id", "metric_id", "date", "stored_value", "stored_den"]
_STORED_TYPES = {
    "id": "int64", "site_id": "int64", "metric_id": "int64",
    "stored_value": "float64", "stored_den": "float64",
}  # fmt: skip
#: Stored rows are read and typed this many at a time: the driver's tuples of one block are
#: freed before the next, so memory grows with compact columns, not Python objects.
FETCH_BLOCK = 100_000


def _fetch_stored(query: Select) -> pd.DataFrame:
    """The stored rows a file may match, as typed columns (read block by block)."""
    sql, params = driver_sql(query)
    blocks = []
    connection = raw_connection()
    # PostgreSQL: a server-side cursor, so the driver holds one block, not the whole result
    cursor = connection.cursor(name="rollwise_stored") if is_postgres() else connection.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_BLOCK):  # bounded by the result's size
            block = pd.DataFrame(rows, columns=_STORED_COLUMNS)
            del rows
            block["date"] = pd.to_datetime(block["date"])
            blocks.append(block.astype(_STORED_TYPES))
    finally:
        cursor.close()
    if not blocks:
        return pd.DataFrame(columns=_STORED_COLUMNS)
    return pd.concat(blocks, ignore_index=True)


def apply_observations(
    plan: ObservationPlan,
    *,
    by: User | None = None,
    token: ApiToken | None = None,
    filename: str | None = None,
    kind: str = "observations",
) -> ImportBatch:
    """Write a valid plan in the current transaction; the caller commits."""
    if not plan.ok:
        raise ImportFailed(plan.errors)
    batch = ImportBatch(
        kind=kind,
        filename=filename,
        user_id=getattr(by, "id", None) if by is not None else None,
        api_token_id=token.id if token is not None else None,
        pilot_id=plan.pilot_id,
        rows_inserted=plan.inserted,
        rows_updated=plan.updated,
        rows_unchanged=plan.unchanged,
    )
    db.session.add(batch)
    db.session.flush()
    frame = plan.frame
    if frame is None or frame.empty:
        return batch
    if "id" not in frame.columns:
        frame["id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    if "changed" not in frame.columns:
        frame["changed"] = False
    now = clock.utc_now()
    new = frame.loc[frame["id"].isna()]
    changed = frame.loc[frame["changed"].astype(bool)]
    if not new.empty:
        _insert_new(new, batch.id, now)
    if not changed.empty:
        changed = _still_changed(changed)
        moved = plan.updated - len(changed)  # written meanwhile by a concurrent batch
        if moved:
            batch.rows_updated -= moved
            batch.rows_unchanged += moved
            db.session.flush()
    if not changed.empty:
        _update_changed(changed, batch.id, now)
    db.session.expire_all()
    return batch


#: Stored rows locked and read again per statement before they are changed.
LOCK_SLICE = 10_000


def _still_changed(changed: pd.DataFrame) -> pd.DataFrame:
    """The planned changes that still change something, with the values they replace.

    The plan compared the file with the values stored when it was read; a concurrent batch
    may have written the same values since. The rows are read again under a row lock
    (``FOR UPDATE`` on PostgreSQL, in id order so two batches never deadlock; SQLite holds
    the database's write lock since the batch row was written), so of several identical
    batches only the first writes a revision; the others find nothing left to change.
    """
    table = Observation.__table__
    ids = sorted(int(i) for i in changed["id"])
    blocks = []
    for lo in range(0, len(ids), LOCK_SLICE):
        query = (
            select(table.c.id, table.c.value, table.c.denominator)
            .where(table.c.id.in_(ids[lo : lo + LOCK_SLICE]))
            .order_by(table.c.id)
            .with_for_update()
        )
        blocks.append(pd.DataFrame(db.session.execute(query).all(), columns=_CURRENT_COLUMNS))
    current = pd.concat(blocks, ignore_index=True).astype(_CURRENT_TYPES).set_index("id")
    ids_column = changed["id"].astype("int64")
    present = ids_column.isin(current.index).to_numpy()  # a deleted row is not revised
    changed = changed.loc[present].copy()
    ids_column = ids_column[present]
    changed["stored_value"] = current["value"].reindex(ids_column).to_numpy()
    changed["stored_den"] = current["denominator"].reindex(ids_column).to_numpy()
    same_value = np.isclose(changed["value"], changed["stored_value"], rtol=0, atol=VALUE_TOLERANCE)
    same_den = changed["denominator"].isna() | np.isclose(
        changed["denominator"], changed["stored_den"], rtol=0, atol=VALUE_TOLERANCE
    )
    return changed.loc[~(same_value & same_den).to_numpy()]


_CURRENT_COLUMNS = ["id", "value", "denominator"]
_CURRENT_TYPES = {"id": "int64", "value": "float64", "denominator": "float64"}


def _insert_new(new: pd.DataFrame, batch_id: int, now: datetime) -> None:
    table = Observation.__table__
    cursor = raw_connection().cursor()
    try:
        if is_postgres():
            _copy_new(cursor, new, batch_id, now)
            return
        days = new["date"].dt.strftime("%Y-%m-%d")  # as SQLAlchemy stores a date in SQLite
        columns = {
            "site_id": new["site_id"].tolist(),
            "metric_id": new["metric_id"].tolist(),
            "date": days.tolist(),
            "value": new["value"].tolist(),
            "denominator": _nullable(new["denominator"]),
            "batch_id": [batch_id] * len(new),
            "updated_at": [stored(table.c.updated_at, now)] * len(new),
        }
        cursor.executemany(*driver_many(insert(table).inline(), columns))
    finally:
        cursor.close()


def _copy_new(cursor: Any, new: pd.DataFrame, batch_id: int, now: datetime) -> None:
    """PostgreSQL: COPY in text format, a slice at a time (fast and memory bounded)."""
    columns = "site_id, metric_id, date, value, denominator, batch_id, updated_at"
    with cursor.copy(f"COPY observations ({columns}) FROM STDIN") as copy:
        for lo in range(0, len(new), COPY_SLICE):
            part = new.iloc[lo : lo + COPY_SLICE]
            text = pd.DataFrame(
                {
                    "site_id": part["site_id"],
                    "metric_id": part["metric_id"],
                    "date": part["date"].dt.strftime("%Y-%m-%d"),
                    "value": part["value"].map(repr),
                    "denominator": part["denominator"],
                    "batch_id": batch_id,
                    "updated_at": now.isoformat(),
                }
            ).to_csv(sep="\t", header=False, index=False, na_rep="\\N")
            copy.write(text)


def _nullable(column: pd.Series) -> list[Any]:
    return column.astype(object).where(column.notna(), None).tolist()


def _update_changed(changed: pd.DataFrame, batch_id: int, now: datetime) -> None:
    observations = Observation.__table__
    revisions = ObservationRevision.__table__
    ids = changed["id"].astype("int64").tolist()
    new_values = changed["value"].tolist()
    dens = changed["denominator"].where(changed["denominator"].notna(), changed["stored_den"])
    stamp = stored(observations.c.updated_at, now)
    update_values = update(observations).where(observations.c.id == bindparam("observation_id"))
    update_values = update_values.values(
        value=bindparam("new_value"),
        denominator=bindparam("new_denominator"),
        batch_id=bindparam("new_batch_id"),
        updated_at=bindparam("stamp"),
    )
    cursor = raw_connection().cursor()
    try:
        cursor.executemany(
            *driver_many(
                update_values,
                {
                    "new_value": new_values,
                    "new_denominator": _nullable(dens),
                    "new_batch_id": [batch_id] * len(ids),
                    "stamp": [stamp] * len(ids),
                    "observation_id": ids,
                },
            )
        )
        cursor.executemany(
            *driver_many(
                insert(revisions).inline(),
                {
                    "observation_id": ids,
                    "old_value": changed["stored_value"].tolist(),
                    "new_value": new_values,
                    "batch_id": [batch_id] * len(ids),
                    "changed_at": [stamp] * len(ids),
                },
            )
        )
    finally:
        cursor.close()


# ---------------------------------------------------------------- the API's rows


def frame_from_records(records: list[Any]) -> tuple[pd.DataFrame, list[RowError]]:
    """API rows (a list of objects) as a frame of strings indexed by array position.

    Objects use the long form ``{"site", "date", "metric", "value"[, "denominator"]}``;
    a row that is not an object is an error on that row.
    """
    errors: list[RowError] = []
    rows: list[dict[str, str]] = []
    index: list[int] = []
    fields = ("site", "date", "metric", "value", "denominator")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            errors.append(RowError(i, "", _("Each row must be an object.")))
            continue
        unknown = sorted(set(record) - set(fields))
        if unknown:
            errors.append(
                RowError(i, unknown[0], _("Unknown field; use site, date, metric, value."))
            )
        row = {}
        for name in fields:
            value = record.get(name)
            if isinstance(value, bool):
                errors.append(RowError(i, name, _("true/false is not a number.")))
                value = None
            if isinstance(value, dict | list):
                errors.append(RowError(i, name, _("Must be a single value.")))
                value = None
            row[name] = "" if value is None else str(value).strip()
        rows.append(row)
        index.append(i)
    frame = pd.DataFrame(rows, columns=list(fields), index=pd.Index(index, name="row"))
    if "denominator" in frame and (frame["denominator"] == "").all():
        frame = frame.drop(columns=["denominator"])
    return frame, errors


class ObservationImport(ImportKind):
    """Daily observations as an import kind: streamed in chunks, dates checked against
    ``pilot`` when the upload is for one."""

    name = "observations"
    streams = True
    summary_template = "sites/_observations_summary.html"

    def __init__(self, pilot: Pilot | None = None):
        self.pilot = pilot

    @property
    def title(self) -> str:
        return _("Import daily data")

    @property
    def subject(self) -> str | None:
        return self.pilot.name if self.pilot is not None else None

    @property
    def mapping_hint(self) -> str:
        return _("Leave metric and value empty for a wide file (one column per metric).")

    def fields(self) -> list[Field]:
        return observation_fields()

    def plan(self, chunks, chosen=None, *, source=None) -> ObservationPlan:
        return plan_observations(chunks, pilot=self.pilot, chosen=chosen, source=source)

    def apply(self, plan: ObservationPlan, *, by, filename) -> ImportBatch:
        return apply_observations(plan, by=by, filename=filename)

    def confirm_label(self, plan: ObservationPlan) -> str:
        return _("Import %(n)s rows", n=plan.n_rows)

    def done_message(self, outcome: ImportBatch) -> str:
        i, u, n = outcome.rows_inserted, outcome.rows_updated, outcome.rows_unchanged
        return _("Imported: %(i)s new, %(u)s updated, %(n)s unchanged values.", i=i, u=u, n=n)
