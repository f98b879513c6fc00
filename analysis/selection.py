"""Choosing pilot sites and their control sites, with reasons a person can check.

:func:`propose_pilot_sites`
    Follows the rule of thumb *representative, the problem clearly present, contained risk*:

    1. **representative** -- the ``n`` pilot slots are shared out over the strata of
       ``stratify_by`` (e.g. region) in proportion to their number of sites (largest-remainder
       rounding);
    2. **the problem clearly present** -- within a stratum, sites are ranked by
       ``problem_metric`` (its mean over ``history``, or a site attribute) in the
       ``problem_direction`` (``"high"``: long waits are the problem) and taken from the top;
       without a problem metric the order is a seeded random shuffle;
    3. **contained risk** -- a site is skipped when adding it would put more than
       ``max_volume_share`` of the total volume (``volume_col``) into the pilot; unfilled slots
       go to the most affected remaining sites of any stratum.

    Every chosen site carries plain-English reasons with the numbers behind them. Sites picked
    for an extreme value drift back towards the mean by themselves (regression to the mean);
    the proposal says so and :func:`select_controls` with ``method="matched"`` counters it by
    matching on the pre-period level.
:func:`select_controls`
    ``"matched"``: nearest neighbours without replacement on a standardized distance over the
    pre-period level and trend of a metric (from ``history``) and the ``match_on`` attributes
    (numeric ones standardized by their SD over all sites; a categorical mismatch costs 2 SD),
    assigned greedily over all pilot-candidate pairs, closest first. ``"stratified_random"``:
    controls drawn at random within the strata of the categorical ``match_on`` attributes, in
    proportion to the pilots' strata, re-drawn ``rerandomize`` times (seeded) and the draw with
    the smallest maximum ``|SMD|`` kept (Morgan & Rubin 2012).
:func:`balance_table`
    Standardized mean differences via :func:`analysis.diagnostics.balance` (``SMD = (mean_p -
    mean_c) / sqrt((var_p + var_c) / 2)``; one row per level of a categorical covariate; ``|SMD|
    > 0.25`` flagged).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnostics import BALANCE_THRESHOLD, BalanceRow, balance, balance_lines
from analysis.results import Reason, ResultMixin, make_reason

__all__ = [
    "BalanceTable",
    "ControlSelection",
    "SiteProposal",
    "balance_table",
    "propose_pilot_sites",
    "select_controls",
]

_DEFAULT_VOLUME = "orders"
_CATEGORY_PENALTY = 2.0


class _Default(str):
    """Marks a default argument so that a missing default column is not an error."""


# --------------------------------------------------------------------------------------------
# Shared helpers


def _site_frame(sites: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sites, pd.DataFrame):
        raise ValueError(f"sites must be a pandas DataFrame, got {type(sites).__name__}")
    if "site_id" not in sites.columns:
        raise ValueError(
            f"sites is missing column 'site_id'; found {[str(c) for c in sites.columns]}"
        )
    frame = sites.copy()
    if frame["site_id"].isna().any():
        raise ValueError("sites has a row without a site_id")
    frame["site_id"] = frame["site_id"].astype(str).str.strip()
    dup = frame["site_id"].duplicated()
    if dup.any():
        raise ValueError(f"sites lists a site more than once: {frame.loc[dup, 'site_id'].tolist()}")
    return frame.set_index("site_id", drop=False)


def _history_frame(history: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(history, pd.DataFrame):
        raise ValueError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in ("site_id", "date", "metric", "value") if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing column(s) {missing}")
    frame = history[["site_id", "date", "metric", "value"]].copy()
    frame["site_id"] = frame["site_id"].astype(str).str.strip()
    frame["metric"] = frame["metric"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame["date"] = pd.to_datetime(frame["date"], errors="coerce")
    if frame["date"].isna().any():
        raise ValueError("history has dates that do not parse")
    return frame.dropna(subset=["value"])


def _metric_rows(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    metrics = sorted(set(history["metric"]))
    if metric not in metrics:
        raise ValueError(f"unknown metric {metric!r}; history has {metrics}")
    return history[history["metric"] == metric]


def _level_and_trend(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per-site mean and OLS slope per day of one metric."""
    day = (rows["date"] - rows["date"].min()).dt.days.astype(float)
    frame = pd.DataFrame({"site_id": rows["site_id"], "day": day, "value": rows["value"]})
    grouped = frame.groupby("site_id")
    level = grouped["value"].mean()
    dm = frame["day"] - grouped["day"].transform("mean")
    vm = frame["value"] - grouped["value"].transform("mean")
    sxy = (dm * vm).groupby(frame["site_id"]).sum()
    sxx = (dm * dm).groupby(frame["site_id"]).sum()
    trend = (sxy / sxx.where(sxx > 0)).reindex(level.index)
    return level, trend


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _ids(values: Iterable[Any], name: str) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{name} must be a list of site ids, not a single string")
    out = [str(v).strip() for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a site more than once")
    return out


# --------------------------------------------------------------------------------------------
# Balance


@dataclass(frozen=True, slots=True)
class BalanceTable(ResultMixin):
    """Standardized mean differences between two sets of sites."""

    rows: tuple[BalanceRow, ...]
    """One row per covariate (per level for categorical ones): means, SMD, flag."""
    threshold: float
    """``|SMD|`` above which a row is flagged."""
    max_abs_smd: float
    """Largest ``|SMD|`` over the rows (0 when there are none)."""
    n_pilot: int
    """Pilot sites compared."""
    n_control: int
    """Control sites compared."""
    error: str | None = None
    """Why no balance could be computed."""

    @property
    def flagged(self) -> list[str]:
        """Covariates whose ``|SMD|`` exceeds the threshold."""
        return [r.variable for r in self.rows if r.flagged]

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame."""
        return pd.DataFrame([r.to_dict() for r in self.rows])

    def summary(self) -> str:
        """A small table, imbalanced rows marked."""
        if self.error:
            return f"Balance: not computed ({self.error})"
        head = (
            f"Balance of {self.n_pilot} pilot vs {self.n_control} control sites "
            f"(|SMD| > {self.threshold} flagged; max |SMD| {self.max_abs_smd:.2f}):"
        )
        return "\n".join([head, *balance_lines(self.rows)])


def balance_table(
    sites: pd.DataFrame,
    pilot_ids: Sequence[Any],
    control_ids: Sequence[Any],
    covariates: Sequence[str],
    *,
    threshold: float = BALANCE_THRESHOLD,
) -> BalanceTable:
    """SMD of each covariate between ``pilot_ids`` and ``control_ids`` sites.

    Numeric covariates give one row; categorical ones one row per level (share of sites).
    Computed by :func:`analysis.diagnostics.balance`.
    """
    frame = _site_frame(sites)
    covariates = list(covariates)
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise ValueError(f"sites has no covariate column(s) {missing}")
    pilots = _ids(pilot_ids, "pilot_ids")
    controls = _ids(control_ids, "control_ids")
    overlap = sorted(set(pilots) & set(controls))
    if overlap:
        raise ValueError(f"sites are both pilot and control: {overlap}")
    unknown = sorted(set(pilots + controls) - set(frame.index))
    if unknown:
        raise ValueError(f"unknown site id(s) {unknown}")
    if not pilots or not controls:
        return BalanceTable((), threshold, 0.0, len(pilots), len(controls), "an arm is empty")
    table = frame.loc[pilots + controls, covariates].reset_index(drop=True)
    table.insert(0, "arm", ["pilot"] * len(pilots) + ["control"] * len(controls))
    table.insert(0, "site_id", pilots + controls)
    result = balance(table, threshold=threshold)
    smds = [abs(r.smd) for r in result.rows if not np.isnan(r.smd)]
    return BalanceTable(
        rows=tuple(result.rows),
        threshold=threshold,
        max_abs_smd=float(max(smds)) if smds else 0.0,
        n_pilot=len(pilots),
        n_control=len(controls),
    )


# --------------------------------------------------------------------------------------------
# Proposing pilot sites


@dataclass(frozen=True, slots=True)
class SiteProposal(ResultMixin):
    """A proposed set of pilot sites, each with the reasons it was chosen."""

    site_ids: tuple[str, ...]
    """Proposed pilot sites, in the order they were chosen."""
    reasons: dict[str, tuple[str, ...]]
    """Plain-English reasons per proposed site, with the data behind them."""
    strata: tuple[dict[str, Any], ...]
    """Per stratum: ``stratum``, ``n_sites``, ``allocated`` (fair share of the slots) and
    ``chosen``."""
    volume_share: float | None
    """Share of total volume at the proposed sites (``None`` without a volume column)."""
    n_requested: int
    """Number of pilot sites asked for."""
    stratify_by: str | None
    """Attribute whose strata are covered proportionally."""
    problem_metric: str | None
    """Metric showing the problem, if any."""
    problem_direction: str
    """``"high"`` (larger values are the problem) or ``"low"``."""
    max_volume_share: float
    """Cap on the share of total volume at risk."""
    seed: int
    """Seed of the tie-breaking / random order."""
    warnings: tuple[str, ...] = ()
    """Caveats: unfilled slots, regression to the mean, missing volume column."""
    error: str | None = None
    """Why no site could be proposed."""
    reason_details: dict[str, tuple[Reason, ...]] = field(default_factory=dict)
    """The same reasons with stable codes and their numbers, for translation."""

    def summary(self) -> str:
        """The proposal, one site per line with its reasons."""
        if self.error:
            return f"Pilot site proposal: none ({self.error})"
        vol = "" if self.volume_share is None else f", {self.volume_share:.1%} of volume"
        lines = [f"Proposed {len(self.site_ids)} of {self.n_requested} pilot sites{vol}:"]
        for sid in self.site_ids:
            lines.append(f"  {sid}: " + "; ".join(self.reasons[sid]))
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _strata_labels(frame: pd.DataFrame, stratify_by: str | None) -> pd.Series:
    if stratify_by is None:
        return pd.Series("all sites", index=frame.index)
    values = frame[stratify_by]
    if values.isna().any():
        raise ValueError(f"stratify_by column {stratify_by!r} has missing values")
    if _is_numeric(values) and values.nunique() > 5:
        cut = pd.qcut(values, 3, labels=["low", "middle", "high"], duplicates="drop")
        return cut.astype(str).radd(f"{stratify_by} ")
    return values.astype(str)


def _allocate(sizes: pd.Series, n: int, cap: bool = True) -> pd.Series:
    """Largest-remainder proportional allocation of ``n`` over strata of ``sizes``.

    With ``cap`` no stratum gets more than its size.
    """
    quota = sizes / sizes.sum() * n
    alloc = np.floor(quota).astype(int)
    order = sorted(sizes.index, key=lambda s: (-(quota[s] - alloc[s]), -sizes[s], str(s)))
    for s in order[: n - int(alloc.sum())]:
        alloc[s] += 1
    return alloc.clip(upper=sizes) if cap else alloc


def propose_pilot_sites(
    sites: pd.DataFrame,
    history: pd.DataFrame | None = None,
    n: int = 10,
    stratify_by: str | None = "region",
    problem_metric: str | None = None,
    problem_direction: str = "high",
    max_volume_share: float = 0.15,
    volume_col: str | None = _Default(_DEFAULT_VOLUME),
    seed: int = 0,
) -> SiteProposal:
    """Propose ``n`` pilot sites: representative, the problem present, limited volume at risk.

    Parameters
    ----------
    sites
        ``site_id`` plus attributes (``stratify_by``, and ``volume_col`` or ``problem_metric``
        when they are attributes).
    history
        Observations ``site_id, date, metric, value`` before the pilot (optional); the site mean
        of ``problem_metric`` (and of ``volume_col`` when it is a metric) comes from here.
    n
        Number of pilot sites.
    stratify_by
        Attribute whose strata are covered in proportion (``None``: no strata; a numeric
        attribute with many values is cut into tertiles).
    problem_metric, problem_direction
        Metric (in ``history``) or attribute showing the problem; ``"high"`` or ``"low"`` values
        are the problem.
    max_volume_share
        Largest share of total volume the pilot sites may carry.
    volume_col
        Attribute (or metric of ``history``) measuring volume. The default ``"orders"`` is
        skipped with a warning when absent; a name passed explicitly must exist.
    seed
        Seed for tie-breaking and for the random order used without a problem metric.
    """
    frame = _site_frame(sites)
    _check_proposal(frame, n, stratify_by, problem_direction, max_volume_share)
    hist = None if history is None else _history_frame(history)
    notes: list[str] = []
    problem = _problem_values(frame, hist, problem_metric)
    volume = _volume_values(frame, hist, volume_col, max_volume_share, notes)
    labels = _strata_labels(frame, stratify_by)
    eligible = frame.index
    if problem is not None and problem.isna().any():
        dropped = problem.index[problem.isna()].tolist()
        notes.append(f"{len(dropped)} site(s) without {problem_metric} data were not considered")
        eligible = problem.index[problem.notna()]
    empty = dict(site_ids=(), reasons={}, strata=(), volume_share=None)
    base = dict(
        n_requested=int(n),
        stratify_by=stratify_by,
        problem_metric=problem_metric,
        problem_direction=problem_direction,
        max_volume_share=float(max_volume_share),
        seed=int(seed),
    )
    if len(eligible) == 0:
        return SiteProposal(**empty, **base, error="no eligible sites")
    if n > len(eligible):
        raise ValueError(f"n={n} pilot sites requested but only {len(eligible)} sites are eligible")
    vol_name = None if volume_col is None else str(volume_col)
    pool = _pool(
        frame, labels, eligible, int(n), problem, problem_direction, volume, vol_name, seed
    )
    picker = _pick(pool, int(n), max_volume_share, notes)
    if not picker.chosen:
        error = f"no site fits under the {max_volume_share:.0%} volume cap"
        return SiteProposal(**empty, **base, warnings=tuple(notes), error=error)
    return _proposal(pool, picker, n, base, notes)


_WORDING = ("stratify_by", "problem_metric", "problem_direction", "max_volume_share")


def _proposal(
    pool: _Pool, picker: _Picker, n: Any, base: dict[str, Any], notes: list[str]
) -> SiteProposal:
    """The proposal of the chosen sites, each with its reasons."""
    wording = {k: base[k] for k in _WORDING}
    details = {sid: _proposal_reasons(pool, sid, picker, n, **wording) for sid in picker.chosen}
    if pool.problem is not None:
        notes.append(
            f"sites chosen for extreme {base['problem_metric']} tend to improve on their own "
            "(regression to the mean): use select_controls(method='matched') with history so "
            "that controls match the pre-period level"
        )
    return SiteProposal(
        site_ids=tuple(picker.chosen),
        reasons={sid: tuple(r.text for r in items) for sid, items in details.items()},
        reason_details=details,
        strata=_strata_rows(pool, picker.chosen),
        volume_share=picker.share,
        warnings=tuple(notes),
        **base,
    )


def _check_proposal(
    frame: pd.DataFrame,
    n: Any,
    stratify_by: str | None,
    problem_direction: str,
    max_volume_share: float,
) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}")
    if problem_direction not in ("high", "low"):
        raise ValueError(f"problem_direction must be 'high' or 'low', got {problem_direction!r}")
    if not 0 < max_volume_share <= 1:
        raise ValueError(f"max_volume_share must lie in (0, 1], got {max_volume_share!r}")
    if stratify_by is not None and stratify_by not in frame.columns:
        raise ValueError(f"sites has no column {stratify_by!r} to stratify by")


def _problem_values(
    frame: pd.DataFrame, hist: pd.DataFrame | None, problem_metric: str | None
) -> pd.Series | None:
    """Per site: the mean of ``problem_metric`` over history, or the attribute of that name."""
    if problem_metric is None:
        return None
    if hist is not None and problem_metric in set(hist["metric"]):
        problem = _metric_rows(hist, problem_metric).groupby("site_id")["value"].mean()
    elif problem_metric in frame.columns and _is_numeric(frame[problem_metric]):
        problem = frame[problem_metric].astype(float)
    else:
        raise ValueError(
            f"problem_metric {problem_metric!r} is neither a metric in history nor a "
            "numeric column of sites"
        )
    return problem.reindex(frame.index)


def _volume_values(
    frame: pd.DataFrame,
    hist: pd.DataFrame | None,
    volume_col: str | None,
    max_volume_share: float,
    notes: list[str],
) -> pd.Series | None:
    """Per site: the volume attribute, or the mean of that metric over history (missing: 0)."""
    if volume_col is None:
        return None
    vol_name = str(volume_col)
    volume: pd.Series | None = None
    if vol_name in frame.columns and _is_numeric(frame[vol_name]):
        volume = frame[vol_name].astype(float)
    elif hist is not None and vol_name in set(hist["metric"]):
        volume = _metric_rows(hist, vol_name).groupby("site_id")["value"].mean()
        volume = volume.reindex(frame.index)
    elif isinstance(volume_col, _Default):
        notes.append(
            f"no volume column {vol_name!r}: the {max_volume_share:.0%} volume cap was not "
            "applied (pass volume_col=)"
        )
        return None
    else:
        raise ValueError(
            f"volume_col {vol_name!r} is neither a numeric column of sites nor a metric in history"
        )
    if volume.isna().any():
        missing = volume.index[volume.isna()].tolist()
        notes.append(f"no volume for {missing[:5]}: counted as 0")
        volume = volume.fillna(0.0)
    if (volume < 0).any():
        raise ValueError(f"volume {vol_name!r} has negative values")
    return volume


@dataclass(frozen=True, slots=True)
class _Pool:
    """The eligible sites, their strata and the order in which they are taken."""

    labels: pd.Series
    """Stratum of every site."""
    eligible: pd.Index
    sizes: pd.Series
    """Eligible sites per stratum."""
    alloc: pd.Series
    """Pilot slots per stratum (largest-remainder proportional)."""
    per_stratum: dict[str, list[str]]
    """Eligible members of each stratum, most affected (or seeded random) first."""
    tiebreak: pd.Series
    problem: pd.Series | None
    volume: pd.Series | None
    """Volume per site (``None``: no cap)."""
    volume_name: str | None


def _pool(
    frame: pd.DataFrame,
    labels: pd.Series,
    eligible: pd.Index,
    n: int,
    problem: pd.Series | None,
    problem_direction: str,
    volume: pd.Series | None,
    volume_name: str | None,
    seed: int,
) -> _Pool:
    sizes = labels[eligible].value_counts().sort_index()
    alloc = _allocate(sizes, n)
    rng = np.random.default_rng(seed)
    tiebreak = pd.Series(rng.random(len(frame)), index=frame.index)
    if problem is not None:
        signed = problem if problem_direction == "high" else -problem
        order_key = signed.rank(ascending=False, method="first")
    else:
        order_key = tiebreak.rank(method="first")
    per_stratum: dict[str, list[str]] = {}
    for stratum in sizes.index:
        members = [s for s in eligible if labels[s] == stratum]
        members.sort(key=lambda s: (order_key[s], tiebreak[s]))
        per_stratum[stratum] = members
    return _Pool(
        labels, eligible, sizes, alloc, per_stratum, tiebreak, problem, volume, volume_name
    )


@dataclass(slots=True)
class _Picker:
    """The sites chosen so far and the volume they carry, against the cap."""

    volume: pd.Series | None
    cap: float
    total_volume: float
    chosen: list[str] = field(default_factory=list)
    used: float = 0.0
    running: list[float] = field(default_factory=list)
    """``used`` right after each chosen site was taken."""

    def take(self, sid: str) -> bool:
        """Choose ``sid`` if it fits under the volume cap; whether it did."""
        volume = self.volume
        if (
            volume is None
            or self.total_volume <= 0
            or self.used + float(volume[sid]) <= self.cap + 1e-9
        ):
            self.chosen.append(sid)
            self.used += 0.0 if volume is None else float(volume[sid])
            self.running.append(self.used)
            return True
        return False

    @property
    def share(self) -> float | None:
        """Share of total volume at the chosen sites (``None`` without volume)."""
        if self.volume is not None and self.total_volume > 0:
            return self.used / self.total_volume
        return None


def _pick(pool: _Pool, n: int, max_volume_share: float, notes: list[str]) -> _Picker:
    """Round robin over the strata, then unfilled slots to the most affected sites anywhere."""
    total_volume = float(pool.volume.sum()) if pool.volume is not None else 0.0
    picker = _Picker(pool.volume, max_volume_share * total_volume, total_volume)
    # Round robin over the strata (most affected site of each stratum first), so that a
    # binding volume cap does not starve the strata visited last.
    taken = dict.fromkeys(pool.sizes.index, 0)
    cursor = dict.fromkeys(pool.sizes.index, 0)
    while True:
        progressed = False
        for stratum in pool.sizes.index:
            members = pool.per_stratum[stratum]
            while taken[stratum] < pool.alloc[stratum] and cursor[stratum] < len(members):
                sid = members[cursor[stratum]]
                cursor[stratum] += 1
                if picker.take(sid):
                    taken[stratum] += 1
                    progressed = True
                    break
        if not progressed:
            break
    if n - len(picker.chosen) > 0:
        _fill_shortfall(pool, picker, n, max_volume_share, notes)
    return picker


def _fill_shortfall(
    pool: _Pool, picker: _Picker, n: int, max_volume_share: float, notes: list[str]
) -> None:
    rest = [s for s in pool.eligible if s not in picker.chosen]
    if pool.problem is not None:
        per_stratum, labels = pool.per_stratum, pool.labels
        pct = {s: (per_stratum[labels[s]].index(s) + 1) / len(per_stratum[labels[s]]) for s in rest}
        rest.sort(key=lambda s: (pct[s], pool.tiebreak[s]))
    else:
        rest.sort(key=lambda s: pool.tiebreak[s])
    for sid in rest:
        if len(picker.chosen) >= n:
            break
        picker.take(sid)
    if len(picker.chosen) < n:
        notes.append(
            f"only {len(picker.chosen)} of {n} sites fit under the {max_volume_share:.0%} volume "
            "cap"
        )
    else:
        notes.append(
            "some strata could not fill their share under the volume cap; their slots went "
            "to the most affected sites elsewhere"
        )


def _proposal_reasons(
    pool: _Pool,
    sid: str,
    picker: _Picker,
    n: Any,
    *,
    stratify_by: str | None,
    problem_metric: str | None,
    problem_direction: str,
    max_volume_share: float,
) -> tuple[Reason, ...]:
    """Why ``sid`` was chosen: its stratum's share, its rank on the problem, its volume."""
    stratum = pool.labels[sid]
    members = pool.per_stratum[stratum]
    items: list[Reason] = []
    if stratify_by is not None:
        items.append(
            make_reason(
                "stratum_share",
                "{by} {stratum}: {sites} of {eligible} sites, {slots} of {n} pilot slots "
                "by proportion",
                by=stratify_by,
                stratum=str(stratum),
                sites=int(pool.sizes[stratum]),
                eligible=len(pool.eligible),
                slots=int(pool.alloc[stratum]),
                n=n,
            )
        )
    if pool.problem is not None:
        items.append(
            _problem_reason(pool, sid, members, stratify_by, problem_metric, problem_direction)
        )
    else:
        items.append(
            make_reason("random_order", "chosen in a seeded random order (no problem metric given)")
        )
    volume, total = pool.volume, picker.total_volume
    if volume is not None and total > 0:
        running = picker.running[picker.chosen.index(sid)]
        items.append(
            make_reason(
                "volume_share",
                "{name} {volume:,.4g} = {share:.1%} of total volume "
                "(pilot total {running:.1%}, cap {cap:.0%})",
                name=pool.volume_name,
                volume=float(volume[sid]),
                share=float(volume[sid] / total),
                running=running / total,
                cap=max_volume_share,
            )
        )
    return tuple(items)


def _problem_reason(
    pool: _Pool,
    sid: str,
    members: list[str],
    stratify_by: str | None,
    problem_metric: str | None,
    problem_direction: str,
) -> Reason:
    stratum = pool.labels[sid]
    rank = members.index(sid) + 1
    value = pool.problem[sid]
    params = {
        "metric": problem_metric,
        "value": float(value),
        "rank": rank,
        "members": len(members),
        "direction": problem_direction,
        "top": math.ceil(100 * rank / len(members)),
        "by": stratify_by,
        "stratum": str(stratum) if stratify_by is not None else None,
    }
    where = f"{stratify_by} {stratum}" if stratify_by is not None else "all sites"
    side = "highest" if problem_direction == "high" else "lowest"
    return Reason(
        "problem_rank",
        params,
        f"{problem_metric} {value:.3g}: rank {rank} of {len(members)} in "
        f"{where} ({side} {params['top']} %, the problem is clearly present)",
    )


def _strata_rows(pool: _Pool, chosen: list[str]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "stratum": str(s),
            "n_sites": int(pool.sizes[s]),
            "allocated": int(pool.alloc[s]),
            "chosen": int(sum(pool.labels[c] == s for c in chosen)),
        }
        for s in pool.sizes.index
    )


# --------------------------------------------------------------------------------------------
# Control sites


@dataclass(frozen=True, slots=True)
class ControlSelection(ResultMixin):
    """Control sites for a set of pilot sites, with balance and reasons."""

    control_ids: tuple[str, ...]
    """Chosen control sites."""
    pilot_ids: tuple[str, ...]
    """The pilot sites they are compared with."""
    method: str
    """``"matched"`` or ``"stratified_random"``."""
    reasons: dict[str, tuple[str, ...]]
    """Plain-English reasons per control site."""
    balance: BalanceTable
    """Balance of the covariates between pilots and the chosen controls."""
    covariates: tuple[str, ...]
    """Covariates used (``<metric> level`` / ``<metric> trend`` from history, then
    ``match_on``)."""
    matches: dict[str, str] = field(default_factory=dict)
    """Control site -> pilot site it was matched to (matched method)."""
    n_draws: int = 0
    """Random draws compared (stratified random method)."""
    seed: int = 0
    """Seed used."""
    warnings: tuple[str, ...] = ()
    """Caveats."""
    error: str | None = None
    """Why no controls could be selected."""
    reason_details: dict[str, tuple[Reason, ...]] = field(default_factory=dict)
    """The same reasons with stable codes and their numbers, for translation."""

    def summary(self) -> str:
        """The chosen controls, their reasons and the balance table."""
        if self.error:
            return f"Control selection: none ({self.error})"
        lines = [
            f"{len(self.control_ids)} control sites for {len(self.pilot_ids)} pilot sites "
            f"({self.method}):"
        ]
        for sid in self.control_ids:
            lines.append(f"  {sid}: " + "; ".join(self.reasons[sid]))
        lines.append(self.balance.summary())
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _balance_matrix(covs: pd.DataFrame, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """Columns whose SMDs make the balance table: numeric covariates, one 0/1 per level."""
    cols = [covs[c].astype(float).to_numpy() for c in numeric]
    for c in categorical:
        values = covs[c].astype(str)
        cols.extend((values == level).to_numpy(dtype=float) for level in sorted(values.unique()))
    return np.column_stack(cols) if cols else np.zeros((len(covs), 0))


def _max_abs_smd(pilot: np.ndarray, control: np.ndarray) -> float:
    """Largest ``|SMD|`` over columns, as :func:`analysis.diagnostics.balance` computes it."""
    if pilot.shape[1] == 0:
        return 0.0
    vp = pilot.var(axis=0, ddof=1) if len(pilot) > 1 else np.full(pilot.shape[1], np.nan)
    vc = control.var(axis=0, ddof=1) if len(control) > 1 else np.full(pilot.shape[1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt(np.nanmean(np.vstack([vp, vc]), axis=0))
        diff = pilot.mean(axis=0) - control.mean(axis=0)
        smd = np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1.0), 0.0)
        smd = np.where((pooled > 0) | (diff == 0), smd, np.inf)
    return float(np.max(np.abs(smd)))


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return str(v)


def select_controls(
    sites: pd.DataFrame,
    pilot_site_ids: Sequence[Any],
    history: pd.DataFrame | None = None,
    method: str = "matched",
    n: int | None = None,
    match_on: Sequence[str] | None = None,
    seed: int = 0,
    rerandomize: int = 1000,
    *,
    metric: str | None = None,
) -> ControlSelection:
    """Pick control sites for ``pilot_site_ids``.

    Parameters
    ----------
    sites
        ``site_id`` plus attributes; every site not in ``pilot_site_ids`` is a candidate (an
        ``arm`` column, if present, is ignored).
    pilot_site_ids
        The pilot sites.
    history
        Pre-period observations ``site_id, date, metric, value``; the level (mean) and trend
        (OLS slope per day) of ``metric`` per site become matching and balance covariates.
    method
        ``"matched"`` (nearest neighbours) or ``"stratified_random"`` (re-randomized).
    n
        Number of controls; default ``min(2 * pilots, candidates)``.
    match_on
        Site attributes to match or stratify on (numeric: distance; categorical: strata).
    seed, rerandomize
        Seed, and number of random draws among which the best balanced is kept.
    metric
        Metric of ``history`` (required when it holds several).
    """
    frame = _site_frame(sites)
    pilots, match_on = _check_controls(frame, method, pilot_site_ids, match_on, rerandomize)
    notes: list[str] = []
    covs = _covariates(frame, history, metric, match_on)
    cov_names = list(covs.columns)
    if method == "matched" and not cov_names:
        raise ValueError("matched controls need history or match_on to match on")
    candidates = _candidates(frame, covs, pilots, notes)
    if n is None:
        n = min(2 * len(pilots), len(candidates))
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}")
    if n > len(candidates):
        raise ValueError(f"n={n} controls requested but only {len(candidates)} candidates exist")
    if not candidates:
        empty = BalanceTable((), BALANCE_THRESHOLD, 0.0, len(pilots), 0, "no candidates")
        return ControlSelection(
            (), tuple(pilots), method, {}, empty, tuple(cov_names), error="no candidate sites"
        )
    numeric = [c for c in cov_names if _is_numeric(covs[c])]
    categorical = [c for c in cov_names if c not in numeric]
    rng = np.random.default_rng(seed)
    if method == "matched":
        matches, details = _match(covs, pilots, candidates, numeric, categorical, n)
        chosen, n_draws = list(matches), 0
    else:
        matches = {}
        chosen, details, n_draws = _draw_stratified(
            covs, pilots, candidates, numeric, categorical, n, rerandomize, rng, notes
        )
    table = _selection_balance(frame, covs, pilots, chosen, notes)
    return ControlSelection(
        control_ids=tuple(chosen),
        pilot_ids=tuple(pilots),
        method=method,
        reasons={cid: tuple(r.text for r in items) for cid, items in details.items()},
        reason_details=details,
        balance=table,
        covariates=tuple(cov_names),
        matches=matches,
        n_draws=n_draws,
        seed=int(seed),
        warnings=tuple(notes),
    )


def _selection_balance(
    frame: pd.DataFrame, covs: pd.DataFrame, pilots: list[str], chosen: list[str], notes: list[str]
) -> BalanceTable:
    """Balance of the covariates between the pilots and the chosen controls."""
    cov_names = list(covs.columns)
    if not cov_names:
        return BalanceTable((), BALANCE_THRESHOLD, 0.0, len(pilots), len(chosen))
    balance_frame = frame[[]].copy()
    for c in cov_names:
        balance_frame[c] = covs[c]
    balance_frame["site_id"] = balance_frame.index
    table = balance_table(balance_frame, pilots, chosen, cov_names)
    if table.flagged:
        notes.append(
            f"imbalanced after selection (|SMD| > {table.threshold}): {', '.join(table.flagged)}"
        )
    return table


def _check_controls(
    frame: pd.DataFrame,
    method: str,
    pilot_site_ids: Sequence[Any],
    match_on: Sequence[str] | None,
    rerandomize: Any,
) -> tuple[list[str], list[str]]:
    """The pilot ids and ``match_on`` columns, checked against ``frame``."""
    if method not in ("matched", "stratified_random"):
        raise ValueError(f"method must be 'matched' or 'stratified_random', got {method!r}")
    pilots = _ids(pilot_site_ids, "pilot_site_ids")
    if not pilots:
        raise ValueError("pilot_site_ids is empty")
    unknown = sorted(set(pilots) - set(frame.index))
    if unknown:
        raise ValueError(f"unknown pilot site id(s) {unknown}")
    match_on = list(match_on or [])
    missing = [c for c in match_on if c not in frame.columns]
    if missing:
        raise ValueError(f"sites has no column(s) {missing} to match on")
    if isinstance(rerandomize, bool) or not isinstance(rerandomize, int) or rerandomize < 1:
        raise ValueError(f"rerandomize must be a positive whole number, got {rerandomize!r}")
    return pilots, match_on


def _covariates(
    frame: pd.DataFrame, history: pd.DataFrame | None, metric: str | None, match_on: list[str]
) -> pd.DataFrame:
    """``<metric> level`` and ``<metric> trend`` from history, then the ``match_on`` columns."""
    covs = pd.DataFrame(index=frame.index)
    if history is not None:
        hist = _history_frame(history)
        metrics = sorted(set(hist["metric"]))
        if metric is None:
            if len(metrics) != 1:
                raise ValueError(f"history holds several metrics {metrics}; pass metric=")
            metric = metrics[0]
        level, trend = _level_and_trend(_metric_rows(hist, metric))
        covs[f"{metric} level"] = level.reindex(frame.index)
        covs[f"{metric} trend"] = trend.reindex(frame.index)
    for col in match_on:
        covs[col] = frame[col]
    return covs


def _candidates(
    frame: pd.DataFrame, covs: pd.DataFrame, pilots: list[str], notes: list[str]
) -> list[str]:
    """Sites other than the pilots with complete covariates (notes on the ones left out)."""
    incomplete = covs.index[covs.isna().any(axis=1)] if len(covs.columns) else pd.Index([])
    bad_pilots = [p for p in pilots if p in incomplete]
    if bad_pilots:
        notes.append(f"pilot site(s) {bad_pilots} lack covariate data; matched on what exists")
    candidates = [s for s in frame.index if s not in set(pilots) and s not in incomplete]
    if len(incomplete.difference(pilots)):
        notes.append(
            f"{len(incomplete.difference(pilots))} candidate site(s) without covariate data "
            "were left out"
        )
    return candidates


def _match(
    covs: pd.DataFrame,
    pilots: list[str],
    candidates: list[str],
    numeric: list[str],
    categorical: list[str],
    n: int,
) -> tuple[dict[str, str], dict[str, tuple[Reason, ...]]]:
    """Nearest neighbours without replacement, closest pilot-candidate pair first."""
    z = pd.DataFrame(index=covs.index)
    for c in numeric:
        sd = covs[c].astype(float).std(ddof=1)
        z[c] = (covs[c].astype(float) - covs[c].astype(float).mean()) / (sd if sd > 0 else 1.0)
    zp = z.loc[pilots, numeric].fillna(0.0).to_numpy()
    zc = z.loc[candidates, numeric].to_numpy()
    dist2 = ((zp[:, None, :] - zc[None, :, :]) ** 2).sum(axis=2) if numeric else 0.0
    dist2 = np.zeros((len(pilots), len(candidates))) + dist2
    for c in categorical:
        pv = covs.loc[pilots, c].astype(str).to_numpy()
        cv = covs.loc[candidates, c].astype(str).to_numpy()
        dist2 += _CATEGORY_PENALTY**2 * (pv[:, None] != cv[None, :])
    dist = np.sqrt(dist2)
    quota = np.full(len(pilots), n // len(pilots))
    extra = n - int(quota.sum())
    if extra:
        quota[np.argsort(dist.min(axis=1), kind="stable")[:extra]] += 1
    order = np.argsort(dist, axis=None, kind="stable")
    taken = np.zeros(len(candidates), bool)
    matches: dict[str, str] = {}
    details: dict[str, tuple[Reason, ...]] = {}
    for flat in order:
        i, j = divmod(int(flat), len(candidates))
        if quota[i] == 0 or taken[j]:
            continue
        taken[j] = True
        quota[i] -= 1
        cid, pid = candidates[j], pilots[i]
        matches[cid] = pid
        details[cid] = _match_reasons(covs, cid, pid, float(dist[i, j]))
        if len(matches) == n:
            break
    return matches, details


def _match_reasons(covs: pd.DataFrame, cid: str, pid: str, distance: float) -> tuple[Reason, ...]:
    pairs = [[c, _fmt(covs.at[cid, c]), _fmt(covs.at[pid, c])] for c in covs.columns]
    return (
        make_reason(
            "nearest_match",
            "nearest unused match for pilot {pilot} (standardized distance {distance:.2f})",
            pilot=pid,
            distance=distance,
        ),
        Reason(
            "match_detail",
            {"pairs": pairs},
            "control vs pilot: " + ", ".join(f"{c} {a} vs {b}" for c, a, b in pairs),
        ),
    )


def _draw_stratified(
    covs: pd.DataFrame,
    pilots: list[str],
    candidates: list[str],
    numeric: list[str],
    categorical: list[str],
    n: int,
    rerandomize: int,
    rng: np.random.Generator,
    notes: list[str],
) -> tuple[list[str], dict[str, tuple[Reason, ...]], int]:
    """Random draws within the categorical strata; the best balanced of ``rerandomize`` kept."""
    cov_names = list(covs.columns)
    strata_cols = categorical
    if strata_cols:
        key = covs[strata_cols].astype(str).agg(" / ".join, axis=1)
    else:
        key = pd.Series("all sites", index=covs.index)
    cand_key = key[candidates]
    cand_counts = cand_key.value_counts()
    alloc = _stratum_quota(key[pilots].value_counts(), cand_counts, n, notes)
    groups = {s: [c for c in candidates if cand_key[c] == s] for s in cand_counts.index}
    score_matrix = _balance_matrix(covs, numeric, categorical)
    position = {sid: i for i, sid in enumerate(covs.index)}
    pilot_rows = score_matrix[[position[p] for p in pilots]]
    best: list[str] | None = None
    best_score = np.inf
    best_draw = 0
    for draw in range(rerandomize):
        pick: list[str] = []
        for s, k in alloc.items():
            if k:
                pick.extend(rng.choice(groups[s], size=k, replace=False).tolist())
        score = (
            _max_abs_smd(pilot_rows, score_matrix[[position[c] for c in pick]])
            if cov_names
            else 0.0
        )
        if score < best_score - 1e-12:
            best, best_score, best_draw = pick, score, draw + 1
        if not cov_names:
            break
    n_draws = rerandomize if cov_names else 1
    chosen = list(best or [])
    by = " / ".join(strata_cols) if strata_cols else None
    details: dict[str, tuple[Reason, ...]] = {}
    for cid in chosen:
        s = cand_key[cid]
        label = f"stratum {by} = {s}" if strata_cols else "all candidates"
        params = {
            "by": by,
            "stratum": str(s) if strata_cols else None,
            "taken": int(alloc[s]),
            "candidates": int(cand_counts[s]),
        }
        items = [
            Reason(
                "drawn_in_stratum",
                params,
                f"drawn at random within {label} ({alloc[s]} of {cand_counts[s]} candidates)",
            )
        ]
        if cov_names:
            items.append(
                make_reason(
                    "best_draw",
                    "draw {draw} of {draws} kept for the best balance (max |SMD| {smd:.2f})",
                    draw=best_draw,
                    draws=n_draws,
                    smd=float(best_score),
                )
            )
        details[cid] = tuple(items)
    return chosen, details, n_draws


def _stratum_quota(
    pilot_counts: pd.Series, cand_counts: pd.Series, n: int, notes: list[str]
) -> dict[Any, int]:
    """Controls per stratum in proportion to the pilots'; shortfalls from the largest spares."""
    target = _allocate(pilot_counts.astype(float), n, cap=False)
    alloc = {s: int(min(target.get(s, 0), cand_counts.get(s, 0))) for s in cand_counts.index}
    short = n - sum(alloc.values())
    if short > 0:
        notes.append(
            "the pilots' strata have too few candidates; the remaining controls were drawn "
            "from other strata"
        )
        spare = {s: int(cand_counts[s] - alloc[s]) for s in cand_counts.index}
        for s in sorted(spare, key=lambda s: -spare[s]):
            add = min(spare[s], short)
            alloc[s] += add
            short -= add
    return alloc
