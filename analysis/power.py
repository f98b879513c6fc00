"""Power and minimum detectable effect of a pilot design, estimated from history.

A design is ``n_pilot`` pilot sites, ``n_control`` control sites, ``pre_days`` before and
``post_days`` after the start. On a balanced site x day panel the DiD ``value ~ treated | site
+ day`` equals the difference between the pilot and control means of the per-site change
``d_i = mean(post window) - mean(pre window)``, so its variance is ``sigma_d^2 (1/n_pilot +
1/n_control)`` where ``sigma_d`` is the between-site standard deviation of that change.
Everything hinges on ``sigma_d``, which is estimated from historical observations:

* **pseudo windows**: slide a (pre, post) pair of windows of the planned lengths over the
  history, one start per day; in each, compute every site's change ``d_i`` and its variance
  across sites (day effects cancel, as they do in the DiD); ``sigma_d^2`` is the average of those
  variances. Autocorrelation, weekday patterns and site-specific drift are thereby included
  without a model.

Two ways to turn it into power (``method``):

``"analytic"``
    A two-sample t test on site changes with ``G - 2`` degrees of freedom and the
    noncentral t distribution -- the same formula as statsmodels ``TTestIndPower`` with effect
    size ``effect / sigma_d``, ``nobs1 = n_pilot`` and ``ratio = n_control / n_pilot``
    (``distribution="normal"`` gives the large-sample z version).
``"simulation"``
    Placebo pilots on the history itself: draw a pseudo start date and ``n_pilot + n_control``
    distinct sites at random, call the first ``n_pilot`` the pilot, add ``effect`` to their
    post-period, compute the DiD on site changes and test it (pooled t by default, Welch with
    ``sim_test="welch"``); power is the share of rejections. Seeded and reproducible.

``power(...)`` solves for whichever of ``effect``, ``n_pilot`` or ``power`` is ``None``
(statsmodels vocabulary: ``alpha``, ``alternative="two-sided" | "larger" | "smaller"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.inference import ALTERNATIVES, normal_critical, t_critical
from analysis.results import ResultMixin, failed_result

__all__ = ["PowerResult", "change_sd", "minimum_detectable_effect", "power", "t_test_power"]

_NAN = float("nan")
_MAX_SITES = 100_000


# --------------------------------------------------------------------------------------------
# Formulas


def t_test_power(
    effect_size: float,
    n1: float,
    n2: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    distribution: str = "t",
) -> float:
    """Power of a two-sample test of standardized difference ``effect_size``.

    With ``distribution="t"``: noncentral t with ``n1 + n2 - 2`` degrees of freedom and
    noncentrality ``effect_size * sqrt(n1 n2 / (n1 + n2))`` (the two-sided power adds both
    tails), as statsmodels ``TTestIndPower``. With ``"normal"`` the same with a standard normal.
    """
    nc = effect_size * math.sqrt(n1 * n2 / (n1 + n2))
    if distribution == "t":
        df = n1 + n2 - 2
        if alternative == "two-sided":
            crit = t_critical(df, alpha)
            return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
        if alternative == "larger":
            return float(stats.nct.sf(t_critical(df, alpha, "larger"), df, nc))
        return float(stats.nct.cdf(-t_critical(df, alpha, "smaller"), df, nc))
    if alternative == "two-sided":
        crit = normal_critical(alpha)
        return float(stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc))
    if alternative == "larger":
        return float(stats.norm.sf(normal_critical(alpha, "larger") - nc))
    return float(stats.norm.cdf(-normal_critical(alpha, "smaller") - nc))


@dataclass(frozen=True, slots=True)
class _History:
    changes: np.ndarray  # windows x sites, NaN where a site lacks data in a window
    sd_change: float
    baseline_mean: float
    n_sites: int
    n_windows: int
    site_ids: tuple[str, ...] = ()  # the columns of ``changes``
    values: np.ndarray | None = None  # sites x days, NaN where missing
    window_starts: np.ndarray | None = None  # first post day of each window, as a column of values


def days_for_power_by_se(
    se: float, days: int, effect: float, alpha: float = 0.05, target_power: float = 0.8
) -> float:
    """Days of data at which an estimate whose standard error is ``se`` after ``days`` days
    would detect ``effect`` with ``target_power`` (two-sided z test at ``alpha``).

    Assumes the standard error shrinks as ``1 / sqrt(days)``: ``days * ((z_(1-alpha/2) +
    z_power) * se / |effect|) ** 2``. A rough answer for when history is too short to
    simulate; :func:`power` is the better one.
    """
    if not se > 0 or days < 1 or effect == 0:
        raise ValueError("se and days must be positive and effect non-zero")
    z = normal_critical(alpha) + stats.norm.ppf(target_power)
    return days * (z * se / abs(effect)) ** 2


def sites_for_power_by_se(
    se: float,
    n_pilot: int,
    n_control: int,
    effect: float,
    alpha: float = 0.05,
    target_power: float = 0.8,
) -> float:
    """Pilot sites at which an estimate whose standard error is ``se`` with ``n_pilot`` pilot
    and ``n_control`` control sites would detect ``effect`` with ``target_power`` (two-sided
    z test at ``alpha``), control sites growing in the same proportion.

    Assumes the standard error shrinks as ``sqrt(1 / n_pilot + 1 / n_control)`` with the
    ratio of control to pilot sites fixed: ``n_pilot * ((z_(1-alpha/2) + z_power) * se /
    |effect|) ** 2`` -- the two-sample normal sample size of ``statsmodels``'
    ``NormalIndPower`` for the per-site spread implied by ``se``. Like
    :func:`days_for_power_by_se`, a rough answer that takes the sites to come as alike as the
    present ones.
    """
    if not se > 0 or n_pilot < 1 or n_control < 1 or effect == 0:
        raise ValueError("se, n_pilot and n_control must be positive and effect non-zero")
    z = normal_critical(alpha) + stats.norm.ppf(target_power)
    return n_pilot * (z * se / abs(effect)) ** 2


def _history_changes(
    history: pd.DataFrame, metric: str | None, pre_days: int, post_days: int
) -> tuple[str, _History | str]:
    """Per-window site changes from ``history``; an error string when it is too short."""
    if not isinstance(history, pd.DataFrame):
        raise ValueError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    needed = ["site_id", "date", "value"]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing column(s) {missing}; expected site_id, date, value")
    frame = history
    if "metric" in frame.columns:
        metrics = sorted(frame["metric"].dropna().astype(str).unique())
        if metric is None:
            if len(metrics) != 1:
                raise ValueError(f"history holds several metrics {metrics}; pass metric=")
            metric = metrics[0]
        elif metric not in metrics:
            raise ValueError(f"unknown metric {metric!r}; history has {metrics}")
        frame = frame[frame["metric"].astype(str) == metric]
    elif metric is None:
        metric = "value"
    values = pd.to_numeric(frame["value"], errors="coerce")
    if (values.isna() & frame["value"].notna()).any():
        raise ValueError("history has non-numeric values")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        raise ValueError("history has dates that do not parse")
    tidy = pd.DataFrame(
        {"site_id": frame["site_id"].astype(str), "date": dates.dt.normalize(), "value": values}
    ).dropna(subset=["value"])
    if tidy.duplicated(["site_id", "date"]).any():
        raise ValueError("history has duplicate (site_id, date) rows for the metric")
    if tidy.empty:
        return metric, "history has no values for the metric"
    wide = tidy.pivot(index="site_id", columns="date", values="value")
    full = pd.date_range(wide.columns.min(), wide.columns.max(), freq="D")
    y = wide.reindex(columns=full).to_numpy(dtype=float)
    n_sites, n_days = y.shape
    span = pre_days + post_days
    if n_days < span:
        return metric, (
            f"history covers {n_days} days; a design with {pre_days} pre and {post_days} post "
            f"days needs at least {span}"
        )
    if n_sites < 4:
        return metric, f"history has {n_sites} sites; at least 4 are needed"
    have = ~np.isnan(y)
    filled = np.where(have, y, 0.0)
    csum = np.concatenate([np.zeros((n_sites, 1)), np.cumsum(filled, axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((n_sites, 1)), np.cumsum(have, axis=1)], axis=1)
    starts = np.arange(pre_days, n_days - post_days + 1)  # index of the first post day

    def window_mean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        total = csum[:, hi] - csum[:, lo]
        count = ccnt[:, hi] - ccnt[:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    pre = window_mean(starts - pre_days, starts)
    post = window_mean(starts, starts + post_days)
    changes = (post - pre).T  # windows x sites
    counts = (~np.isnan(changes)).sum(axis=1)
    usable = counts >= 4
    if not usable.any():
        return metric, "no window of the history has at least 4 sites with data on both sides"
    changes = changes[usable]
    variances = np.nanvar(changes, axis=1, ddof=1)
    sd = float(np.sqrt(variances.mean()))
    return metric, _History(
        changes=changes,
        sd_change=sd,
        baseline_mean=float(np.nanmean(y)),
        n_sites=n_sites,
        n_windows=int(changes.shape[0]),
        site_ids=tuple(wide.index),
        values=y,
        window_starts=starts[usable],
    )


def change_sd(
    history: pd.DataFrame, pre_days: int, post_days: int, metric: str | None = None
) -> float:
    """Between-site SD of the ``post - pre`` change for windows of the given lengths.

    Raises ``ValueError`` when the history is too short or has too few sites.
    """
    _, hist = _history_changes(history, metric, pre_days, post_days)
    if isinstance(hist, str):
        raise ValueError(hist)
    return hist.sd_change


# --------------------------------------------------------------------------------------------
# Simulation


def _simulate_rejections(
    changes: np.ndarray,
    n_pilot: int,
    n_control: int,
    effect: float,
    alpha: float,
    alternative: str,
    sim_test: str,
    n_sims: int,
    seed: int,
) -> np.ndarray:
    """Rejection indicator of ``n_sims`` placebo pilots (common random numbers via ``seed``)."""
    rng = np.random.default_rng(seed)
    counts = (~np.isnan(changes)).sum(axis=1)
    feasible = np.flatnonzero(counts >= n_pilot + n_control)
    windows = feasible[rng.integers(0, feasible.size, size=n_sims)]
    block = changes[windows]
    keys = rng.random(block.shape)
    keys[np.isnan(block)] = np.inf
    order = np.argsort(keys, axis=1)[:, : n_pilot + n_control]
    picked = np.take_along_axis(block, order, axis=1)
    a = picked[:, :n_pilot] + effect
    b = picked[:, n_pilot:]
    ma, mb = a.mean(axis=1), b.mean(axis=1)
    va, vb = a.var(axis=1, ddof=1), b.var(axis=1, ddof=1)
    if sim_test == "pooled":
        df = np.full(n_sims, float(n_pilot + n_control - 2))
        sp2 = ((n_pilot - 1) * va + (n_control - 1) * vb) / df
        se = np.sqrt(sp2 * (1 / n_pilot + 1 / n_control))
    else:
        qa, qb = va / n_pilot, vb / n_control
        se = np.sqrt(qa + qb)
        df = (qa + qb) ** 2 / (qa**2 / (n_pilot - 1) + qb**2 / (n_control - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (ma - mb) / se
    crit = t_critical(df, alpha, alternative)
    if alternative == "two-sided":
        return np.abs(t) >= crit
    if alternative == "larger":
        return t >= crit
    return t <= -crit


# --------------------------------------------------------------------------------------------
# Result


@dataclass(frozen=True, slots=True)
class PowerResult(ResultMixin):
    """Power, effect and sizes of a pilot design (one of them solved for)."""

    metric: str
    """Metric the history describes."""
    solved_for: str
    """Which input was ``None`` and has been solved for: ``"power"``, ``"effect"`` or
    ``"n_pilot"``."""
    method: str
    """``"analytic"`` or ``"simulation"``."""
    alternative: str
    """``"two-sided"``, ``"larger"`` or ``"smaller"``."""
    alpha: float
    """Significance level of the final test."""
    power: float
    """Probability of a significant result when the true effect is ``effect`` (when solving
    for ``n_pilot``: the power achieved with the rounded-up ``n_pilot``)."""
    effect: float
    """True effect in metric units (pilot minus control). When solved for: the minimum
    detectable effect."""
    relative_effect: float
    """``effect / baseline_mean``."""
    effect_size: float
    """``effect / sd_change`` (a standardized difference in site changes, Cohen's d)."""
    n_pilot: int
    """Pilot sites (when solved for: the smallest whole number reaching the target power)."""
    n_control: int
    """Control sites."""
    pre_days: int
    """Days before the start used by the analysis."""
    post_days: int
    """Days after the start."""
    sd_change: float
    """Between-site SD of ``mean(post) - mean(pre)`` estimated from the history."""
    se: float
    """Standard error of the DiD for this design: ``sd_change * sqrt(1/n_pilot + 1/n_control)``."""
    baseline_mean: float
    """Mean of the metric over the history."""
    n_history_sites: int
    """Sites in the history."""
    n_windows: int
    """Pseudo (pre, post) windows the SD was averaged over."""
    target_power: float | None = None
    """The power asked for, when solving for ``effect`` or ``n_pilot``."""
    n_pilot_exact: float | None = None
    """Fractional solution for ``n_pilot`` (analytic), before rounding up."""
    mc_se: float | None = None
    """Monte-Carlo standard error of ``power`` (simulation only)."""
    n_sims: int = 0
    """Placebo pilots simulated (simulation only)."""
    seed: int | None = None
    """Seed of the simulation."""
    distribution: str = "t"
    """Reference of the analytic formula: ``"t"`` (t(G-2), noncentral t) or ``"normal"``."""
    warnings: tuple[str, ...] = ()
    """Caveats."""
    error: str | None = None
    """Why the calculation could not be made (then the numbers are NaN)."""

    def summary(self) -> str:
        """One or two sentences a change lead can read."""
        if self.error:
            return f"Power for {self.metric}: not computed ({self.error})"
        design = (
            f"{self.n_pilot} pilot vs {self.n_control} control sites, {self.pre_days} days "
            f"before and {self.post_days} after"
        )
        rel = f" ({100 * self.relative_effect:+.1f} %)" if np.isfinite(self.relative_effect) else ""
        mc = f" +/- {self.mc_se:.3f}" if self.mc_se is not None else ""
        if self.solved_for == "power":
            head = f"Power {self.power:.1%}{mc} to detect {self.effect:+.4g}{rel}"
        elif self.solved_for == "effect":
            head = (
                f"Minimum detectable effect {self.effect:+.4g}{rel} at "
                f"{self.target_power or 0:.0%} power"
            )
        else:
            head = (
                f"{self.n_pilot} pilot sites needed for {self.target_power or 0:.0%} power "
                f"(achieved {self.power:.1%}) to detect {self.effect:+.4g}{rel}"
            )
        return (
            f"{head} with {design}; alpha={self.alpha} {self.alternative}, {self.method}. "
            f"Site-change SD {self.sd_change:.4g} from {self.n_history_sites} sites of history."
        )


# --------------------------------------------------------------------------------------------
# Public API


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


class _NoSolution(Exception):
    """No design within reach meets the target; the message says why."""


@dataclass(frozen=True, slots=True)
class _Question:
    """The arguments of :func:`power`, checked when made (``ValueError`` naming the problem)."""

    n_pilot: int | None
    n_control: int
    pre_days: int
    post_days: int
    effect: float | None
    alpha: float
    target: float | None
    alternative: str
    method: str
    distribution: str
    sim_test: str
    n_sims: int
    seed: int

    @property
    def solved_for(self) -> str:
        """Which of ``effect``, ``n_pilot`` and ``power`` is unknown."""
        return self._unknown()[0]

    def _unknown(self) -> list[str]:
        given = (("effect", self.effect), ("n_pilot", self.n_pilot), ("power", self.target))
        return [name for name, v in given if v is None]

    def __post_init__(self) -> None:
        alpha, power = self.alpha, self.target
        if not (isinstance(alpha, float | int) and 0 < alpha < 1):
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        if self.alternative not in ALTERNATIVES:
            raise ValueError(
                f"alternative must be one of {list(ALTERNATIVES)}, got {self.alternative!r}"
            )
        if self.method not in ("analytic", "simulation"):
            raise ValueError(f"method must be 'analytic' or 'simulation', got {self.method!r}")
        if self.distribution not in ("t", "normal"):
            raise ValueError(f"distribution must be 't' or 'normal', got {self.distribution!r}")
        if self.sim_test not in ("pooled", "welch"):
            raise ValueError(f"sim_test must be 'pooled' or 'welch', got {self.sim_test!r}")
        unknown = self._unknown()
        if len(unknown) != 1:
            raise ValueError(
                "exactly one of effect, n_pilot and power must be None (the one to solve for); "
                f"got {unknown or 'none'}"
            )
        checked = {"n_control": 2, "pre_days": 1, "post_days": 1}
        if self.n_pilot is not None:
            checked["n_pilot"] = 2
        for name, minimum in checked.items():
            object.__setattr__(self, name, _check_int(name, getattr(self, name), minimum))
        if power is not None and not (isinstance(power, float | int) and alpha < power < 1):
            raise ValueError(f"power must lie between alpha and 1, got {power!r}")
        if self.effect is not None and not np.isfinite(self.effect):
            raise ValueError(f"effect must be a finite number, got {self.effect!r}")
        if self.method == "simulation":
            object.__setattr__(self, "n_sims", _check_int("n_sims", self.n_sims, 100))
        object.__setattr__(self, "target", float(power) if power is not None else None)


def _solve_analytic(ask: _Question, hist: _History) -> tuple[float, float, int, float | None]:
    """``(power, effect, n_pilot, n_pilot_exact)`` from the noncentral t (or normal) formula."""
    n_control, target, sd = ask.n_control, ask.target, hist.sd_change
    sign = -1.0 if ask.alternative == "smaller" else 1.0

    def pw(es: float, n1: float) -> float:
        return t_test_power(es, n1, n_control, ask.alpha, ask.alternative, ask.distribution)

    if ask.solved_for == "power":
        return pw(ask.effect / sd, ask.n_pilot), float(ask.effect), ask.n_pilot, None
    if ask.solved_for == "effect":
        n1 = float(ask.n_pilot)
        hi = 1.0
        while pw(sign * hi, n1) < target:
            hi *= 2.0
        es = optimize.brentq(lambda e: pw(sign * e, n1) - target, 0.0, hi, xtol=1e-12)
        eff = sign * es * sd
        return pw(eff / sd, n1), eff, ask.n_pilot, None
    es = ask.effect / sd
    if pw(es, _MAX_SITES) < target:
        raise _NoSolution(
            f"no number of pilot sites up to {_MAX_SITES} reaches {target:.0%} power "
            f"with {n_control} control sites"
        )
    n_exact = (
        2.0
        if pw(es, 2.0) >= target
        else optimize.brentq(lambda n: pw(es, n) - target, 2.0, _MAX_SITES, xtol=1e-10)
    )
    n_pilot = max(2, math.ceil(n_exact - 1e-9))
    return pw(es, n_pilot), float(ask.effect), n_pilot, n_exact


def _solve_simulation(ask: _Question, hist: _History) -> tuple[float, float, int, None]:
    """``(power, effect, n_pilot, None)`` from placebo pilots on the history (bisection)."""
    n_control, target, sd = ask.n_control, ask.target, hist.sd_change
    sign = -1.0 if ask.alternative == "smaller" else 1.0
    if ask.n_pilot is not None and ask.n_pilot + n_control > hist.n_sites:
        raise _NoSolution(
            f"placebo simulation needs {ask.n_pilot + n_control} distinct sites; the history "
            f"has {hist.n_sites} (use method='analytic')"
        )

    def sim(eff_: float, n1: int) -> float:
        counts = (~np.isnan(hist.changes)).sum(axis=1)
        if not (counts >= n1 + n_control).any():
            return _NAN
        rej = _simulate_rejections(
            hist.changes,
            n1,
            n_control,
            eff_,
            ask.alpha,
            ask.alternative,
            ask.sim_test,
            ask.n_sims,
            ask.seed,
        )
        return float(rej.mean())

    if ask.solved_for == "power":
        return sim(float(ask.effect), ask.n_pilot), float(ask.effect), ask.n_pilot, None
    if ask.solved_for == "effect":
        hi = sd
        while sim(sign * hi, ask.n_pilot) < target:
            hi *= 2
            if hi > 1e4 * sd:
                raise _NoSolution("no effect reaches the target power")
        lo = 0.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if sim(sign * mid, ask.n_pilot) >= target:
                hi = mid
            else:
                lo = mid
        return sim(sign * hi, ask.n_pilot), sign * hi, ask.n_pilot, None
    eff = float(ask.effect)
    max_n = hist.n_sites - n_control
    if max_n < 2 or sim(eff, max_n) < target:
        raise _NoSolution(
            f"even {max_n} pilot sites (all the history allows next to {n_control} "
            f"controls) do not reach {target:.0%} power"
        )
    lo_n, hi_n = 2, max_n
    if sim(eff, lo_n) >= target:
        hi_n = lo_n
    while hi_n - lo_n > 1:
        mid_n = (lo_n + hi_n) // 2
        if sim(eff, mid_n) >= target:
            hi_n = mid_n
        else:
            lo_n = mid_n
    return sim(eff, hi_n), eff, hi_n, None


_RESTATED = (
    "solved_for",
    "method",
    "alternative",
    "n_control",
    "pre_days",
    "post_days",
    "distribution",
)


def _design(ask: _Question, metric: str, hist: _History | None) -> dict[str, Any]:
    """The fields of a :class:`PowerResult` that restate the question and the history."""
    return {
        **{name: getattr(ask, name) for name in _RESTATED},
        "metric": metric,
        "alpha": float(ask.alpha),
        "target_power": ask.target,
        "n_history_sites": 0 if hist is None else hist.n_sites,
        "n_windows": 0 if hist is None else hist.n_windows,
    }


def _failed_power(
    ask: _Question, metric: str, reason: str, hist: _History | None = None
) -> PowerResult:
    return failed_result(
        PowerResult,
        reason,
        effect=_NAN if ask.effect is None else float(ask.effect),
        n_pilot=0 if ask.n_pilot is None else ask.n_pilot,
        **_design(ask, metric, hist),
    )


def power(
    history: pd.DataFrame,
    n_pilot: int | None,
    n_control: int,
    pre_days: int,
    post_days: int,
    effect: float | None = None,
    alpha: float = 0.05,
    power: float | None = None,
    metric: str | None = None,
    *,
    alternative: str = "two-sided",
    method: str = "analytic",
    distribution: str = "t",
    sim_test: str = "pooled",
    n_sims: int = 2000,
    seed: int = 0,
) -> PowerResult:
    """Power, minimum detectable effect or number of pilot sites for a design.

    Exactly one of ``effect``, ``n_pilot`` and ``power`` must be ``None``; it is solved for
    (``n_control`` is held fixed when solving for ``n_pilot``).

    Parameters
    ----------
    history
        Historical observations ``site_id, date, value`` (and ``metric``), before any pilot.
    n_pilot, n_control
        Numbers of pilot and control sites.
    pre_days, post_days
        Days of data before and after the start the analysis will use.
    effect
        True effect in metric units (negative for a decrease; with ``alternative="smaller"``
        the solved effect is negative).
    alpha, power
        Significance level; power (``1 - beta``).
    metric
        Which metric of ``history`` (required when it holds several).
    alternative
        ``"two-sided"``, ``"larger"`` or ``"smaller"``.
    method
        ``"analytic"`` (noncentral t, as statsmodels ``TTestIndPower``) or ``"simulation"``
        (placebo pilots on the history).
    distribution
        ``"t"`` or ``"normal"`` for the analytic formula.
    sim_test
        Test used on simulated placebo pilots: ``"pooled"`` t (as the analytic formula) or
        ``"welch"``.
    n_sims, seed
        Simulation size and seed.
    """
    ask = _Question(
        n_pilot,
        n_control,
        pre_days,
        post_days,
        effect,
        alpha,
        power,
        alternative=alternative,
        method=method,
        distribution=distribution,
        sim_test=sim_test,
        n_sims=n_sims,
        seed=seed,
    )
    metric_name, hist = _history_changes(history, metric, ask.pre_days, ask.post_days)
    if isinstance(hist, str):
        return _failed_power(ask, metric_name, hist)
    if not hist.sd_change > 0:
        return _failed_power(ask, metric_name, "the site changes in the history do not vary", hist)
    solve = _solve_analytic if method == "analytic" else _solve_simulation
    try:
        achieved, eff, n_pilot, n_exact = solve(ask, hist)
    except _NoSolution as exc:
        return _failed_power(ask, metric_name, str(exc), hist)
    return _power_result(ask, metric_name, hist, achieved, eff, n_pilot, n_exact)


def _power_result(
    ask: _Question,
    metric: str,
    hist: _History,
    achieved: float,
    eff: float,
    n_pilot: int,
    n_exact: float | None,
) -> PowerResult:
    """The :class:`PowerResult` of a solved design, with its caveats."""
    sd = hist.sd_change
    simulated = ask.method == "simulation"
    warnings: list[str] = []
    mc_se: float | None = None
    if simulated:
        mc_se = float(np.sqrt(max(achieved * (1 - achieved), 1e-12) / ask.n_sims))
        if ask.sim_test == "pooled" and n_pilot and abs(n_pilot - ask.n_control) > 0:
            warnings.append(
                "the placebo test is the pooled t; the site-clustered DiD and Welch tests lose a "
                "little power with unequal arm sizes"
            )
    if 2 * ask.pre_days < ask.post_days:
        warnings.append("a pre-period much shorter than the post-period adds noise to every change")
    return PowerResult(
        power=float(achieved),
        effect=float(eff),
        relative_effect=float(eff / hist.baseline_mean) if hist.baseline_mean else _NAN,
        effect_size=float(eff / sd),
        n_pilot=int(n_pilot),
        sd_change=sd,
        se=float(sd * np.sqrt(1 / n_pilot + 1 / ask.n_control)),
        baseline_mean=hist.baseline_mean,
        n_pilot_exact=n_exact,
        mc_se=mc_se,
        n_sims=ask.n_sims if simulated else 0,
        seed=ask.seed if simulated else None,
        warnings=tuple(warnings),
        **_design(ask, metric, hist),
    )


_solve = power  # reachable where a ``power`` argument shadows the function


def minimum_detectable_effect(
    history: pd.DataFrame,
    n_pilot: int,
    n_control: int,
    pre_days: int,
    post_days: int,
    alpha: float = 0.05,
    power: float = 0.8,
    metric: str | None = None,
    **kwargs: Any,
) -> PowerResult:
    """Shortcut for :func:`power` solving for the effect (default 80 % power)."""
    return _solve(
        history,
        n_pilot,
        n_control,
        pre_days,
        post_days,
        effect=None,
        alpha=alpha,
        power=power,
        metric=metric,
        **kwargs,
    )
