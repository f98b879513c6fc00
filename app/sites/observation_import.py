"""Importing daily observations from files and from the API: validate all, then bulk upsert.

One code path for the upload page, ``flask observations import`` and
``POST /api/v1/observations``:

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

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, insert, select, update

from app.core import clock
from app.core.errors import ImportFailed, RowError
from app.core.rawsql import driver_many, driver_sql, is_postgres, raw_connection, stored
from app.core.tables import map_columns, normalise_header, parse_dates, parse_numbers
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

FIELD_LABELS = {
    "site": "site",
    "date": "date",
    "metric": "metric",
    "value": "value",
    "denominator": "denominator",
}

#: Largest batch the API accepts in one request.
API_MAX_ROWS = 10_000
#: A day of slack for systems whose clock runs ahead of ours.
FUTURE_SLACK = timedelta(days=1)
VALUE_TOLERANCE = 1e-9
#: Rows per COPY slice on PostgreSQL.
COPY_SLICE = 100_000


@dataclass
class ObservationPlan:
    """What an import would do. ``errors`` empty means ``apply_observations`` may run."""

    form: str = "long"
    mapping: dict[str, str] = field(default_factory=dict)
    metric_columns: dict[str, str] = field(default_factory=dict)  # column -> metric key
    ignored_columns: list[str] = field(default_factory=list)
    n_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    n_errors: int = 0
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

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    @property
    def more_errors(self) -> int:
        return self.n_errors - len(self.errors)

    def counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


class _Errors:
    def __init__(self, plan: ObservationPlan, limit: int):
        self.plan = plan
        self.limit = limit

    def add_many(self, rows: Iterable[Any], column: str, messages: Iterable[str] | str) -> None:
        rows = list(rows)
        if not rows:
            return
        self.plan.n_errors += len(rows)
        room = self.limit - len(self.plan.errors)
        if room <= 0:
            return
        if isinstance(messages, str):
            messages = [messages] * len(rows)
        for row, message in list(zip(rows, messages, strict=False))[:room]:
            self.plan.errors.append(RowError(int(row), column, message))


def _lookup_metrics() -> tuple[dict[str, int], dict[int, str]]:
    by_name: dict[str, int] = {}
    keys: dict[int, str] = {}
    for metric in db.session.scalars(select(Metric)):
        keys[metric.id] = metric.key
        for name in (metric.name, metric.name_zh):
            if name:
                by_name.setdefault(normalise_header(name), metric.id)
    for metric_id, key in keys.items():  # keys win over names
        by_name[normalise_header(key)] = metric_id
    return by_name, keys


def _date_window(pilot: Pilot | None, today: date) -> tuple[date | None, date]:
    latest = today + FUTURE_SLACK
    if pilot is None:
        return None, latest
    last = min(pilot.end_date, latest) if pilot.end_date else latest
    return pilot.pre_start or pilot.start_date, last


def plan_observations(
    chunks: Iterable[pd.DataFrame],
    *,
    pilot: Pilot | None = None,
    chosen: dict[str, str] | None = None,
    max_errors: int = 200,
    today: date | None = None,
    source: str | None = None,
    compare: bool = True,
) -> ObservationPlan:
    """Validate all rows and work out inserted/updated/unchanged. Writes nothing.

    ``chunks`` are frames of strings indexed by the row number the user sees (as from
    ``tabular.iter_upload``). ``pilot`` restricts dates to its pre-period start … planned end.
    """
    today = today or clock.today()
    plan = ObservationPlan(pilot_id=pilot.id if pilot else None, source=source)
    errors = _Errors(plan, max_errors)
    sites = {code: sid for sid, code in db.session.execute(select(Site.id, Site.code))}
    metric_ids, metric_keys = _lookup_metrics()
    low, high = _date_window(pilot, today)
    parts: list[pd.DataFrame] = []
    mapping: dict[str, str] | None = None

    for chunk in chunks:
        if mapping is None:
            mapping = _map(chunk, plan, metric_ids, metric_keys, chosen)
        if chunk.empty:
            continue
        plan.n_rows += len(chunk)
        parts.append(_validate_chunk(chunk, plan, errors, sites, metric_ids, low, high, pilot))

    if mapping is None or plan.n_rows == 0:
        raise ImportFailed(_("The file has a header row but no data rows."))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["row", "site_id", "metric_id", "date", "value", "denominator"])
    )
    _check_duplicates(frame, plan, errors)
    plan.errors.sort(key=lambda e: (e.row, e.column))
    if frame.empty:
        return plan
    plan.first_date = frame["date"].min().date()
    plan.last_date = frame["date"].max().date()
    plan.n_sites = int(frame["site_id"].nunique())
    plan.metric_keys = sorted(metric_keys[m] for m in frame["metric_id"].unique())
    if pilot is not None:
        in_pilot = {a.site_id for a in pilot.assignments}
        codes = {sid: code for code, sid in sites.items()}
        outside = sorted(set(frame["site_id"].unique()) - in_pilot)
        plan.outside_pilot_sites = [codes[int(s)] for s in outside]
    if plan.n_errors:
        return plan
    plan.frame = frame
    if compare:
        _compare_with_stored(plan)
    return plan


def _map(chunk, plan, metric_ids, metric_keys, chosen) -> dict[str, str]:
    mapping = map_columns(
        chunk, OBSERVATION_ALIASES, {"site", "date"}, chosen=chosen, labels=FIELD_LABELS
    )
    plan.mapping = mapping
    used = set(mapping.values())
    if "metric" in mapping or "value" in mapping:
        missing = [f for f in ("metric", "value") if f not in mapping]
        if missing:
            raise ImportFailed(
                RowError(
                    1,
                    "",
                    _(
                        "A long-form file needs both a metric and a value column; "
                        "%(missing)s is missing.",
                        missing=", ".join(missing),
                    ),
                )
            )
        plan.form = "long"
        plan.ignored_columns = [c for c in chunk.columns if c not in used]
        return mapping
    plan.form = "wide"
    for column in chunk.columns:
        if column in used:
            continue
        metric_id = metric_ids.get(normalise_header(column))
        if metric_id is None:
            plan.ignored_columns.append(column)
        else:
            plan.metric_columns[column] = metric_keys[metric_id]
    if not plan.metric_columns:
        raise ImportFailed(
            RowError(
                1,
                "",
                _(
                    "No column is a known metric. Use a long-form file (site, date, metric, "
                    "value) or name the columns after metrics (e.g. %(examples)s).",
                    examples=", ".join(sorted(metric_keys.values())[:4]) or "avg_wait_min",
                ),
            )
        )
    return mapping


def _validate_chunk(chunk, plan, errors, sites, metric_ids, low, high, pilot) -> pd.DataFrame:
    mapping = plan.mapping
    rows = chunk.index.to_numpy()
    site_col = chunk[mapping["site"]]
    site_ids = site_col.map(sites)
    blank_site = site_col == ""
    errors.add_many(rows[blank_site.to_numpy()], mapping["site"], _("The site code is empty."))
    unknown = site_ids.isna() & ~blank_site
    errors.add_many(
        rows[unknown.to_numpy()],
        mapping["site"],
        [_("Unknown site code '%(code)s'.", code=c) for c in site_col[unknown]],
    )
    date_col = chunk[mapping["date"]]
    days, bad_date = parse_dates(date_col)
    errors.add_many(
        rows[bad_date.to_numpy()],
        mapping["date"],
        [_("'%(value)s' is not a date; write YYYY-MM-DD.", value=v) for v in date_col[bad_date]],
    )
    errors.add_many(rows[(date_col == "").to_numpy()], mapping["date"], _("The date is empty."))
    outside = pd.Series(False, index=chunk.index)
    if low is not None:
        early = days < pd.Timestamp(low)
        outside |= early
        # only a pilot sets a lower bound (its pre-period start)
        message = _(
            "%(day)s is before this pilot's pre-period, which starts on %(low)s.",
            day="{day}",
            low=low.isoformat(),
        )
        errors.add_many(
            rows[early.to_numpy()],
            mapping["date"],
            [message.replace("{day}", d.date().isoformat()) for d in days[early]],
        )
    late = days > pd.Timestamp(high)
    if pilot is not None and pilot.end_date and high == pilot.end_date:
        late_message = _(
            "%(day)s is after this pilot's planned end, %(high)s.", day="{day}", high=high
        )
    else:
        late_message = _("%(day)s is in the future.", day="{day}")
    errors.add_many(
        rows[late.to_numpy()],
        mapping["date"],
        [late_message.replace("{day}", d.date().isoformat()) for d in days[late]],
    )
    outside |= late

    denominators = None
    if "denominator" in mapping:
        den_col = chunk[mapping["denominator"]]
        denominators, bad_den = parse_numbers(den_col)
        errors.add_many(
            rows[bad_den.to_numpy()],
            mapping["denominator"],
            [_("'%(value)s' is not a number.", value=v) for v in den_col[bad_den]],
        )
        negative = denominators < 0
        errors.add_many(
            rows[negative.to_numpy()], mapping["denominator"], _("The denominator is negative.")
        )

    base_ok = ~(blank_site | unknown | bad_date | (date_col == "") | outside)
    if plan.form == "long":
        metric_col = chunk[mapping["metric"]]
        lookup = {m: metric_ids.get(normalise_header(m)) for m in metric_col.unique()}
        metric_ids_col = metric_col.map(lookup)
        blank_metric = metric_col == ""
        errors.add_many(rows[blank_metric.to_numpy()], mapping["metric"], _("The metric is empty."))
        unknown_metric = metric_ids_col.isna() & ~blank_metric
        errors.add_many(
            rows[unknown_metric.to_numpy()],
            mapping["metric"],
            [_("Unknown metric '%(metric)s'.", metric=m) for m in metric_col[unknown_metric]],
        )
        value_col = chunk[mapping["value"]]
        values, bad_value = parse_numbers(value_col)
        errors.add_many(
            rows[bad_value.to_numpy()],
            mapping["value"],
            [_("'%(value)s' is not a number.", value=v) for v in value_col[bad_value]],
        )
        blank_value = value_col == ""
        errors.add_many(rows[blank_value.to_numpy()], mapping["value"], _("The value is empty."))
        ok = base_ok & ~(blank_metric | unknown_metric | bad_value | blank_value)
        frame = pd.DataFrame(
            {
                "row": rows,
                "site_id": site_ids,
                "metric_id": metric_ids_col,
                "date": days,
                "value": values,
                "denominator": denominators if denominators is not None else np.nan,
            }
        ).loc[ok.to_numpy()]
    else:
        pieces = []
        for column, key in plan.metric_columns.items():
            metric_id = metric_ids[normalise_header(key)]
            value_col = chunk[column]
            values, bad_value = parse_numbers(value_col)
            errors.add_many(
                rows[bad_value.to_numpy()],
                column,
                [_("'%(value)s' is not a number.", value=v) for v in value_col[bad_value]],
            )
            present = (value_col != "") & ~bad_value & base_ok
            pieces.append(
                pd.DataFrame(
                    {
                        "row": rows,
                        "site_id": site_ids,
                        "metric_id": metric_id,
                        "date": days,
                        "value": values,
                        "denominator": denominators if denominators is not None else np.nan,
                    }
                ).loc[present.to_numpy()]
            )
        frame = pd.concat(pieces, ignore_index=True)
    frame = frame.astype(
        {"row": "int64", "site_id": "int64", "metric_id": "int64", "value": "float64"}
    )
    frame["denominator"] = frame["denominator"].astype("float64")
    return frame.reset_index(drop=True)


def _check_duplicates(frame: pd.DataFrame, plan: ObservationPlan, errors: _Errors) -> None:
    if frame.empty:
        return
    keys = ["site_id", "metric_id", "date"]
    dup = frame.duplicated(keys, keep=False)
    if not dup.any():
        return
    dups = frame.loc[dup].sort_values("row")
    first = dups.groupby(keys)["row"].transform("min")
    later = dups.loc[dups["row"] != first]
    metric_keys = _lookup_metrics()[1]
    if plan.form == "wide":
        later = later.drop_duplicates("row")
        errors.add_many(
            later["row"],
            plan.mapping["date"],
            [_("Duplicate of row %(first)s (same site and date).", first=int(f))
             for f in first[later.index]],
        )  # fmt: skip
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
    errors.add_many(later["row"], column, messages)


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
    now = datetime.now(UTC)
    new = frame.loc[frame["id"].isna()]
    changed = frame.loc[frame["changed"].astype(bool)]
    if not new.empty:
        _insert_new(new, batch.id, now)
    if not changed.empty:
        _update_changed(changed, batch.id, now)
    db.session.expire_all()
    return batch


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
