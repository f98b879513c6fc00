"""Importing daily observations from files and from the API: validate all, then bulk upsert.

One code path for the upload pages, ``flask observations import`` and
``POST /api/v1/observations`` (the pages and the command use it as
:class:`ObservationImport`, a kind of :mod:`app.core.imports`; the API calls the two
functions below directly):

1. ``plan_observations(chunks, pilot=…)`` reads the rows chunk by chunk, maps the columns,
   recognises the **long** form (``site, date, metric, value`` [, ``denominator``]) or the
   **wide** form (``site, date`` and one column per metric), validates every cell
   vectorised and puts each chunk's valid rows (site id, metric id, day, value) into a
   staging table of the current transaction (:mod:`app.sites.observation_bulk`: ``COPY``
   on PostgreSQL, ``executemany`` on SQLite) — memory holds one chunk, whatever the size of
   the file. Duplicates across the whole file are then found in SQL. Nothing is written
   to ``observations``; inserted / updated / unchanged are worked out from the staging
   table when the preview asks for them.
2. ``apply_observations(plan, by=…)`` writes the staged rows set-based (one ``UPDATE …
   FROM`` for changed values, one ``INSERT … SELECT`` for new ones) in the same
   transaction, stores the previous value of every changed observation as an
   ``ObservationRevision`` tied to the ``ImportBatch`` (who, when, which file or token),
   and returns the batch with the counts the statements report.

Errors (unknown site codes, unknown metrics, non-dates, dates outside the pilot or in the
future, non-numbers, duplicates inside one file) are all collected and reported together
(the first ``max_errors`` of them listed, the rest counted); with any error nothing is
written. Re-importing the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select

from app.core import clock
from app.core.errors import ImportFailed, RowError
from app.core.imports import MAX_LISTED_ERRORS, Field, ImportKind, ImportPlan, propose_mapping
from app.core.labels import OBSERVATION_FIELD_LABELS
from app.core.tables import normalise_header, parse_dates, parse_numbers
from app.extensions import db
from app.models import ApiToken, ImportBatch, Metric, Pilot, Site, User
from app.sites.observation_bulk import Stage, StageGone, WriteCounts

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
#: No daily value of any metric comes near this: a larger one is a mistake (or an attack).
MAX_MAGNITUDE = 1e12


@dataclass
class ObservationPlan(ImportPlan):
    """What an import would do. ``ok`` means ``apply_observations`` may run.

    The valid rows wait in a staging table (:class:`~app.sites.observation_bulk.Stage`) of
    the current transaction; the counts are worked out from it when first asked for (the
    preview) and are the written ones once the plan is applied.
    """

    form: str = "long"
    metric_columns: dict[str, str] = field(default_factory=dict)  # column -> metric key
    ignored_columns: list[str] = field(default_factory=list)
    first_date: date | None = None
    last_date: date | None = None
    n_sites: int = 0
    metric_keys: list[str] = field(default_factory=list)
    outside_pilot_sites: list[str] = field(default_factory=list)
    pilot_id: int | None = None
    source: str | None = None
    stage: Stage | None = None
    written: WriteCounts | None = None
    _compared: WriteCounts | None = None

    def _counts(self) -> WriteCounts:
        if self.written is not None:
            return self.written
        if self._compared is None:
            if self.stage is None or not self.ok:
                return WriteCounts()
            try:
                self._compared = self.stage.compare()
            except StageGone:
                raise ImportFailed(_stage_gone()) from None
        return self._compared

    @property
    def inserted(self) -> int:
        return self._counts().inserted

    @property
    def updated(self) -> int:
        return self._counts().updated

    @property
    def unchanged(self) -> int:
        return self._counts().unchanged

    def counts(self) -> dict[str, int]:
        return self._counts().to_dict()


def _stage_gone() -> str:
    return _("The checked rows are no longer at hand. Preview the file again, then import.")


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
) -> ObservationPlan:
    """Validate all rows and stage the valid ones; nothing is written to ``observations``.

    ``chunks`` are frames of strings indexed by the row number the user sees (as from
    ``tabular.iter_upload``); each is validated and its valid rows go to a staging table
    at once, so memory holds one chunk whatever the size of the file. ``pilot`` restricts
    dates to its pre-period start … planned end. The plan must be applied in the same
    transaction (the staging table ends with it).
    """
    plan = ObservationPlan(
        pilot_id=pilot.id if pilot else None, source=source, max_errors=max_errors
    )
    lookups = _Lookups.load(pilot, today or clock.today())
    seen = _Seen()
    stage: Stage | None = None
    mapped = False
    for chunk in chunks:
        if not mapped:
            _map(chunk, plan, lookups, chosen)
            mapped = True
        if chunk.empty:
            continue
        plan.n_rows += len(chunk)
        block = _validate_chunk(chunk, plan, lookups)
        if block.empty:
            continue
        seen.add(block)
        if stage is None:
            stage = Stage(db.session.connection())
        stage.write(block)
        del block
    if plan.n_rows == 0:
        raise ImportFailed(_("The file has a header row but no data rows."))
    if stage is not None:
        _check_duplicates(stage, plan, lookups.metric_keys)
    plan.sort_errors()
    if stage is None:
        return plan
    seen.describe(plan, pilot, lookups)
    if plan.ok:
        plan.stage = stage
    else:
        stage.drop()
    return plan


class _Seen:
    """Days, sites and metrics of the valid rows, gathered chunk by chunk (small sets)."""

    def __init__(self) -> None:
        self.first: pd.Timestamp | None = None
        self.last: pd.Timestamp | None = None
        self.sites: set[int] = set()
        self.metrics: set[int] = set()

    def add(self, block: pd.DataFrame) -> None:
        low, high = block["date"].min(), block["date"].max()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)
        self.sites.update(int(s) for s in block["site_id"].unique())
        self.metrics.update(int(m) for m in block["metric_id"].unique())

    def describe(self, plan: ObservationPlan, pilot: Pilot | None, lookups: _Lookups) -> None:
        """Days, sites and metrics of the valid rows, and the sites outside the pilot."""
        plan.first_date = self.first.date()
        plan.last_date = self.last.date()
        plan.n_sites = len(self.sites)
        plan.metric_keys = sorted(lookups.metric_keys[m] for m in self.metrics)
        if pilot is not None:
            in_pilot = {a.site_id for a in pilot.assignments}
            codes = {sid: code for code, sid in lookups.sites.items()}
            plan.outside_pilot_sites = [codes[s] for s in sorted(self.sites - in_pilot)]


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


def _check_duplicates(stage: Stage, plan: ObservationPlan, metric_keys) -> None:
    """Rows repeating an earlier row's site, day (and metric): errors naming both rows."""
    room = max(plan.max_errors - len(plan.errors), 0)
    wide = plan.form == "wide"
    total, listed = stage.duplicates(room, per_row=wide)
    if not total:
        return
    if wide:
        column = plan.mapping["date"]
        message = _("Duplicate of row %(first)s (same site and date).", first="{first}")
        messages = [message.replace("{first}", str(d.first)) for d in listed]
    else:
        column = plan.mapping.get("metric") or plan.mapping["date"]
        messages = [
            _(
                "Duplicate of row %(first)s (same site, date and metric %(metric)s).",
                first=d.first,
                metric=metric_keys[d.metric_id],
            )
            for d in listed
        ]
    plan.add_errors([d.row for d in listed], column, messages)
    plan.n_errors += total - len(listed)


# ---------------------------------------------------------------- writing


def apply_observations(
    plan: ObservationPlan,
    *,
    by: User | None = None,
    token: ApiToken | None = None,
    filename: str | None = None,
    kind: str = "observations",
) -> ImportBatch:
    """Write a valid plan in the current transaction (set-based, from its staging table,
    a revision for every changed value); the caller commits."""
    if not plan.ok:
        raise ImportFailed(plan.errors)
    if plan.written is not None:
        raise ImportFailed(_stage_gone())  # a plan is applied once
    batch = ImportBatch(
        kind=kind,
        filename=filename,
        user_id=getattr(by, "id", None) if by is not None else None,
        api_token_id=token.id if token is not None else None,
        pilot_id=plan.pilot_id,
    )
    db.session.add(batch)
    db.session.flush()
    counts = WriteCounts()
    if plan.stage is not None:
        try:
            counts = plan.stage.upsert(batch.id, clock.utc_now())
        except StageGone:
            raise ImportFailed(_stage_gone()) from None
        plan.stage.drop()
    plan.written = counts
    batch.rows_inserted = counts.inserted
    batch.rows_updated = counts.updated
    batch.rows_unchanged = counts.unchanged
    db.session.flush()
    db.session.expire_all()
    return batch


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
