"""Rollouts in waves (staggered adoption): the imputation estimator.

When sites adopt the new process in waves, the plain two-way fixed-effects regression
``value ~ treated | site + day`` compares late adopters with early adopters that are already
treated ("forbidden comparisons"). If the effect grows or differs between waves, TWFE averages
the cohort effects with weights that can be negative, and its estimate is biased -- even of the
wrong sign (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020).

:func:`staggered_att` uses the **imputation estimator** of Borusyak, Jaravel & Spiess (2024):

1. fit ``value = alpha_site + lambda_day`` by OLS on the *untreated* site-days only
   (never-treated sites, and adopters before their adoption date);
2. impute the untreated outcome of every treated site-day as ``alpha_site + lambda_day``;
3. the effect of a treated site-day is ``value - imputed``; the overall ATT is their mean over
   all treated site-days, the per-wave (cohort) ATT the mean within each adoption date.

It is numerically the same as Gardner's two-stage DiD with the pooled second stage
(pyfixest ``did2s(..., first_stage="~ 0 | site + day", second_stage="~ treat")``). A treated
site-day can be imputed only when its site has untreated days and its day has untreated sites;
others are dropped with a warning (with no never-treated sites, the days after the last wave
starts cannot be imputed).

**Inference**: a site-clustered **rescaled bootstrap** stratified by cohort (never-treated
sites are a stratum; Rao & Wu 1988): in each stratum of ``n_h`` sites, ``n_h - 1`` sites are
drawn with replacement and weighted ``n_h / (n_h - 1)``, and the whole (weighted) estimator is
re-run (seeded, ``n_boot`` replicates). Resampling whole sites keeps each site's serial
correlation; stratifying keeps every cohort in every replicate; the rescaling makes the
bootstrap variance of each stratum's mean unbiased, so **every wave is corrected by its own
size** (plain resampling of ``n_h`` sites understates a stratum's variance by ``(n_h - 1) /
n_h``; one factor from the average stratum size left a small wave's interval too narrow). The
standard error is the SD of the replicates; the overall interval is ``effect +/- t(G - H) *
se`` (``G`` sites, ``H`` strata), a wave's is ``+/- t(n_wave - 1) * se``. Coverage with waves
of 3, 8 and 24 sites is in ``docs/analysis-design.md``. The BJS conservative analytic variance
would be the alternative; it is not implemented.

For contrast the result also carries the plain static TWFE estimate (``twfe_effect``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.did import fit_twfe
from analysis.inference import check_alpha, t_critical, t_p_value
from analysis.results import ResultMixin, ci_text, failed_result

__all__ = ["CohortEffect", "StaggeredResult", "imputation_effects", "staggered_att"]

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class CohortEffect(ResultMixin):
    """The ATT of one wave (all sites adopting on the same date)."""

    adoption_date: dt.date
    """The wave's adoption date."""
    effect: float
    """Mean effect over the wave's treated site-days."""
    se: float
    """Bootstrap standard error (rescaled bootstrap, see the module docstring)."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval, ``effect - t(n_sites - 1) * se``."""
    ci_high: float
    """Upper end of that interval."""
    n_sites: int
    """Sites in the wave."""
    n_cells: int
    """Treated site-days averaged."""
    error: str | None = None
    """Why no interval could be computed (the effect may still be given)."""


@dataclass(frozen=True, slots=True)
class StaggeredResult(ResultMixin):
    """Overall and per-wave effects of a staggered rollout."""

    effect: float
    """Overall ATT: mean effect over all imputable treated site-days (metric units)."""
    se: float
    """Bootstrap standard error (site-clustered, stratified by cohort, rescaled by each
    stratum's own size)."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval, ``effect - t(G - H) * se``."""
    ci_high: float
    """Upper end of that interval."""
    p_value: float
    """Two-sided p-value of ``effect / se`` against t(G - H)."""
    cohorts: tuple[CohortEffect, ...]
    """Per-wave effects, by adoption date."""
    event_time: tuple[dict[str, float], ...]
    """Mean effect by days since adoption (``day``, ``effect``, ``n_cells``), no intervals."""
    twfe_effect: float
    """Static TWFE ``value ~ treated | site + day`` for contrast (biased when effects vary)."""
    twfe_se: float
    """Its site-clustered CR1 SE."""
    n_sites: int
    """Sites used."""
    n_treated_sites: int
    """Sites that adopt during the panel."""
    n_never_treated: int
    """Sites that never adopt."""
    n_treated_cells: int
    """Treated site-days in the ATT."""
    alpha: float
    """Level of the intervals."""
    n_boot: int
    """Bootstrap replicates."""
    seed: int
    """Bootstrap seed."""
    method: str = (
        "imputation (Borusyak-Jaravel-Spiess): site + day effects fitted on untreated site-days, "
        "effects = observed - imputed; site-clustered Rao-Wu rescaled bootstrap stratified by "
        "cohort (n_h - 1 draws weighted n_h/(n_h - 1)); t(G-H) interval, t(n_wave - 1) per wave"
    )
    """What was computed."""
    warnings: tuple[str, ...] = ()
    """Caveats (dropped site-days, small cohorts)."""
    error: str | None = None
    """Why no estimate could be made (then the numbers are NaN)."""

    def summary(self) -> str:
        """Overall effect, per wave, and the TWFE contrast."""
        if self.error:
            return f"Staggered rollout: not estimated ({self.error})"
        ci = ci_text(self.alpha, self.ci_low, self.ci_high, "+.4g")
        lines = [
            f"Staggered rollout ATT {self.effect:+.4g} (SE {self.se:.3g}), {ci} over "
            f"{self.n_treated_cells} treated "
            f"site-days of {self.n_treated_sites} sites ({self.n_never_treated} never treated)."
        ]
        for c in self.cohorts:
            ci = f"[{c.ci_low:+.4g}, {c.ci_high:+.4g}]" if c.error is None else f"({c.error})"
            lines.append(
                f"  wave {c.adoption_date}: {c.effect:+.4g} {ci}, {c.n_sites} sites, "
                f"{c.n_cells} site-days"
            )
        lines.append(
            f"Plain TWFE would say {self.twfe_effect:+.4g} (SE {self.twfe_se:.3g}); it is biased "
            "when the effect differs between waves or grows over time."
        )
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Core


def _fit_untreated(
    site: np.ndarray,
    day: np.ndarray,
    y: np.ndarray,
    n_sites: int,
    n_days: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(Weighted) OLS of ``y`` on site and day dummies; NaN for levels without observations.

    The site effects are eliminated first (``alpha_i = (sum y_i - sum_t C_it lambda_t) /
    n_i``, sums weighted); the remaining day system, singular by one, is solved with the first
    day's effect fixed at zero (a normalisation that leaves every fitted value unchanged).
    """
    w = np.ones(y.size) if weights is None else weights
    n_i = np.bincount(site, w, minlength=n_sites)
    n_t = np.bincount(day, w, minlength=n_days)
    ok_s, ok_t = n_i > 0, n_t > 0
    cross = np.zeros((n_sites, n_days))
    np.add.at(cross, (site, day), w)
    c = cross[np.ix_(ok_s, ok_t)]
    ni, nt = n_i[ok_s], n_t[ok_t]
    sy_i = np.bincount(site, w * y, minlength=n_sites)[ok_s]
    sy_t = np.bincount(day, w * y, minlength=n_days)[ok_t]
    a = np.diag(nt) - c.T @ (c / ni[:, None])
    b = sy_t - c.T @ (sy_i / ni)
    lam_ok = np.zeros(nt.size)
    try:
        lam_ok[1:] = np.linalg.solve(a[1:, 1:], b[1:])
    except np.linalg.LinAlgError:  # disconnected design: minimum-norm solution
        lam_ok = np.linalg.lstsq(a, b, rcond=None)[0]
    alpha = np.full(n_sites, np.nan)
    lam = np.full(n_days, np.nan)
    lam[ok_t] = lam_ok
    alpha[ok_s] = (sy_i - c @ lam_ok) / ni
    return alpha, lam


def imputation_effects(
    site: np.ndarray,
    day: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    n_sites: int,
    n_days: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-observation effects ``y - alpha_site - lambda_day`` of the treated observations.

    Integer-coded ``site`` (0..n_sites-1) and ``day`` (0..n_days-1); optional observation
    ``weights`` for the first stage (the bootstrap's rescaled site weights). Returns ``(tau,
    imputable)``: ``tau`` for every observation (NaN where not treated or not imputable) and
    the mask of treated observations that could be imputed.
    """
    untreated = ~treated
    w = None if weights is None else weights[untreated]
    alpha, lam = _fit_untreated(site[untreated], day[untreated], y[untreated], n_sites, n_days, w)
    has_site = np.bincount(site[untreated], minlength=n_sites) > 0
    has_day = np.bincount(day[untreated], minlength=n_days) > 0
    imputable = treated & has_site[site] & has_day[day]
    tau = np.full(y.shape, np.nan)
    tau[imputable] = y[imputable] - alpha[site[imputable]] - lam[day[imputable]]
    return tau, imputable


def _prepare(panel: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(panel, pd.DataFrame):
        raise ValueError(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    needed = ["site_id", "date", "value", "adoption_date"]
    missing = [c for c in needed if c not in panel.columns]
    if missing:
        raise ValueError(f"panel is missing column(s) {missing}; expected {needed}")
    frame = panel[needed].copy()
    frame["site_id"] = frame["site_id"].astype(str)
    frame["date"] = pd.to_datetime(frame["date"], errors="coerce")
    if frame["date"].isna().any():
        raise ValueError("panel has dates that do not parse")
    frame["date"] = frame["date"].dt.normalize()
    adoption = pd.to_datetime(frame["adoption_date"], errors="coerce")
    bad = adoption.isna() & frame["adoption_date"].notna()
    if bad.any():
        raise ValueError(
            f"panel has adoption dates that do not parse: "
            f"{frame.loc[bad, 'adoption_date'].head(3).tolist()}"
        )
    frame["adoption_date"] = adoption.dt.normalize()
    values = pd.to_numeric(frame["value"], errors="coerce")
    if (values.isna() & frame["value"].notna()).any():
        raise ValueError("panel has non-numeric values")
    frame["value"] = values
    frame = frame.dropna(subset=["value"])
    if frame.duplicated(["site_id", "date"]).any():
        raise ValueError("panel has duplicate (site_id, date) rows")
    per_site = frame.groupby("site_id")["adoption_date"].nunique(dropna=False)
    if (per_site > 1).any():
        raise ValueError(
            f"adoption_date varies within site(s) {per_site.index[per_site > 1].tolist()[:5]}"
        )
    return frame.reset_index(drop=True)


def _check_arguments(alpha: float, n_boot: int) -> None:
    check_alpha(alpha)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or (0 < n_boot < 20) or n_boot < 0:
        raise ValueError(f"n_boot must be 0 or a whole number of at least 20, got {n_boot!r}")


@dataclass(frozen=True, slots=True)
class _Panel:
    """The validated panel, integer-coded for the estimator and its bootstrap."""

    frame: pd.DataFrame
    y: np.ndarray
    treated: np.ndarray
    site_codes: np.ndarray
    day_codes: np.ndarray
    n_sites: int
    n_days: int
    adoption_by_site: pd.Series
    """Adoption date by site code (NaT: never treated)."""

    @property
    def never(self) -> int:
        return int(self.adoption_by_site.isna().sum())


def _code(frame: pd.DataFrame) -> _Panel:
    treated = (
        frame["adoption_date"].notna() & (frame["date"] >= frame["adoption_date"])
    ).to_numpy()
    site_codes, site_levels = pd.factorize(frame["site_id"])
    day_codes, day_levels = pd.factorize(frame["date"])
    adoption_by_site = frame.groupby("site_id")["adoption_date"].first().reindex(site_levels)
    return _Panel(
        frame=frame,
        y=frame["value"].to_numpy(dtype=float),
        treated=treated,
        site_codes=site_codes,
        day_codes=day_codes,
        n_sites=len(site_levels),
        n_days=len(day_levels),
        adoption_by_site=adoption_by_site,
    )


def _impute(p: _Panel, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Effects of the treated site-days (:func:`imputation_effects`); notes what was dropped."""
    tau, imputable = imputation_effects(
        p.site_codes, p.day_codes, p.y, p.treated, p.n_sites, p.n_days
    )
    dropped = int(p.treated.sum() - imputable.sum())
    if dropped:
        notes.append(
            f"{dropped} treated site-day(s) could not be imputed (their site has no untreated "
            "days or their day no untreated sites) and were left out"
        )
    return tau, imputable


def _estimates(
    tau: np.ndarray,
    imputable: np.ndarray,
    cohort_of_obs: np.ndarray,
    cohort_dates: list,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Overall ATT, then the ATT of every cohort (NaN where nothing is imputable).

    Means over treated site-days, weighted by ``weights`` when given (bootstrap replicates).
    """
    w = np.ones(tau.size) if weights is None else weights
    out = [np.average(tau[imputable], weights=w[imputable]) if imputable.any() else np.nan]
    for c in cohort_dates:
        mask = imputable & (cohort_of_obs == c)
        out.append(np.average(tau[mask], weights=w[mask]) if mask.any() else np.nan)
    return np.array(out)


def _bootstrap(
    p: _Panel, cohort_of_obs: np.ndarray, cohort_dates: list, n_boot: int, seed: int
) -> np.ndarray:
    """``n_boot`` x estimates of the Rao-Wu rescaled bootstrap, stratified by cohort.

    In each stratum of ``n_h`` sites, ``m_h = n_h - 1`` sites are drawn with replacement and
    each drawn copy gets the weight ``n_h / m_h``, so every stratum keeps its total weight and
    the bootstrap variance of a stratum mean is ``s_h^2 / n_h``, unbiased (Rao & Wu 1988): each
    wave -- and the never-treated sites -- is corrected by its own size. (Resampling ``n_h``
    sites understates the variance by ``(n_h - 1) / n_h``; a single factor from the average
    stratum size left a small wave's interval too narrow, issue 19.) A one-site stratum is
    kept as it is.
    """
    rng = np.random.default_rng(seed)
    rows_of_site = [np.flatnonzero(p.site_codes == s) for s in range(p.n_sites)]
    members_of: dict[Any, list[int]] = {}
    for s in range(p.n_sites):
        key = p.adoption_by_site.iloc[s]
        members_of.setdefault("never" if pd.isna(key) else key, []).append(s)
    strata = [np.array(v) for v in members_of.values()]
    draws = [max(v.size - 1, 1) for v in strata]
    scale = np.concatenate([np.full(m, v.size / m) for v, m in zip(strata, draws, strict=True)])
    reps = []
    for _ in range(n_boot):
        picked = np.concatenate(
            [rng.choice(v, size=m, replace=True) for v, m in zip(strata, draws, strict=True)]
        )
        sizes = [rows_of_site[s].size for s in picked]
        idx = np.concatenate([rows_of_site[s] for s in picked])
        new_site = np.repeat(np.arange(picked.size), sizes)
        w = np.repeat(scale, sizes)
        t_b, imp_b = imputation_effects(
            new_site, p.day_codes[idx], p.y[idx], p.treated[idx], picked.size, p.n_days, w
        )
        reps.append(_estimates(t_b, imp_b, cohort_of_obs[idx], cohort_dates, w))
    return np.array(reps)


@dataclass(frozen=True, slots=True)
class _Intervals:
    """Bootstrap SE and ``estimate +/- t(df) * se`` for each estimate."""

    point: np.ndarray
    boots: np.ndarray
    n_boot: int
    df: np.ndarray
    """Degrees of freedom of each estimate's t reference (overall first, then each wave)."""
    alpha: float

    def __call__(self, j: int) -> tuple[float, float, float]:
        """``(se, low, high)`` of estimate ``j`` (NaN without enough usable replicates)."""
        if not self.n_boot:
            return _NAN, _NAN, _NAN
        col = self.boots[:, j]
        col = col[np.isfinite(col)]
        if col.size < max(20, self.n_boot // 2):
            return _NAN, _NAN, _NAN
        sd = float(col.std(ddof=1))
        q = float(t_critical(self.df[j], self.alpha))
        return sd, float(self.point[j] - q * sd), float(self.point[j] + q * sd)


def _intervals(
    p: _Panel,
    point: np.ndarray,
    boots: np.ndarray,
    n_boot: int,
    alpha: float,
    cohort_dates: list,
) -> tuple[_Intervals, int]:
    """The interval maker of every estimate, and the degrees of freedom ``G - H``."""
    sizes = p.adoption_by_site.fillna(pd.Timestamp(0)).value_counts().to_numpy(dtype=float)
    df_t = max(p.n_sites - sizes.size, 1)
    # A wave's estimate rests mostly on its own sites, so its interval uses t(n_wave - 1): with
    # t(G - H) a wave of 3 sites covered 84 % in the study of docs/analysis-design.md.
    wave_sizes = [int((p.adoption_by_site == c).sum()) for c in cohort_dates]
    df = np.array([df_t, *[max(n - 1, 1) for n in wave_sizes]], dtype=float)
    return _Intervals(point, boots, n_boot, df, alpha), df_t


def _cohort_effects(
    p: _Panel,
    point: np.ndarray,
    interval: _Intervals,
    imputable: np.ndarray,
    cohort_of_obs: np.ndarray,
    cohort_dates: list,
    notes: list[str],
) -> tuple[CohortEffect, ...]:
    """One :class:`CohortEffect` per wave; notes on waves too small for their interval."""
    cohorts = []
    for j, c in enumerate(cohort_dates, start=1):
        members = int((p.adoption_by_site == c).sum())
        cells = int((imputable & (cohort_of_obs == c)).sum())
        c_se, c_lo, c_hi = interval(j)
        err = None
        if cells == 0:
            err = "no imputable treated site-day"
        elif members < 2:
            err = "one site: a site-clustered interval needs two"
            c_se, c_lo, c_hi = _NAN, _NAN, _NAN
        elif not interval.n_boot:
            err = "no bootstrap (n_boot=0)"
        cohorts.append(
            CohortEffect(
                adoption_date=pd.Timestamp(c).date(),
                effect=float(point[j]) if cells else _NAN,
                se=c_se,
                ci_low=c_lo,
                ci_high=c_hi,
                n_sites=members,
                n_cells=cells,
                error=err,
            )
        )
        if 1 < members < 5:
            notes.append(
                f"wave {pd.Timestamp(c).date()} has {members} sites: its bootstrap interval is "
                "rough"
            )
    return tuple(cohorts)


def _event_time(
    frame: pd.DataFrame, tau: np.ndarray, imputable: np.ndarray
) -> tuple[dict[str, float], ...]:
    """Mean effect by days since adoption."""
    rel_day = (frame["date"] - frame["adoption_date"]).dt.days.to_numpy(
        dtype=float, na_value=np.nan
    )
    event = (
        pd.DataFrame({"day": rel_day[imputable], "tau": tau[imputable]})
        .groupby("day")["tau"]
        .agg(["mean", "size"])
    )
    return tuple(
        {"day": int(d), "effect": float(r["mean"]), "n_cells": int(r["size"])}
        for d, r in event.iterrows()
    )


def _twfe_contrast(p: _Panel, notes: list[str]) -> tuple[float, float]:
    """The static TWFE estimate and its site-clustered SE (NaN, with a note, if it fails)."""
    twfe_frame = p.frame.assign(treated=p.treated.astype(float))
    try:
        fit = fit_twfe(twfe_frame, "value", ["treated"], "site_id", "date", cluster="site_id")
        return fit.coef["treated"], fit.se["treated"]
    except ValueError as exc:
        notes.append(f"plain TWFE failed: {exc}")
        return _NAN, _NAN


def staggered_att(
    panel: pd.DataFrame,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    n_boot: int = 199,
) -> StaggeredResult:
    """Overall and per-wave ATT of a staggered rollout by the imputation estimator.

    Parameters
    ----------
    panel
        ``site_id, date, value, adoption_date`` -- one row per site and day; ``adoption_date``
        is the site's first treated day (``NaT`` for sites that never adopt) and constant within
        a site.
    alpha
        Level of the intervals.
    seed, n_boot
        Bootstrap seed and replicates; ``n_boot=0`` skips the bootstrap (SE and intervals NaN).
    """
    _check_arguments(alpha, n_boot)
    p = _code(_prepare(panel))
    notes: list[str] = []
    design = dict(
        n_sites=p.n_sites,
        n_treated_sites=int(p.n_sites - p.never),
        n_never_treated=p.never,
        alpha=alpha,
        n_boot=n_boot,
        seed=seed,
    )

    def failed(reason: str) -> StaggeredResult:
        return failed_result(
            StaggeredResult, reason, cohorts=(), event_time=(), warnings=tuple(notes), **design
        )

    if not p.treated.any():
        return failed("no site-day is treated (no adoption date within the panel)")
    if p.treated.all():
        return failed("every site-day is treated; nothing to impute from")
    tau, imputable = _impute(p, notes)
    if not imputable.any():
        return failed("no treated site-day can be imputed (no untreated comparison)")
    if p.never == 0:
        notes.append("no never-treated sites: late waves are the only comparison")

    cohort_of_obs = p.frame["adoption_date"].to_numpy()
    cohort_dates = sorted(pd.unique(p.adoption_by_site.dropna()))
    effect = float(tau[imputable].mean())
    point = _estimates(tau, imputable, cohort_of_obs, cohort_dates)
    boots = (
        _bootstrap(p, cohort_of_obs, cohort_dates, n_boot, seed)
        if n_boot
        else np.empty((0, len(point)))
    )
    interval, df_t = _intervals(p, point, boots, n_boot, alpha, cohort_dates)
    se, lo, hi = interval(0)
    p_value = float(t_p_value(effect / se, df_t)) if se > 0 else _NAN
    cohorts = _cohort_effects(p, point, interval, imputable, cohort_of_obs, cohort_dates, notes)
    event_time = _event_time(p.frame, tau, imputable)
    twfe_effect, twfe_se = _twfe_contrast(p, notes)
    return StaggeredResult(
        effect=effect,
        se=se,
        ci_low=lo,
        ci_high=hi,
        p_value=p_value,
        cohorts=cohorts,
        event_time=event_time,
        twfe_effect=float(twfe_effect),
        twfe_se=float(twfe_se),
        n_treated_cells=int(imputable.sum()),
        warnings=tuple(notes),
        **design,
    )
