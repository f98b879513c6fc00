"""Input validation and tidy preparation for the analysis contract.

The engine takes two long, tidy frames (see ``ARCHITECTURE.md``, "The analysis contract"):

* ``observations``: ``site_id, date, metric, value`` -- one row per site, day and metric;
* ``sites``: ``site_id, arm`` (``"pilot"`` / ``"control"``) plus optional attribute columns.

:func:`validate` checks both and returns cleaned copies; every caller mistake raises
``ValueError`` with a message naming the problem and a few offending rows or values.
Conventions:

* ``site_id`` is compared as a string (``7`` and ``"7"`` are the same site; ``7.0`` read from a
  CSV with missing cells is turned back into ``"7"``);
* ``date`` is parsed and normalised to midnight (time of day and time zone are dropped);
* an empty ``value`` (NaN/None) is a missing observation and its row is dropped -- "missing
  values are absent rows"; text that is not a number and +/-inf are errors;
* rows before ``start`` are the pre-period, rows from ``start`` to ``end`` (inclusive) the
  post-period; rows after ``end`` are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ARMS",
    "OBSERVATION_COLUMNS",
    "SITE_COLUMNS",
    "parse_date",
    "site_period_means",
    "validate",
    "with_arm",
]

OBSERVATION_COLUMNS = ("site_id", "date", "metric", "value")
SITE_COLUMNS = ("site_id", "arm")
ARMS = ("pilot", "control")
_MAX_SHOWN = 5


def _show(values: Iterable[Any], limit: int = _MAX_SHOWN) -> str:
    """Format at most ``limit`` values for an error message."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f" ... and {len(values) - limit} more" if len(values) > limit else ""
    return f"{shown}{more}"


def _rows(index: Iterable[Any]) -> str:
    return f"rows {_show(list(index))}"


def parse_date(value: Any, name: str = "date") -> pd.Timestamp:
    """Parse one date-like value into a normalised, tz-naive ``Timestamp``.

    Raises ``ValueError`` naming ``name`` when it cannot be parsed.
    """
    if value is None:
        raise ValueError(f"{name} is required")
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} {value!r} is not a date") from exc
    if pd.isna(ts):
        raise ValueError(f"{name} {value!r} is not a date")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _require_frame(frame: Any, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {_show(missing)}; expected {list(columns)}, "
            f"found {[str(c) for c in frame.columns]}"
        )
    return frame.copy()


def _clean_site_ids(ids: pd.Series, name: str) -> pd.Series:
    """Site ids as stripped strings; integral floats (CSV artefacts) lose their ``.0``."""
    if ids.isna().any():
        raise ValueError(f"{name} has a missing site_id in {_rows(ids.index[ids.isna()])}")
    if pd.api.types.is_float_dtype(ids) and np.all(np.mod(ids.to_numpy(), 1) == 0):
        ids = ids.astype("int64")
    return ids.astype(str).str.strip()


def _clean_dates(dates: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(dates):
        parsed = dates
    else:
        parsed = pd.to_datetime(dates, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        raise ValueError(
            f"observations has dates that do not parse in {_rows(dates.index[bad])}: "
            f"{_show(dates[bad].tolist())}"
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize().astype("datetime64[ns]")


def _clean_values(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    not_numeric = numeric.isna() & values.notna()
    # Empty strings are missing values, not "non-numeric" text.
    if not_numeric.any() and values.dtype == object:
        blank = values.astype(str).str.strip().isin(["", "nan", "NaN", "NA", "null", "None"])
        not_numeric &= ~blank
    if not_numeric.any():
        raise ValueError(
            f"observations has non-numeric values in {_rows(values.index[not_numeric])}: "
            f"{_show(values[not_numeric].tolist())}"
        )
    numeric = numeric.astype(float)
    infinite = np.isinf(numeric.to_numpy())
    if infinite.any():
        raise ValueError(
            f"observations has infinite values in {_rows(values.index[infinite])}: "
            f"{_show(numeric[infinite].tolist())}"
        )
    return numeric


def _clean_sites(sites: pd.DataFrame) -> pd.DataFrame:
    sites = _require_frame(sites, "sites", SITE_COLUMNS)
    sites["site_id"] = _clean_site_ids(sites["site_id"], "sites")
    dup = sites["site_id"].duplicated(keep=False)
    if dup.any():
        raise ValueError(
            f"sites lists a site more than once: {_show(sorted(set(sites.loc[dup, 'site_id'])))}"
        )
    arm = sites["arm"].astype("string").str.strip().str.lower()
    unknown = arm.isna() | ~arm.isin(ARMS)
    if unknown.any():
        raise ValueError(
            f"sites has unknown arm value(s) {_show(sorted(set(map(str, sites['arm'][unknown]))))} "
            f"for site(s) {_show(sites.loc[unknown, 'site_id'].tolist())}; "
            f"expected one of {list(ARMS)}"
        )
    sites["arm"] = arm.astype(str)
    for needed in ARMS:
        if not (sites["arm"] == needed).any():
            raise ValueError(f"sites has no {needed} sites; a comparison needs both arms")
    return sites.reset_index(drop=True)


def validate(
    observations: pd.DataFrame,
    sites: pd.DataFrame,
    start: Any,
    end: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the analysis inputs and return cleaned copies ``(observations, sites)``.

    Parameters
    ----------
    observations
        Long frame with columns ``site_id, date, metric, value`` (extra columns are kept).
    sites
        Frame with columns ``site_id, arm`` plus optional attributes.
    start
        First day of the pilot; earlier rows form the pre-period.
    end
        Optional last day (inclusive) of the post-period; later rows are dropped.

    Returns
    -------
    observations, sites
        ``site_id`` as ``str``, ``date`` as normalised ``datetime64[ns]``, ``metric`` as ``str``,
        ``value`` as ``float`` (rows with a missing value removed), ``arm`` in
        ``{"pilot", "control"}``; observations sorted by metric, site and date.

    Raises
    ------
    ValueError
        For missing or misnamed columns, duplicate ``(site_id, date, metric)`` rows, sites
        absent from ``sites``, unknown arms, no pilot or no control sites, no pre-period rows,
        non-numeric or infinite values, dates that do not parse, or ``end`` before ``start``.
    """
    start_ts = parse_date(start, "start")
    end_ts = None if end is None else parse_date(end, "end")
    if end_ts is not None and end_ts < start_ts:
        raise ValueError(f"end {end_ts.date()} is before start {start_ts.date()}")

    obs = _require_frame(observations, "observations", OBSERVATION_COLUMNS)
    site_frame = _clean_sites(sites)
    if obs.empty:
        raise ValueError("observations is empty")

    obs["site_id"] = _clean_site_ids(obs["site_id"], "observations")
    no_metric = obs["metric"].isna()
    if no_metric.any():
        raise ValueError(f"observations has a missing metric in {_rows(obs.index[no_metric])}")
    obs["metric"] = obs["metric"].astype(str).str.strip()
    obs["date"] = _clean_dates(obs["date"])
    obs["value"] = _clean_values(obs["value"])
    obs = obs[obs["value"].notna()]

    dup = obs.duplicated(["site_id", "date", "metric"], keep=False)
    if dup.any():
        example = obs.loc[dup, ["site_id", "date", "metric"]].head(_MAX_SHOWN)
        keys = [(r.site_id, str(r.date.date()), r.metric) for r in example.itertuples()]
        raise ValueError(
            f"observations has duplicate (site_id, date, metric) rows in "
            f"{_rows(obs.index[dup])}: {_show(keys)}"
        )

    unknown = ~obs["site_id"].isin(site_frame["site_id"])
    if unknown.any():
        raise ValueError(
            "observations has site(s) not listed in sites: "
            f"{_show(sorted(set(obs.loc[unknown, 'site_id'])))} (in {_rows(obs.index[unknown])})"
        )

    if end_ts is not None:
        obs = obs[obs["date"] <= end_ts]
    if obs.empty:
        raise ValueError("observations has no rows with a value")
    if not (obs["date"] < start_ts).any():
        raise ValueError(
            f"observations has no pre-period rows (no dates before start {start_ts.date()}); "
            f"earliest date is {obs['date'].min().date()}"
        )
    obs = obs.sort_values(["metric", "site_id", "date"], kind="stable").reset_index(drop=True)
    return obs, site_frame


def with_arm(observations: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Observations (validated) with the site's ``arm`` attached as a column."""
    arms = sites.set_index("site_id")["arm"]
    out = observations.copy()
    out["arm"] = out["site_id"].map(arms)
    return out


def site_period_means(
    obs_one_metric: pd.DataFrame,
    sites: pd.DataFrame,
    start: Any,
    end: Any = None,
) -> pd.DataFrame:
    """Per-site means of one metric before and after ``start``.

    ``obs_one_metric`` and ``sites`` are validated frames (see :func:`validate`) and the
    observations hold a single metric. Returns a frame indexed by ``site_id`` (sites with at
    least one observation) with columns ``arm``, ``pre``, ``post`` (means; NaN when the site has
    no rows in that period), ``n_pre`` and ``n_post`` (numbers of days observed).
    """
    metrics = obs_one_metric["metric"].unique() if "metric" in obs_one_metric else []
    if len(metrics) > 1:
        raise ValueError(f"site_period_means needs one metric, got {_show(sorted(metrics))}")
    start_ts = parse_date(start, "start")
    frame = obs_one_metric
    if end is not None:
        frame = frame[frame["date"] <= parse_date(end, "end")]
    post = (frame["date"] >= start_ts).to_numpy()
    site = frame["site_id"].to_numpy()
    value = frame["value"].to_numpy(dtype=float)
    order = pd.Index(sorted(pd.unique(site)), name="site_id")

    def _means(mask: np.ndarray) -> tuple[pd.Series, pd.Series]:
        grouped = pd.Series(value[mask]).groupby(site[mask])
        return grouped.mean().reindex(order), grouped.size().reindex(order, fill_value=0)

    pre_mean, n_pre = _means(~post)
    post_mean, n_post = _means(post)
    arms = sites.set_index("site_id")["arm"].reindex(order)
    return pd.DataFrame(
        {
            "arm": arms.to_numpy(),
            "pre": pre_mean.to_numpy(),
            "post": post_mean.to_numpy(),
            "n_pre": n_pre.to_numpy().astype(int),
            "n_post": n_post.to_numpy().astype(int),
        },
        index=order,
    )
