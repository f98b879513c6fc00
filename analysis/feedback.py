"""Rates from customer and staff feedback, with inference clustered by site.

Feedback responses are not independent: answers from one site share its staff, its customers
and its day-to-day conditions, and the pilot was assigned to *sites*, not to respondents. A
naive two-proportion z-test treats every response as an independent draw and so overstates the
evidence. Every comparison here therefore uses a **linear probability model** of the 0/1
outcome with a **CR1 cluster-robust standard error by site** (``G/(G-1) * (N-1)/(N-K)``
small-sample factor, the statsmodels ``cov_type="cluster"`` default) and a t(G-1) reference;
the naive z-test is reported beside it for contrast, together with the design effect
``(SE_clustered / SE_naive)^2``.

Inputs are a ``responses`` frame with columns ``site_id, arm, value`` (``arm`` in
``{"pilot", "control"}``, ``value`` a rating or score) plus the optional ``segment`` (e.g. an age
band such as ``"60+"``) and ``period`` (``"pre"`` / ``"post"``) columns.

Functions
---------
:func:`proportion_comparison`
    Share of successes (default: rating >= 4), pilot vs control.
:func:`before_after`
    Within one arm (default the pilot sites), post vs pre, with site fixed effects.
:func:`by_segment`
    :func:`proportion_comparison` per segment plus a cluster-robust Wald test of heterogeneity.
:func:`nps`
    Net Promoter Score with a site-clustered interval (delta method over site totals by default,
    or a seeded cluster bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from analysis.inference import ALTERNATIVES, normal_interval, t_interval, t_p_value
from analysis.ordering import natural_order
from analysis.results import ResultMixin, ci_text, failed_result

__all__ = [
    "BeforeAfterResult",
    "NpsResult",
    "ProportionResult",
    "SegmentRatesResult",
    "before_after",
    "by_segment",
    "default_success",
    "nps",
    "proportion_comparison",
]

_ARMS = ("pilot", "control")
_NAN = float("nan")


def default_success(values: pd.Series) -> pd.Series:
    """The default success rule: a rating of 4 or more (on a 1-5 scale)."""
    return values >= 4


# --------------------------------------------------------------------------------------------
# Small numerical helpers


@dataclass(frozen=True, slots=True)
class _ClusterFit:
    coef: np.ndarray
    vcov: np.ndarray
    n_clusters: int
    n_obs: int


def _cluster_ols(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> _ClusterFit:
    """OLS of ``y`` on ``x`` with the CR1 cluster-robust covariance.

    ``V = G/(G-1) * (N-1)/(N-K) * (X'X)^-1 (sum_g s_g s_g') (X'X)^-1`` with ``s_g`` the summed
    scores of cluster ``g`` -- statsmodels' ``OLS(y, x).fit(cov_type="cluster",
    cov_kwds={"groups": groups})``. Raises ``ValueError`` if ``x`` is rank deficient.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    codes, uniques = pd.factorize(np.asarray(groups))
    n, k = x.shape
    g = len(uniques)
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < k:
        raise ValueError("the regressors are collinear")
    bread = np.linalg.inv(xtx)
    coef = bread @ (x.T @ y)
    resid = y - x @ coef
    scores = x * resid[:, None]
    summed = np.zeros((g, k))
    np.add.at(summed, codes, scores)
    meat = summed.T @ summed
    adj = g / (g - 1) * (n - 1) / (n - k) if g > 1 and n > k else _NAN
    return _ClusterFit(coef=coef, vcov=adj * bread @ meat @ bread, n_clusters=g, n_obs=n)


def _t_inference(
    est: float, se: float, df: int, alpha: float, alternative: str
) -> tuple[float, float, float, float]:
    """t statistic, p-value and two-sided ``1 - alpha`` interval for ``est`` with ``se``."""
    t = est / se
    low, high = t_interval(est, se, df, alpha)
    return float(t), float(t_p_value(t, df, alternative)), float(low), float(high)


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}")


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {list(ALTERNATIVES)}, got {alternative!r}")


def _prepare(
    responses: pd.DataFrame,
    success: Callable[[pd.Series], Any],
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Validated copy of ``responses`` with a 0/1 ``y`` column; rows with no value dropped."""
    if not isinstance(responses, pd.DataFrame):
        raise ValueError(f"responses must be a pandas DataFrame, got {type(responses).__name__}")
    needed = ["site_id", "arm", "value", *extra]
    missing = [c for c in needed if c not in responses.columns]
    if missing:
        raise ValueError(
            f"responses is missing column(s) {missing}; found {[str(c) for c in responses.columns]}"
        )
    frame = responses[list(dict.fromkeys(needed))].copy()
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = values.isna() & frame["value"].notna()
    if bad.any():
        raise ValueError(
            f"responses has non-numeric values: {frame.loc[bad, 'value'].head(5).tolist()}"
        )
    frame["value"] = values.astype(float)
    frame = frame[frame["value"].notna()]
    if frame["site_id"].isna().any():
        raise ValueError("responses has rows without a site_id")
    frame["site_id"] = _as_text(frame["site_id"])
    arm = _as_text(frame["arm"], normalise=True)
    unknown = sorted(set(arm.unique()) - set(_ARMS))
    if unknown:
        raise ValueError(f"responses has unknown arm value(s) {unknown}; expected {list(_ARMS)}")
    frame["arm"] = arm
    if not callable(success):
        raise ValueError("success must be a callable mapping values to True/False")
    flags = success(frame["value"])
    flags = np.asarray(flags)
    if flags.shape != (len(frame),):
        raise ValueError("success must return one True/False per response")
    if flags.dtype != bool:
        uniq = set(np.unique(flags).tolist()) if flags.size else set()
        if not uniq <= {0, 1}:
            raise ValueError("success must return True/False (or 0/1) for every response")
    frame["y"] = flags.astype(float)
    return frame


def _as_text(column: pd.Series, *, normalise: bool = False) -> pd.Series:
    """``column.astype(str)`` (stripped and lower-cased when ``normalise``), converting each
    distinct value once instead of every row (a pilot's frame has 100,000 rows and a handful
    of arms, periods or sites)."""
    codes, levels = pd.factorize(column, use_na_sentinel=False)
    text = pd.Index(levels, dtype=object).astype(str)
    if normalise:
        text = text.str.strip().str.lower()
    return pd.Series(np.asarray(text, dtype=object)[codes], index=column.index, dtype=object)


def _naive_two_proportions(
    s1: float, n1: int, s0: float, n0: int, alpha: float, alternative: str
) -> tuple[float, float, float, float, float]:
    """z, p (pooled-variance z-test) and the unpooled Wald SE and interval for p1 - p0."""
    z, p = proportions_ztest([s1, s0], [n1, n0], alternative=alternative)
    p1, p0 = s1 / n1, s0 / n0
    se = float(np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0))
    return float(z), float(p), se, *normal_interval(p1 - p0, se, alpha)


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.1f} %" if np.isfinite(x) else "n/a"


# --------------------------------------------------------------------------------------------
# Pilot vs control


@dataclass(frozen=True, slots=True)
class ProportionResult(ResultMixin):
    """Share of successful responses, pilot vs control, clustered by site."""

    pilot_rate: float
    """Share of pilot-site responses counted as a success."""
    control_rate: float
    """Share of control-site responses counted as a success."""
    difference: float
    """``pilot_rate - control_rate`` (a share; x100 for percentage points)."""
    se: float
    """CR1 standard error of the difference, clustered by site."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval (t(G-1))."""
    ci_high: float
    """Upper end of that interval."""
    t_stat: float
    """``difference / se``."""
    p_value: float
    """p-value of the clustered test, for ``alternative``."""
    df: int
    """Degrees of freedom of the t reference: number of sites minus one."""
    naive_z: float
    """z of the naive two-proportion test (statsmodels ``proportions_ztest``), for contrast."""
    naive_p_value: float
    """p-value of the naive test; it ignores that answers from one site are alike."""
    naive_se: float
    """Unpooled binomial SE of the difference, as if all responses were independent."""
    naive_ci_low: float
    """Lower end of the naive Wald interval."""
    naive_ci_high: float
    """Upper end of the naive Wald interval."""
    design_effect: float
    """``(se / naive_se)^2``: how many times fewer independent answers the data is worth."""
    n_pilot: int
    """Pilot responses."""
    n_control: int
    """Control responses."""
    n_pilot_sites: int
    """Pilot sites with responses."""
    n_control_sites: int
    """Control sites with responses."""
    alpha: float
    """Significance level."""
    alternative: str
    """``"two-sided"``, ``"larger"`` (pilot higher) or ``"smaller"``."""
    segment: str | None = None
    """The segment analysed, or ``None`` for all responses."""
    method: str = (
        "linear probability model y ~ pilot, CR1 SE clustered by site, t(G-1); "
        "naive pooled two-proportion z-test for contrast"
    )
    """How the numbers were computed."""
    error: str | None = None
    """Why the comparison could not be made (then the numbers are NaN)."""

    def summary(self) -> str:
        """A readable sentence or two."""
        where = f" [{self.segment}]" if self.segment is not None else ""
        if self.error:
            return f"Feedback rate{where}: not estimated ({self.error})"
        ci = ci_text(self.alpha, 100 * self.ci_low, 100 * self.ci_high, "+.1f")
        return (
            f"Feedback rate{where}: pilot {_fmt_pct(self.pilot_rate)} ({self.n_pilot} answers, "
            f"{self.n_pilot_sites} sites) vs control {_fmt_pct(self.control_rate)} "
            f"({self.n_control} answers, {self.n_control_sites} sites); difference "
            f"{100 * self.difference:+.1f} pp, {ci} pp, p={self.p_value:.4f} (clustered by site). "
            f"Naive z-test p={self.naive_p_value:.4f}; design effect {self.design_effect:.2f}."
        )


def _failed_proportion(
    alpha: float, alternative: str, segment: str | None, reason: str, counts: dict[str, int]
) -> ProportionResult:
    return failed_result(
        ProportionResult, reason, alpha=alpha, alternative=alternative, segment=segment, **counts
    )


def _compare_frame(
    frame: pd.DataFrame, alpha: float, alternative: str, segment: str | None
) -> ProportionResult:
    pilot = frame["arm"].to_numpy() == "pilot"
    counts = {
        "n_pilot": int(pilot.sum()),
        "n_control": int((~pilot).sum()),
        "n_pilot_sites": int(frame.loc[pilot, "site_id"].nunique()),
        "n_control_sites": int(frame.loc[~pilot, "site_id"].nunique()),
    }
    for arm in _ARMS:
        if counts[f"n_{arm}"] == 0:
            return _failed_proportion(
                alpha, alternative, segment, f"no responses from {arm} sites", counts
            )
        if counts[f"n_{arm}_sites"] < 2:
            return _failed_proportion(
                alpha,
                alternative,
                segment,
                f"only one {arm} site has responses; a site-clustered comparison needs at "
                "least two sites per arm",
                counts,
            )
    y = frame["y"].to_numpy()
    if y.min() == y.max():
        share = "a success" if y[0] == 1 else "not a success"
        return _failed_proportion(
            alpha,
            alternative,
            segment,
            f"no variation to estimate uncertainty from: every response is {share}",
            counts,
        )
    x = np.column_stack([np.ones(len(y)), pilot.astype(float)])
    fit = _cluster_ols(x, y, frame["site_id"].to_numpy())
    diff = float(fit.coef[1])
    se = float(np.sqrt(max(fit.vcov[1, 1], 0.0)))
    if not se > 1e-12:
        return _failed_proportion(
            alpha,
            alternative,
            segment,
            "no variation between sites to estimate uncertainty from",
            counts,
        )
    df = fit.n_clusters - 1
    t, p, low, high = _t_inference(diff, se, df, alpha, alternative)
    s1, s0 = float(y[pilot].sum()), float(y[~pilot].sum())
    nz, npv, nse, nlow, nhigh = _naive_two_proportions(
        s1, counts["n_pilot"], s0, counts["n_control"], alpha, alternative
    )
    return ProportionResult(
        pilot_rate=s1 / counts["n_pilot"],
        control_rate=s0 / counts["n_control"],
        difference=diff,
        se=se,
        ci_low=low,
        ci_high=high,
        t_stat=t,
        p_value=p,
        df=df,
        naive_z=nz,
        naive_p_value=npv,
        naive_se=nse,
        naive_ci_low=nlow,
        naive_ci_high=nhigh,
        design_effect=(se / nse) ** 2 if nse > 0 else _NAN,
        alpha=alpha,
        alternative=alternative,
        segment=segment,
        **counts,
    )


def proportion_comparison(
    responses: pd.DataFrame,
    success: Callable[[pd.Series], Any] = default_success,
    alpha: float = 0.05,
    segment: str | None = None,
    *,
    alternative: str = "two-sided",
) -> ProportionResult:
    """Share of successes at pilot vs control sites, with SE clustered by site.

    Parameters
    ----------
    responses
        ``site_id, arm, value`` (+ ``segment`` when ``segment`` is given). Rows whose value is
        missing are ignored.
    success
        Maps the ``value`` Series to True/False; default ``value >= 4``.
    alpha
        Level of the two-sided interval (and of the test).
    segment
        Restrict to responses whose ``segment`` equals this value (e.g. ``"60+"``).
    alternative
        ``"two-sided"``, ``"larger"`` (pilot share higher) or ``"smaller"``.

    Returns
    -------
    ProportionResult
        With ``error`` set when an arm has no responses or fewer than two sites, or when the
        outcome does not vary.
    """
    _check_alpha(alpha)
    _check_alternative(alternative)
    frame = _prepare(responses, success, extra=("segment",) if segment is not None else ())
    if segment is not None:
        frame = frame[frame["segment"].astype(str) == str(segment)]
    return _compare_frame(frame, alpha, alternative, None if segment is None else str(segment))


# --------------------------------------------------------------------------------------------
# Before vs after


@dataclass(frozen=True, slots=True)
class BeforeAfterResult(ResultMixin):
    """Share of successes after vs before the start, within one arm, clustered by site."""

    arm: str
    """The arm analysed (normally ``"pilot"``)."""
    pre_rate: float
    """Share of successes among pre-period responses."""
    post_rate: float
    """Share of successes among post-period responses."""
    change: float
    """Within-site change: coefficient on ``post`` with site fixed effects (a share)."""
    se: float
    """CR1 SE of ``change``, clustered by site."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval (t(G-1))."""
    ci_high: float
    """Upper end of that interval."""
    t_stat: float
    """``change / se``."""
    p_value: float
    """p-value for ``alternative``."""
    df: int
    """Sites used minus one."""
    naive_z: float
    """Naive two-proportion z (post vs pre), treating answers as independent."""
    naive_p_value: float
    """p-value of the naive test."""
    n_pre: int
    """Pre-period responses used."""
    n_post: int
    """Post-period responses used."""
    n_sites: int
    """Sites with responses in both periods (the clusters)."""
    n_sites_dropped: int
    """Sites dropped because they answered in one period only."""
    alpha: float
    """Significance level."""
    alternative: str
    """``"two-sided"``, ``"larger"`` (post higher) or ``"smaller"``."""
    segment: str | None = None
    """The segment analysed, or ``None``."""
    method: str = (
        "linear probability model y ~ post + site fixed effects, within one arm, "
        "CR1 SE clustered by site, t(G-1)"
    )
    """How the numbers were computed."""
    error: str | None = None
    """Why no estimate could be made (then the numbers are NaN)."""
    warnings: tuple[str, ...] = ()
    """Caveats, e.g. that a before/after change also contains everything else that changed."""

    def summary(self) -> str:
        """A readable sentence."""
        if self.error:
            return f"Before/after ({self.arm}): not estimated ({self.error})"
        ci = ci_text(self.alpha, 100 * self.ci_low, 100 * self.ci_high, "+.1f")
        return (
            f"Before/after at {self.arm} sites: {_fmt_pct(self.pre_rate)} -> "
            f"{_fmt_pct(self.post_rate)}; within-site change {100 * self.change:+.1f} pp, {ci} pp, "
            f"p={self.p_value:.4f} ({self.n_sites} sites). Naive p={self.naive_p_value:.4f}."
        )


def before_after(
    responses: pd.DataFrame,
    success: Callable[[pd.Series], Any] = default_success,
    alpha: float = 0.05,
    *,
    arm: str = "pilot",
    segment: str | None = None,
    alternative: str = "two-sided",
) -> BeforeAfterResult:
    """Post vs pre share of successes within the sites of one arm, clustered by site.

    Uses ``y ~ post + site dummies`` so that the change is measured *within* sites (a site that
    answers more often after the start does not shift the comparison), with a CR1 SE clustered
    by site. Sites that answered in only one period carry no within-site information and are
    dropped. ``responses`` needs a ``period`` column with values ``"pre"`` / ``"post"``.

    A before/after change includes seasonality and anything else that changed at the same
    time; compare with :func:`proportion_comparison` on the post-period for the controlled view.
    """
    _check_alpha(alpha)
    _check_alternative(alternative)
    if arm not in _ARMS:
        raise ValueError(f"arm must be one of {list(_ARMS)}, got {arm!r}")
    frame = _period_frame(responses, success, arm, segment)
    both = frame.groupby("site_id")["post"].agg(["min", "max"])
    keep_sites = both.index[(both["min"] == 0) & (both["max"] == 1)]
    used = frame[frame["site_id"].isin(keep_sites)]
    n_pre = int((used["post"] == 0).sum())
    n_post = int((used["post"] == 1).sum())
    common = dict(
        arm=arm,
        n_pre=n_pre,
        n_post=n_post,
        n_sites=len(keep_sites),
        n_sites_dropped=int(len(both) - len(keep_sites)),
        alpha=alpha,
        alternative=alternative,
        segment=None if segment is None else str(segment),
    )
    if len(keep_sites) < 2:
        reason = (
            f"{len(keep_sites)} {arm} site(s) answered both before and after the start; "
            "a site-clustered before/after comparison needs at least two"
        )
        return failed_result(BeforeAfterResult, reason, **common)
    y = used["y"].to_numpy()
    flat = "no variation to estimate uncertainty from (the outcome does not vary)"
    if y.min() == y.max():
        return failed_result(BeforeAfterResult, flat, **common)
    post = used["post"].to_numpy()
    change, se, n_clusters = _within_site_change(used, y, post)
    if not se > 1e-12:
        return failed_result(BeforeAfterResult, flat, **common)
    df = n_clusters - 1
    t, p, low, high = _t_inference(change, se, df, alpha, alternative)
    s1, s0 = float(y[post == 1].sum()), float(y[post == 0].sum())
    nz, npv, *_ = _naive_two_proportions(s1, n_post, s0, n_pre, alpha, alternative)
    return BeforeAfterResult(
        pre_rate=s0 / n_pre,
        post_rate=s1 / n_post,
        change=change,
        se=se,
        ci_low=low,
        ci_high=high,
        t_stat=t,
        p_value=p,
        df=df,
        naive_z=nz,
        naive_p_value=npv,
        warnings=(
            "a before/after change also contains seasonality and anything else that changed at "
            "the same time; prefer the pilot-vs-control comparison",
        ),
        **common,
    )


def _period_frame(
    responses: pd.DataFrame,
    success: Callable[[pd.Series], Any],
    arm: str,
    segment: str | None,
) -> pd.DataFrame:
    """Validated responses of one arm (and segment) with a 0/1 ``post`` column."""
    extra = ("period", "segment") if segment is not None else ("period",)
    frame = _prepare(responses, success, extra=extra)
    period = _as_text(frame["period"], normalise=True)
    unknown = sorted(set(period.unique()) - {"pre", "post"})
    if unknown:
        raise ValueError(f"responses has unknown period value(s) {unknown}; expected pre/post")
    frame["post"] = (period == "post").astype(float)
    frame = frame[frame["arm"] == arm]
    if segment is not None:
        frame = frame[frame["segment"].astype(str) == str(segment)]
    return frame


def _within_site_change(
    used: pd.DataFrame, y: np.ndarray, post: np.ndarray
) -> tuple[float, float, int]:
    """Coefficient on ``post`` in ``y ~ post + site dummies``, its CR1 SE and the sites.

    Computed within sites (Frisch-Waugh-Lovell) rather than with one dummy column per site:
    ``post`` and ``y`` less their site means give the same coefficient and the same residuals,
    and, as the sites are the clusters, the same CR1 variance of the coefficient -- the first
    row of ``(X'X)^-1`` applied to a site's summed scores is ``sum(post~ * e) / sum(post~^2)``
    -- with ``K`` = 1 + the number of sites in the small-sample factor, as in the dummy fit.
    """
    codes, levels = pd.factorize(used["site_id"])
    y = np.asarray(y, dtype=float)
    post = np.asarray(post, dtype=float)
    g, n = len(levels), len(y)
    size = np.bincount(codes, minlength=g).astype(float)
    post_within = post - (np.bincount(codes, weights=post, minlength=g) / size)[codes]
    y_within = y - (np.bincount(codes, weights=y, minlength=g) / size)[codes]
    sxx = float(post_within @ post_within)
    if not sxx > 1e-12 * max(float(post @ post), 1.0):
        raise ValueError("the regressors are collinear")
    change = float(post_within @ y_within) / sxx
    resid = y_within - change * post_within
    per_site = np.bincount(codes, weights=post_within * resid, minlength=g)
    k = 1 + g
    adj = g / (g - 1) * (n - 1) / (n - k) if g > 1 and n > k else _NAN
    variance = adj * float(per_site @ per_site) / sxx**2
    return change, float(np.sqrt(max(variance, 0.0))), g


# --------------------------------------------------------------------------------------------
# By segment


@dataclass(frozen=True, slots=True)
class SegmentRatesResult(ResultMixin):
    """Pilot vs control feedback rates per respondent segment, and a heterogeneity test."""

    segments: tuple[ProportionResult, ...]
    """One :class:`ProportionResult` per segment (sorted by segment label)."""
    heterogeneity_wald: float
    """Wald statistic that the pilot effect is the same in every segment (CR1 by site)."""
    heterogeneity_df: int
    """Number of restrictions (segments minus one)."""
    heterogeneity_p_value: float
    """p-value from F(df, G-1) = Wald / df."""
    alpha: float
    """Significance level."""
    method: str = (
        "per segment: LPM y ~ pilot, CR1 by site; heterogeneity: LPM y ~ pilot * segment, "
        "Wald test of the pilot x segment terms with the CR1 covariance, F(q, G-1)"
    )
    """How the numbers were computed."""
    error: str | None = None
    """Why the heterogeneity test could not be made (segment results may still be usable)."""

    def summary(self) -> str:
        """One line per segment plus the heterogeneity test."""
        lines = [r.summary() for r in self.segments]
        if self.error:
            lines.append(f"Heterogeneity test: not computed ({self.error})")
        else:
            lines.append(
                f"Heterogeneity across segments: Wald {self.heterogeneity_wald:.3f} on "
                f"{self.heterogeneity_df} df, p={self.heterogeneity_p_value:.4f}"
            )
        return "\n".join(lines)


def by_segment(
    responses: pd.DataFrame,
    success: Callable[[pd.Series], Any] = default_success,
    alpha: float = 0.05,
    *,
    segment_col: str = "segment",
    alternative: str = "two-sided",
) -> SegmentRatesResult:
    """:func:`proportion_comparison` within every value of ``segment_col`` (e.g. age band).

    Also tests whether the pilot-minus-control difference is the same in all segments: a linear
    probability model with segment dummies and pilot x segment interactions, whose interaction
    coefficients are tested jointly with the site-clustered (CR1) covariance.
    """
    _check_alpha(alpha)
    _check_alternative(alternative)
    frame = _prepare(responses, success, extra=(segment_col,))
    frame = frame[frame[segment_col].notna()]
    labels = frame[segment_col].astype(str)
    frame["_segment"] = labels
    levels = natural_order(labels.unique())
    results = tuple(
        _compare_frame(frame[frame["_segment"] == lv], alpha, alternative, lv) for lv in levels
    )
    usable = [r.segment for r in results if r.error is None]
    nan = _NAN
    if len(usable) < 2:
        return SegmentRatesResult(
            results, nan, 0, nan, alpha, error="fewer than two segments could be estimated"
        )
    sub = frame[frame["_segment"].isin(usable)]
    pilot = (sub["arm"] == "pilot").to_numpy(dtype=float)
    cols = [np.ones(len(sub)), pilot]
    for lv in usable[1:]:
        cols.append((sub["_segment"] == lv).to_numpy(dtype=float))
    for lv in usable[1:]:
        cols.append(pilot * (sub["_segment"] == lv).to_numpy(dtype=float))
    x = np.column_stack(cols)
    try:
        fit = _cluster_ols(x, sub["y"].to_numpy(), sub["site_id"].to_numpy())
    except ValueError as exc:
        return SegmentRatesResult(results, nan, 0, nan, alpha, error=str(exc))
    q = len(usable) - 1
    idx = np.arange(x.shape[1] - q, x.shape[1])
    b = fit.coef[idx]
    v = fit.vcov[np.ix_(idx, idx)]
    try:
        wald = float(b @ np.linalg.solve(v, b))
    except np.linalg.LinAlgError:
        return SegmentRatesResult(
            results, nan, q, nan, alpha, error="the interaction covariance is singular"
        )
    df_denom = fit.n_clusters - 1
    if q > df_denom:
        return SegmentRatesResult(
            results, wald, q, nan, alpha, error="more segments than sites allow to test"
        )
    p = float(stats.f.sf(wald / q, q, df_denom))
    return SegmentRatesResult(results, wald, q, p, alpha)


# --------------------------------------------------------------------------------------------
# Net Promoter Score


@dataclass(frozen=True, slots=True)
class NpsResult(ResultMixin):
    """Net Promoter Score with an interval that respects clustering by site."""

    nps: float
    """``100 * (share of promoters (9-10) - share of detractors (0-6))``, from -100 to 100."""
    se: float
    """Standard error of ``nps`` (same units), clustered by site."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval."""
    ci_high: float
    """Upper end of that interval."""
    promoters: float
    """Share of scores 9-10."""
    passives: float
    """Share of scores 7-8."""
    detractors: float
    """Share of scores 0-6."""
    n_responses: int
    """Scores used."""
    n_sites: int
    """Sites (clusters)."""
    alpha: float
    """Significance level of the interval."""
    method: str
    """``"delta"`` (ratio estimator over site totals, G/(G-1) factor, t(G-1)) or
    ``"bootstrap"`` (sites resampled with replacement, percentile interval)."""
    n_boot: int = 0
    """Bootstrap replicates (0 for the delta method)."""
    seed: int | None = None
    """Seed of the bootstrap (``None`` for the delta method)."""
    error: str | None = None
    """Why no interval could be computed (``nps`` may still be given)."""

    def summary(self) -> str:
        """A readable sentence."""
        if self.error and not np.isfinite(self.nps):
            return f"NPS: not estimated ({self.error})"
        head = (
            f"NPS {self.nps:+.1f} (promoters {_fmt_pct(self.promoters)}, detractors "
            f"{_fmt_pct(self.detractors)}; {self.n_responses} answers from {self.n_sites} sites)"
        )
        if self.error:
            return f"{head}; no interval ({self.error})"
        return f"{head}, {ci_text(self.alpha, self.ci_low, self.ci_high, '+.1f')} ({self.method})"


def _nps_scores(
    scores: Sequence[float] | np.ndarray | pd.Series,
    site_ids: Sequence[Any] | np.ndarray | pd.Series,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (missing ones dropped) and their site ids as strings; ``ValueError`` if bad."""
    s = pd.to_numeric(pd.Series(np.asarray(scores, dtype=object)), errors="coerce")
    ids = pd.Series(np.asarray(site_ids, dtype=object))
    if len(s) != len(ids):
        raise ValueError(f"scores ({len(s)}) and site_ids ({len(ids)}) differ in length")
    keep = s.notna().to_numpy()
    s = s[keep].astype(float).to_numpy()
    ids = ids[keep].astype(str).to_numpy()
    if s.size and (s.min() < 0 or s.max() > 10):
        raise ValueError(
            f"NPS scores must lie in 0..10, got values from {s.min():g} to {s.max():g}"
        )
    return s, ids


def _nps_bootstrap(
    totals: np.ndarray, counts: np.ndarray, alpha: float, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """SE and percentile interval of NPS from ``n_boot`` resamples of whole sites."""
    g = totals.size
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, g, size=(n_boot, g))
    boot = 100 * totals[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    return float(boot.std(ddof=1)), low, high


def nps(
    scores: Sequence[float] | np.ndarray | pd.Series,
    site_ids: Sequence[Any] | np.ndarray | pd.Series,
    alpha: float = 0.05,
    *,
    method: str = "delta",
    n_boot: int = 2000,
    seed: int = 0,
) -> NpsResult:
    """Net Promoter Score with a site-clustered confidence interval.

    Each answer is scored ``e = +1`` (9-10), ``0`` (7-8) or ``-1`` (0-6); NPS is ``100 *
    mean(e)``. With site totals ``T_g = sum e`` and counts ``n_g``, NPS is the ratio
    ``sum T_g / sum n_g`` and its delta-method variance is ``G/(G-1) * sum_g (T_g - nps * n_g)^2
    / N^2`` -- the CR1 variance of an intercept-only regression clustered by site, without the
    ``(N-1)/(N-K)`` factor -- with a t(G-1) interval (``method="delta"``, default). The
    alternative ``method="bootstrap"`` resamples whole sites ``n_boot`` times (seeded) and takes
    the percentile interval.

    Scores must be whole or fractional numbers within 0..10 (``ValueError`` otherwise); missing
    scores are dropped.
    """
    _check_alpha(alpha)
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")
    if method == "bootstrap" and (not isinstance(n_boot, int) or n_boot < 100):
        raise ValueError(f"n_boot must be an integer of at least 100, got {n_boot!r}")
    s, ids = _nps_scores(scores, site_ids)
    n = int(s.size)
    codes, levels = pd.factorize(ids)
    g = len(levels)
    boot_n = n_boot if method == "bootstrap" else 0
    boot_seed = seed if method == "bootstrap" else None
    if n == 0:
        return failed_result(
            NpsResult, "no scores", alpha=alpha, method=method, n_boot=boot_n, seed=boot_seed
        )
    e = np.where(s >= 9, 1.0, np.where(s <= 6, -1.0, 0.0))
    prom, det = float((e == 1).mean()), float((e == -1).mean())
    value = 100 * (prom - det)
    shares = (prom, 1 - prom - det, det)

    def partial(reason: str) -> NpsResult:
        return NpsResult(
            value, _NAN, _NAN, _NAN, *shares, n, g, alpha, method, boot_n, boot_seed, error=reason
        )

    if g < 2:
        return partial("all scores come from one site; a site-clustered interval needs two")
    totals = np.bincount(codes, weights=e, minlength=g)
    counts = np.bincount(codes, minlength=g).astype(float)
    mean = totals.sum() / n
    resid = totals - mean * counts
    var = g / (g - 1) * float(resid @ resid) / n**2
    se = 100 * np.sqrt(var)
    if e.min() == e.max() or not se > 1e-12:
        return partial("every answer falls in the same group, so there is no variation to measure")
    if method == "delta":
        low, high = t_interval(value, se, g - 1, alpha)
    else:
        se, low, high = _nps_bootstrap(totals, counts, alpha, n_boot, seed)
    return NpsResult(
        nps=value,
        se=float(se),
        ci_low=float(max(low, -100.0)),
        ci_high=float(min(high, 100.0)),
        promoters=shares[0],
        passives=shares[1],
        detractors=shares[2],
        n_responses=n,
        n_sites=g,
        alpha=alpha,
        method=method,
        n_boot=boot_n,
        seed=boot_seed,
    )


def nps_difference(pilot: NpsResult, control: NpsResult, alpha: float = 0.05) -> dict[str, float]:
    """Pilot minus control NPS with a two-sided ``1 - alpha`` interval and p-value.

    Pilot and control sites are disjoint clusters, so the variance of the difference is the
    sum of the two site-clustered variances; t with the smaller arm's ``G - 1`` degrees of
    freedom (conservative, as Welch's with few clusters). ``p_value`` is NaN when both
    standard errors are zero.
    """
    diff = pilot.nps - control.nps
    se = float(np.hypot(pilot.se, control.se))
    df = max(1, min(pilot.n_sites, control.n_sites) - 1)
    low, high = t_interval(diff, se, df, alpha)
    p = float(t_p_value(diff / se, df)) if se > 0 else _NAN
    return {
        "difference": diff,
        "se": se,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p,
        "df": df,
    }
