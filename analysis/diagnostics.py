"""Design diagnostics: balance, pre-trends (event study), regression to the mean, completeness.

* :func:`balance` -- standardized mean differences (SMD) between pilot and control sites of
  every site attribute and of each metric's pre-period site mean;
  ``SMD = (mean_pilot - mean_control) / sqrt((var_pilot + var_control) / 2)`` (the control
  variance alone when there is one pilot site); categorical attributes get one row per level
  (share of sites). ``|SMD| > 0.25`` is flagged.
* :func:`pretrend` -- event study on the site x day panel: ``value ~ sum_k treated_k | site +
  day`` where ``treated_k`` marks pilot sites in relative week ``k`` (week -1, the last week
  before the start, is the reference; weeks beyond 8 before or after are binned into the end
  weeks), site-clustered SE, and a joint Wald test that every lead (``k <= -2``) is zero with
  an ``F(q, G - 1)`` reference (``chi2(q)`` also reported).
* :func:`regression_to_mean` -- a warning when pilot sites sat far from the control sites on
  the primary metric before the start (``|SMD| > 0.5``): sites picked because they were
  unusually bad (or good) drift back towards the mean on their own.
* :func:`completeness` -- share of missing site-days per metric, arm and period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.data import parse_date
from analysis.did import fit_twfe
from analysis.inference import t_multiplier
from analysis.results import ResultMixin

__all__ = [
    "BalanceResult",
    "BalanceRow",
    "CompletenessRow",
    "EventStudyPoint",
    "PretrendResult",
    "balance",
    "balance_lines",
    "completeness",
    "pretrend",
    "regression_to_mean",
]

BALANCE_THRESHOLD = 0.25
RTM_THRESHOLD = 0.5
WEAK_EVIDENCE = (
    "Passing a pre-trend test is weak evidence of parallel trends: with few sites or a short "
    "pre-period the test has little power to detect a trend large enough to bias the estimate."
)


@dataclass(frozen=True, slots=True)
class BalanceRow(ResultMixin):
    """Balance of one site characteristic."""

    variable: str
    """Attribute name (``attr=level`` for a categorical level, ``pre:<metric>`` for a metric)."""
    kind: str
    """``"attribute"``, ``"category"`` or ``"pre-period mean"``."""
    mean_pilot: float
    """Mean over pilot sites (share for a category level)."""
    mean_control: float
    """Mean over control sites."""
    smd: float
    """Standardized mean difference, pilot minus control."""
    flagged: bool
    """``|smd|`` above the threshold."""


@dataclass(frozen=True, slots=True)
class BalanceResult(ResultMixin):
    """Balance table between pilot and control sites."""

    rows: list[BalanceRow]
    """One row per characteristic."""
    threshold: float
    """Flag level for ``|SMD|``."""

    @property
    def flagged(self) -> list[str]:
        """Characteristics whose ``|SMD|`` exceeds the threshold."""
        return [r.variable for r in self.rows if r.flagged]

    def summary(self) -> str:
        """A small table."""
        return "\n".join(
            [f"Balance (|SMD| > {self.threshold} flagged):", *balance_lines(self.rows)]
        )


def balance_lines(rows: Iterable[BalanceRow]) -> list[str]:
    """One line per balance row: the means of both arms and the SMD, imbalanced rows marked."""
    return [
        f"  {r.variable:<28} pilot {r.mean_pilot:>10.4g}  control {r.mean_control:>10.4g}"
        f"  SMD {r.smd:+.2f}{'  <-- imbalanced' if r.flagged else ''}"
        for r in rows
    ]


def _smd(pilot: np.ndarray, control: np.ndarray) -> float:
    pilot, control = pilot[np.isfinite(pilot)], control[np.isfinite(control)]
    if pilot.size == 0 or control.size == 0:
        return float("nan")
    var_c = control.var(ddof=1) if control.size > 1 else np.nan
    var_p = pilot.var(ddof=1) if pilot.size > 1 else np.nan
    pooled = np.sqrt(np.nanmean([var_p, var_c])) if np.isfinite([var_p, var_c]).any() else 0
    diff = pilot.mean() - control.mean()
    if not pooled > 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / pooled)


def _balance_row(name: str, kind: str, v: np.ndarray, pilot: np.ndarray, threshold: float):
    p, c = v[pilot], v[~pilot]
    smd = _smd(p, c)
    return BalanceRow(
        name,
        kind,
        float(np.nanmean(p)) if np.isfinite(p).any() else float("nan"),
        float(np.nanmean(c)) if np.isfinite(c).any() else float("nan"),
        smd,
        bool(not np.isnan(smd) and abs(smd) > threshold),
    )


def balance(
    sites: pd.DataFrame,
    pre_means: dict[str, pd.Series] | None = None,
    threshold: float = BALANCE_THRESHOLD,
) -> BalanceResult:
    """Standardized mean differences of site attributes and pre-period metric means.

    ``sites`` is a validated sites frame (``site_id, arm`` + attributes); ``pre_means`` maps a
    metric to a Series of pre-period site means indexed by ``site_id``.
    """
    pilot = (sites["arm"] == "pilot").to_numpy()
    rows: list[BalanceRow] = []
    for column in sites.columns.drop(["site_id", "arm"]):
        values = sites[column]
        if values.nunique(dropna=True) < 2:
            continue
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            v = values.to_numpy(dtype=float, na_value=np.nan)
            rows.append(_balance_row(str(column), "attribute", v, pilot, threshold))
        elif values.nunique(dropna=True) <= 20:
            text = values.astype(str).to_numpy()
            for level in sorted(set(text[values.notna().to_numpy()])):
                v = (text == level).astype(float)
                rows.append(_balance_row(f"{column}={level}", "category", v, pilot, threshold))
    for metric, means in (pre_means or {}).items():
        v = means.reindex(sites["site_id"]).to_numpy(dtype=float)
        rows.append(_balance_row(f"pre:{metric}", "pre-period mean", v, pilot, threshold))
    return BalanceResult(rows=rows, threshold=threshold)


def regression_to_mean(
    pre_means: pd.Series, sites: pd.DataFrame, metric: str, threshold: float = RTM_THRESHOLD
) -> str | None:
    """Warning text when pilot sites' pre-period mean of ``metric`` is far from controls."""
    arm = sites.set_index("site_id")["arm"].reindex(pre_means.index)
    values = pre_means.to_numpy(float)
    smd = _smd(values[(arm == "pilot").to_numpy()], values[(arm == "control").to_numpy()])
    if np.isfinite(smd) and abs(smd) <= threshold:
        return None
    if np.isnan(smd):
        return None
    side = "above" if smd > 0 else "below"
    return (
        f"Regression to the mean risk on {metric}: before the start the pilot sites were "
        f"{side} the control sites (SMD {smd:+.2f}, beyond {threshold}); sites chosen for "
        "being unusual tend to move back towards the mean without any intervention, so prefer "
        "the pre-period adjusted estimate and read the effect with caution."
    )


@dataclass(frozen=True, slots=True)
class EventStudyPoint(ResultMixin):
    """Effect in one week relative to the start (week 0 = first 7 days of the pilot)."""

    week: int
    """Relative week (-1 is the reference and is fixed at 0)."""
    effect: float
    """Pilot-minus-control difference in that week relative to week -1."""
    se: float
    """Site-clustered standard error."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval."""
    ci_high: float
    """Upper end of the interval."""


@dataclass(frozen=True, slots=True)
class PretrendResult(ResultMixin):
    """Event-study estimates and the joint test of pre-period leads."""

    points: list[EventStudyPoint]
    """Estimates by relative week, including the reference week at 0."""
    n_leads: int
    """Number of lead weeks tested (weeks <= -2)."""
    wald_f: float
    """Joint Wald statistic divided by ``n_leads``."""
    p_value: float
    """p-value of the joint test with an ``F(n_leads, G - 1)`` reference."""
    p_value_chi2: float
    """p-value with a ``chi2(n_leads)`` reference (large-sample, more liberal)."""
    df_denominator: int
    """``G - 1``, the denominator degrees of freedom."""
    alpha: float
    """Level used for ``passed`` and the intervals."""
    passed: bool | None
    """True when the leads are jointly not significant at ``alpha`` (None when not tested)."""
    note: str = WEAK_EVIDENCE
    """How to read a pass."""
    error: str | None = None
    """Why the test could not be run."""

    def summary(self) -> str:
        """One line with the joint test result."""
        if self.error:
            return f"Pre-trend test: not available ({self.error})"
        verdict = "no evidence of differing pre-trends" if self.passed else "pre-trends differ"
        return (
            f"Pre-trend test: {self.n_leads} lead weeks, F={self.wald_f:.3f} "
            f"(df {self.n_leads}, {self.df_denominator}), p={self.p_value:.4f} -> {verdict}"
        )


def _relative_week(dates: pd.Series, start: pd.Timestamp, max_weeks: int) -> np.ndarray:
    days = ((dates - start) / pd.Timedelta(days=1)).to_numpy()
    return np.clip(np.floor(days / 7).astype(int), -max_weeks, max_weeks - 1)


def pretrend(
    panel: pd.DataFrame,
    start,
    alpha: float = 0.05,
    max_weeks: int = 8,
) -> PretrendResult:
    """Event study on a panel with ``site_id, date, value, arm`` columns."""
    start_ts = parse_date(start, "start")
    nan = float("nan")

    def failed(reason: str, points=()) -> PretrendResult:
        return PretrendResult(list(points), 0, nan, nan, nan, 0, alpha, None, error=reason)

    data = panel.dropna(subset=["value"]).copy()
    week = _relative_week(data["date"], start_ts, max_weeks)
    pilot = (data["arm"] == "pilot").to_numpy()
    pre_weeks = sorted(set(week[(week < 0)]))
    if -1 not in pre_weeks or len(pre_weeks) < 2:
        return failed("needs at least two pre-period weeks (one lead plus the reference week)")
    n_pilot = int(data.loc[pilot, "site_id"].nunique())
    weeks = sorted(set(week[pilot]) - {-1})
    names = [f"week_{k}" for k in weeks]
    for k, name in zip(weeks, names, strict=True):
        data[name] = (pilot & (week == k)).astype(float)
    try:
        fit = fit_twfe(data, "value", names, "site_id", "date", cluster="site_id")
    except (ValueError, RuntimeError) as exc:
        return failed(str(exc))
    q = t_multiplier(fit.df_resid, alpha)
    points = [EventStudyPoint(-1, 0.0, 0.0, 0.0, 0.0)]
    for k, name in zip(weeks, names, strict=True):
        est, se = fit.coef[name], fit.se[name]
        points.append(EventStudyPoint(k, est, se, est - q * se, est + q * se))
    points.sort(key=lambda p: p.week)
    if n_pilot < 2:
        return failed(
            "a single pilot site: clustered standard errors are meaningless, no joint test",
            points,
        )
    leads = [i for i, k in enumerate(weeks) if k <= -2]
    n_leads, df_den = len(leads), fit.df_resid
    if n_leads == 0:
        return failed("no lead weeks before the reference week", points)
    if n_leads > df_den:
        return failed(f"too few sites ({df_den + 1}) to test {n_leads} lead weeks jointly", points)
    b = np.array([fit.coef[names[i]] for i in leads])
    v = fit.vcov[np.ix_(leads, leads)]
    wald = float(b @ np.linalg.pinv(v) @ b)
    f_stat = wald / n_leads
    p_f = float(stats.f.sf(f_stat, n_leads, df_den))
    return PretrendResult(
        points=points,
        n_leads=n_leads,
        wald_f=f_stat,
        p_value=p_f,
        p_value_chi2=float(stats.chi2.sf(wald, n_leads)),
        df_denominator=int(df_den),
        alpha=alpha,
        passed=bool(p_f > alpha),
    )


@dataclass(frozen=True, slots=True)
class CompletenessRow(ResultMixin):
    """Observed versus expected site-days for one metric, arm and period."""

    metric: str
    """Metric key."""
    arm: str
    """``"pilot"`` or ``"control"``."""
    period: str
    """``"pre"`` or ``"post"``."""
    expected: int
    """Sites in the arm times days in the period."""
    observed: int
    """Site-days with a value."""
    missing_share: float
    """``1 - observed / expected``."""


@dataclass(frozen=True, slots=True)
class CompletenessResult(ResultMixin):
    """Data completeness by metric, arm and period."""

    rows: list[CompletenessRow] = field(default_factory=list)
    """One row per metric, arm and period."""

    def missing_share(self, metric: str, arm: str) -> float:
        """Share of missing site-days of ``metric`` in ``arm`` over both periods."""
        rows = [r for r in self.rows if r.metric == metric and r.arm == arm]
        expected = sum(r.expected for r in rows)
        return 1 - sum(r.observed for r in rows) / expected if expected else float("nan")

    def summary(self) -> str:
        """A small table."""
        lines = ["Completeness (missing share of site-days):"]
        for r in self.rows:
            lines.append(
                f"  {r.metric:<16} {r.arm:<8} {r.period:<5} {r.observed:>7}/{r.expected:<7} "
                f"missing {100 * r.missing_share:.1f}%"
            )
        return "\n".join(lines)


def completeness(
    observations: pd.DataFrame, sites: pd.DataFrame, start, end=None
) -> CompletenessResult:
    """Missing site-days per metric, arm and period.

    The expected days of a period are the distinct dates on which any site reported any
    metric in that period (so weekly or wave data are not counted as missing on the days in
    between); every listed site is expected to report every metric on each of them.
    """
    start_ts = parse_date(start, "start")
    dates = observations["date"]
    if end is not None:
        dates = dates[dates <= parse_date(end, "end")]
    days = {
        "pre": int(dates[dates < start_ts].nunique()),
        "post": int(dates[dates >= start_ts].nunique()),
    }
    arm = sites.set_index("site_id")["arm"]
    n_sites = arm.value_counts()
    period = np.where(observations["date"] < start_ts, "pre", "post")
    counts = (
        observations.assign(arm=observations["site_id"].map(arm), period=period)
        .groupby(["metric", "arm", "period"])
        .size()
    )
    rows = []
    for metric in sorted(observations["metric"].unique()):
        for a in ("pilot", "control"):
            for p in ("pre", "post"):
                expected = int(n_sites.get(a, 0) * days[p])
                observed = int(counts.get((metric, a, p), 0))
                share = 1 - observed / expected if expected else float("nan")
                rows.append(CompletenessRow(metric, a, p, expected, observed, share))
    return CompletenessResult(rows)
