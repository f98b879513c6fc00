"""Segment (heterogeneous) effects: does the pilot work better at some kinds of site?

:func:`segment_effects`
    For a site attribute ``by`` -- categorical tiers (size tier, region) or a numeric score
    (digital readiness, senior share) cut into tertiles or at given cut points -- the DiD
    ``value ~ treated | site + day`` within each segment, with a site-clustered (CR1) interval
    and a t(G-1) reference (:func:`analysis.did.fit_twfe`, pyfixest's conventions).

    Heterogeneity is tested in one model on all sites: ``value ~ treated + treated:x | site +
    day`` for a numeric attribute (``x`` as given, so the ``treated`` coefficient is the effect
    at ``x = 0`` and ``treated:x`` the change in effect per unit of ``x``), or ``value ~ treated
    + sum_j treated:1[level = j] | site + day`` for a categorical one (reference level: the one
    with most pilot sites). The interaction coefficients are tested jointly with a Wald test on
    the CR1 covariance ``W``. Only the pilot sites identify the interactions, and CR1 then
    understates the variance: against ``F(q, G - 1)`` or ``F(q, P - k)`` the test rejected a
    true null 12-17 % of the time at 5 % with 15 of 60 sites in the pilot. The p-value
    therefore comes from a **wild cluster restricted bootstrap** (null imposed, one Webb
    weight per site, ``n_boot`` replicates, seeded; MacKinnon & Webb 2018). The analytic
    ``F(q, P - k)`` p-value (``P`` pilot sites, ``k`` coefficients) is reported beside it.

    Segment estimates from a pilot are noisy: with 10 pilot sites split in three, each segment
    rests on three or four sites. Read the interaction test before reading the segments.

:func:`predict_effect`
    Per-site predicted effect from the interaction model, with a t(P - k) interval (the
    model's ``df``), for rollout planning. ``extrapolation`` is set when the site's attribute
    lies outside the range (or the set of levels) seen among the pilot sites: the model has no
    data there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.data import parse_date, validate
from analysis.did import TwfeFit, demean, fit_twfe
from analysis.inference import check_alpha, t_multiplier
from analysis.ordering import natural_order
from analysis.results import ResultMixin, ci_text, failed_result

__all__ = [
    "EffectPrediction",
    "SegmentEffect",
    "SegmentEffects",
    "SitePrediction",
    "predict_effect",
    "segment_effects",
]

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class SegmentEffect(ResultMixin):
    """The DiD within one segment of sites."""

    segment: str
    """Segment label (a level, or a numeric range such as ``"40 < size <= 55"``)."""
    effect: float
    """DiD effect within the segment (metric units)."""
    se: float
    """Site-clustered CR1 standard error."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval, t(G-1)."""
    ci_high: float
    """Upper end of that interval."""
    p_value: float
    """Two-sided p-value against no effect."""
    n_pilot_sites: int
    """Pilot sites in the segment."""
    n_control_sites: int
    """Control sites in the segment."""
    error: str | None = None
    """Why the segment could not be estimated (then the numbers are NaN)."""


@dataclass(frozen=True, slots=True)
class SegmentEffects(ResultMixin):
    """Effects by segment of a site attribute, and a test that they differ."""

    metric: str
    """Metric analysed."""
    by: str
    """Site attribute defining the segments."""
    kind: str
    """``"numeric"`` or ``"categorical"``."""
    alpha: float
    """Significance level of the intervals."""
    overall_effect: float
    """DiD on all sites."""
    overall_se: float
    """Its CR1 SE."""
    segments: tuple[SegmentEffect, ...]
    """Per-segment DiD results."""
    interaction_names: tuple[str, ...]
    """Regressors of the interaction model (``treated`` first)."""
    interaction_coef: tuple[float, ...]
    """Their estimates."""
    interaction_vcov: tuple[tuple[float, ...], ...]
    """Their CR1 covariance (clustered by site)."""
    df: int
    """Degrees of freedom of the interaction model's t / F references: pilot sites in the model
    minus its coefficients (capped at sites minus one)."""
    heterogeneity_wald: float
    """Wald statistic that every interaction coefficient is zero."""
    heterogeneity_df: int
    """Number of interaction coefficients tested."""
    heterogeneity_p_value: float
    """p-value of the Wald test from the wild cluster restricted bootstrap (Webb weights,
    ``n_boot`` replicates); the analytic ``heterogeneity_p_value_f`` when ``n_boot=0``."""
    heterogeneity_p_value_f: float
    """Analytic p-value of ``F = wald / q`` against ``F(q, df)``, for reference (liberal with
    few pilot sites)."""
    n_boot: int
    """Wild cluster bootstrap replicates behind ``heterogeneity_p_value`` (0: analytic)."""
    seed: int
    """Seed of the wild cluster bootstrap."""
    pilot_range: tuple[float, float] | None
    """Smallest and largest attribute value among the pilot sites (numeric)."""
    pilot_levels: tuple[str, ...]
    """Levels seen among the pilot sites (categorical)."""
    reference_level: str | None
    """Reference level of the categorical interaction model."""
    cut_points: tuple[float, ...]
    """Inner cut points used for a numeric attribute."""
    method: str
    """What was computed."""
    warnings: tuple[str, ...] = ()
    """Caveats (small segments, levels without pilot sites...)."""
    error: str | None = None
    """Why the interaction model could not be estimated."""

    def effect_at(self, value: Any) -> tuple[float, float]:
        """Predicted effect and its SE at an attribute value (from the interaction model)."""
        x = self._design_row(value)
        if x is None:
            return self.overall_effect, self.overall_se
        b = np.array(self.interaction_coef)
        v = np.array(self.interaction_vcov)
        return float(x @ b), float(np.sqrt(max(x @ v @ x, 0.0)))

    def _design_row(self, value: Any) -> np.ndarray | None:
        k = len(self.interaction_coef)
        if self.kind == "numeric":
            return np.array([1.0, float(value)])
        row = np.zeros(k)
        row[0] = 1.0
        name = f"treated:{self.by}={value}"
        if str(value) == self.reference_level:
            return row
        if name in self.interaction_names:
            row[self.interaction_names.index(name)] = 1.0
            return row
        return None

    def summary(self) -> str:
        """Segment table and heterogeneity test."""
        lines = [
            f"Effect of the pilot on {self.metric} by {self.by} ({self.kind}); overall "
            f"{self.overall_effect:+.4g} (SE {self.overall_se:.3g})"
        ]
        for s in self.segments:
            if s.error:
                lines.append(f"  {s.segment:<28} not estimated ({s.error})")
            else:
                lines.append(
                    f"  {s.segment:<28} {s.effect:+10.4g}  "
                    f"{ci_text(self.alpha, s.ci_low, s.ci_high, '+.4g')}  "
                    f"({s.n_pilot_sites} pilot / {s.n_control_sites} control)"
                )
        if self.error:
            lines.append(f"Heterogeneity test: not computed ({self.error})")
        else:
            lines.append(
                f"Heterogeneity: Wald {self.heterogeneity_wald:.3f} on {self.heterogeneity_df} "
                f"df, p={self.heterogeneity_p_value:.4f}"
            )
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _did_fit(panel: pd.DataFrame, regressors: list[str]) -> TwfeFit:
    return fit_twfe(panel, "value", regressors, "site_id", "date", cluster="site_id")


def _segment_labels(
    values: pd.Series, by: str, numeric: bool, bins: int, cut_points: Sequence[float] | None
) -> tuple[pd.Series, tuple[float, ...]]:
    if not numeric:
        return values.astype(str), ()
    v = values.astype(float)
    if cut_points is not None:
        cuts = sorted(float(c) for c in cut_points)
    else:
        qs = np.quantile(v.dropna(), np.linspace(0, 1, bins + 1)[1:-1])
        cuts = sorted(set(float(q) for q in qs))
    edges = [-np.inf, *cuts, np.inf]
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if np.isinf(lo):
            labels.append(f"{by} <= {hi:.4g}")
        elif np.isinf(hi):
            labels.append(f"{by} > {lo:.4g}")
        else:
            labels.append(f"{lo:.4g} < {by} <= {hi:.4g}")
    cut = pd.cut(v, edges, labels=labels, right=True)
    return cut.astype(str).where(v.notna()), tuple(cuts)


def segment_effects(
    observations: pd.DataFrame,
    sites: pd.DataFrame,
    start: Any,
    metric: str,
    by: str,
    *,
    end: Any = None,
    bins: int = 3,
    cut_points: Sequence[float] | None = None,
    alpha: float = 0.05,
    n_boot: int = 999,
    seed: int = 0,
) -> SegmentEffects:
    """DiD effect of the pilot within segments of the site attribute ``by``, and a test.

    Parameters
    ----------
    observations, sites, start, end
        The analysis contract (:func:`analysis.data.validate`).
    metric
        Metric to analyse.
    by
        Column of ``sites``. Numeric columns are cut into ``bins`` quantile groups (tertiles by
        default, over all sites) or at ``cut_points``; other columns are used as levels.
    alpha
        Level of the intervals.
    n_boot, seed
        Wild cluster bootstrap replicates (and seed) for the heterogeneity p-value; ``0`` uses
        the analytic ``F(q, P - k)`` reference.
    """
    obs, site_frame = _inputs(observations, sites, start, end, metric, by, alpha, n_boot, bins)
    attr = site_frame.set_index("site_id")[by]
    arms = site_frame.set_index("site_id")["arm"]
    numeric = bool(pd.api.types.is_numeric_dtype(attr) and not pd.api.types.is_bool_dtype(attr))
    panel = _treated_panel(obs[obs["metric"] == metric], arms, parse_date(start, "start"))
    notes: list[str] = []
    overall_effect, overall_se = _overall_did(panel, notes)
    labels, cuts = _segment_labels(attr, by, numeric, bins, cut_points)
    seg_rows = _per_segment(panel, labels, attr, arms, numeric, by, alpha, notes)
    model = _interaction_design(panel, attr, arms, by, numeric, notes)
    common = dict(
        metric=metric,
        by=by,
        kind="numeric" if numeric else "categorical",
        alpha=alpha,
        overall_effect=float(overall_effect),
        overall_se=float(overall_se),
        segments=tuple(seg_rows),
        pilot_range=model.pilot_range,
        pilot_levels=model.pilot_levels,
        reference_level=model.reference,
        cut_points=cuts,
        method=_method(by, numeric),
        interaction_names=tuple(model.names),
        n_boot=int(n_boot),
        seed=int(seed),
    )
    fit, error = _interaction_fit(model)
    if fit is None:
        return failed_result(
            SegmentEffects,
            error,
            interaction_coef=(),
            interaction_vcov=(),
            warnings=tuple(notes),
            **common,
        )
    test = _heterogeneity_test(model, fit, n_boot, seed, notes)
    return SegmentEffects(
        interaction_coef=tuple(float(fit.coef[n]) for n in model.names),
        interaction_vcov=tuple(tuple(float(x) for x in row) for row in fit.vcov),
        warnings=tuple(notes),
        **test,
        **common,
    )


def _method(by: str, numeric: bool) -> str:
    return (
        "per segment: value ~ treated | site + day; heterogeneity: value ~ treated + "
        f"treated:{by}{'' if numeric else '=level'} | site + day; CR1 by site; "
        "heterogeneity p from a wild cluster restricted bootstrap"
    )


def _interaction_fit(model: _InteractionDesign) -> tuple[TwfeFit | None, str | None]:
    """The fitted interaction model, or ``None`` and why there is none."""
    if len(model.names) < 2:
        return None, "no interaction to test"
    try:
        return _did_fit(model.usable, model.names), None
    except ValueError as exc:
        return None, str(exc)


def _inputs(
    observations: pd.DataFrame,
    sites: pd.DataFrame,
    start: Any,
    end: Any,
    metric: str,
    by: str,
    alpha: float,
    n_boot: int,
    bins: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validated contract frames; ``ValueError`` naming a bad argument."""
    check_alpha(alpha)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ValueError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be a whole number of at least 2, got {bins!r}")
    obs, site_frame = validate(observations, sites, start, end)
    if by not in site_frame.columns or by in ("site_id", "arm"):
        raise ValueError(f"sites has no attribute column {by!r}")
    if metric not in set(obs["metric"]):
        raise ValueError(
            f"unknown metric {metric!r}; observations have {sorted(set(obs['metric']))}"
        )
    return obs, site_frame


def _treated_panel(obs: pd.DataFrame, arms: pd.Series, start_ts: pd.Timestamp) -> pd.DataFrame:
    """``site_id, date, value, treated`` of one metric (treated: pilot site, post-period)."""
    panel = obs[["site_id", "date", "value"]].copy()
    pilot_site = panel["site_id"].map(arms).eq("pilot").to_numpy()
    panel["treated"] = (pilot_site & (panel["date"] >= start_ts).to_numpy()).astype(float)
    return panel


def _overall_did(panel: pd.DataFrame, notes: list[str]) -> tuple[float, float]:
    try:
        overall = _did_fit(panel, ["treated"])
    except ValueError as exc:
        notes.append(f"overall DiD failed: {exc}")
        return _NAN, _NAN
    return overall.coef["treated"], overall.se["treated"]


def _per_segment(
    panel: pd.DataFrame,
    labels: pd.Series,
    attr: pd.Series,
    arms: pd.Series,
    numeric: bool,
    by: str,
    alpha: float,
    notes: list[str],
) -> list[SegmentEffect]:
    """The DiD within each segment (in the order of the attribute's values)."""
    if labels.isna().any():
        notes.append(f"{int(labels.isna().sum())} site(s) without {by} were left out")
    order = (
        [lab for lab in pd.unique(labels.dropna().sort_values(key=_label_order(labels, attr)))]
        if numeric
        else natural_order(labels.dropna().unique())
    )
    rows: list[SegmentEffect] = []
    for lab in order:
        members = labels.index[labels == lab]
        n_p = int((arms[members] == "pilot").sum())
        n_c = int((arms[members] == "control").sum())
        sizes = dict(segment=lab, n_pilot_sites=n_p, n_control_sites=n_c)
        if n_p < 2 or n_c < 2:
            reason = f"needs at least 2 pilot and 2 control sites, has {n_p} and {n_c}"
            rows.append(failed_result(SegmentEffect, reason, **sizes))
            continue
        try:
            fit = _did_fit(panel[panel["site_id"].isin(members)], ["treated"])
        except ValueError as exc:
            rows.append(failed_result(SegmentEffect, str(exc), **sizes))
            continue
        if not fit.se["treated"] > 0:
            rows.append(failed_result(SegmentEffect, "no variation", **sizes))
            continue
        low, high = fit.ci("treated", alpha)
        rows.append(
            SegmentEffect(
                effect=fit.coef["treated"],
                se=fit.se["treated"],
                ci_low=low,
                ci_high=high,
                p_value=fit.p_value("treated"),
                **sizes,
            )
        )
        if n_p < 4:
            notes.append(f"segment {lab!r} rests on {n_p} pilot sites: read it with care")
    return rows


@dataclass(frozen=True, slots=True)
class _InteractionDesign:
    """The panel with ``treated`` x attribute columns, and what the pilot sites cover."""

    usable: pd.DataFrame
    """Site-days of sites with the attribute, plus one column per interaction term."""
    names: list[str]
    """Regressors: ``treated`` first, then the interaction terms."""
    reference: str | None
    pilot_range: tuple[float, float] | None
    pilot_levels: tuple[str, ...]


def _interaction_design(
    panel: pd.DataFrame,
    attr: pd.Series,
    arms: pd.Series,
    by: str,
    numeric: bool,
    notes: list[str],
) -> _InteractionDesign:
    """``treated:x`` (numeric) or ``treated:by=level`` columns, reference = most pilot sites."""
    pilot_ids = arms.index[arms == "pilot"]
    pilot_attr = attr.reindex(pilot_ids).dropna()
    pilot_range = (float(pilot_attr.min()), float(pilot_attr.max())) if numeric else None
    pilot_levels = tuple(sorted(pilot_attr.astype(str).unique())) if not numeric else ()
    reference = None
    usable = panel[panel["site_id"].map(attr).notna().to_numpy()].copy()
    site_attr = usable["site_id"].map(attr)
    names = ["treated"]
    if numeric:
        usable["treated:" + by] = usable["treated"] * site_attr.astype(float)
        names.append("treated:" + by)
    else:
        counts = pilot_attr.astype(str).value_counts()
        if len(counts) < 2:
            notes.append(f"pilot sites cover fewer than two levels of {by}: no interaction test")
        else:
            reference = str(sorted(counts.index, key=lambda lv: (-counts[lv], lv))[0])
            for lv in sorted(counts.index):
                if lv == reference:
                    continue
                col = f"treated:{by}={lv}"
                usable[col] = usable["treated"] * (site_attr.astype(str) == lv).to_numpy()
                names.append(col)
        missing_levels = sorted(set(attr.dropna().astype(str)) - set(pilot_levels))
        if missing_levels:
            notes.append(
                f"no pilot site has {by} in {missing_levels}: effects there are not estimated"
            )
    return _InteractionDesign(usable, names, reference, pilot_range, pilot_levels)


def _heterogeneity_test(
    model: _InteractionDesign, fit: TwfeFit, n_boot: int, seed: int, notes: list[str]
) -> dict[str, Any]:
    """Wald test of the interaction terms: wild-bootstrap p-value and the F(q, P - k) one."""
    # The effect and its interactions are identified by the pilot sites alone; with 15 pilot
    # sites among 60 the CR1 Wald test rejected a true null 12-17 % of the time at 5 % against
    # F(q, G - 1) or F(q, P - k) (seeded studies, docs/analysis-design.md): CR1 understates the
    # variance when a few clusters carry the regressor. The p-value therefore comes from a
    # wild cluster bootstrap with the null imposed (WCR, Webb weights; MacKinnon & Webb 2018); the
    # analytic F(q, P - k) p-value is kept beside it.
    usable, names = model.usable, model.names
    n_pilot_model = int(usable.loc[usable["treated"] > 0, "site_id"].nunique())
    df_denom = int(min(fit.df_resid, max(n_pilot_model - len(names), 1)))
    idx = np.arange(1, len(names))
    b = np.array([fit.coef[n] for n in names])[idx]
    v = fit.vcov[np.ix_(idx, idx)]
    q = len(idx)
    try:
        wald = float(b @ np.linalg.solve(v, b))
        p_f = float(stats.f.sf(wald / q, q, df_denom))
        p = _wild_cluster_p(usable, names, idx, wald, n_boot, seed) if n_boot else p_f
    except np.linalg.LinAlgError:
        wald, p, p_f = _NAN, _NAN, _NAN
        notes.append("the interaction covariance is singular")
    return dict(
        df=df_denom,
        heterogeneity_wald=wald,
        heterogeneity_df=q,
        heterogeneity_p_value=p,
        heterogeneity_p_value_f=p_f,
    )


_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def _wild_cluster_p(
    panel: pd.DataFrame,
    names: list[str],
    test_idx: np.ndarray,
    wald: float,
    n_boot: int,
    seed: int,
) -> float:
    """Wild cluster restricted bootstrap p-value of the Wald test of ``names[test_idx]``.

    On the two-way demeaned data (:func:`analysis.did.demean`), the model without the tested
    terms gives fitted values and residuals; each replicate multiplies every site's residuals by
    one Webb weight, re-imposes the fixed effects, refits the full model and recomputes the CR1
    Wald statistic. The p-value is the share of replicates at least as large as the observed
    statistic. Everything is linear in the weights, so each replicate costs G x G products:
    the demeaned reweighted residuals are ``A @ w`` with ``A[:, g] = M_D(resid * 1[site g])``.
    """
    site_codes, sites_index = pd.factorize(panel["site_id"])
    n_sites = len(sites_index)
    day_codes = pd.factorize(panel["date"])[0]
    raw = panel[["value", *names]].to_numpy(dtype=float)
    groups = [site_codes.astype(np.intp), day_codes.astype(np.intp)]
    dm, _ = demean(raw, groups)
    y, x = dm[:, 0], dm[:, 1:]
    n, k = x.shape
    keep = np.setdiff1d(np.arange(k), test_idx)
    xr = x[:, keep]
    fitted = xr @ np.linalg.lstsq(xr, y, rcond=None)[0]
    resid = y - fitted
    per_site = np.zeros((n, n_sites))
    per_site[np.arange(n), site_codes] = resid
    a, _ = demean(per_site, groups)  # column g: site g's residuals with the FE re-imposed
    bread = np.linalg.inv(x.T @ x)
    beta_fit = bread @ (x.T @ fitted)
    h = bread @ (x.T @ a)  # k x G: response of the slopes to each site's weight
    e0 = fitted - x @ beta_fit
    r = a - x @ h
    # Site sums through a sparse indicator: single-threaded and cheap.
    member = sparse.csr_matrix((np.ones(n), (site_codes, np.arange(n))), shape=(n_sites, n))
    s0 = np.asarray(member @ (x * e0[:, None]))  # G x k
    q = np.stack([np.asarray(member @ (x[:, j : j + 1] * r)) for j in range(k)])  # k x G x G
    rng = np.random.default_rng(seed)
    weights = _WEBB[rng.integers(0, 6, size=(n_sites, n_boot))]
    beta = beta_fit[:, None] + h @ weights  # k x B
    scores = s0[:, :, None] + np.einsum("jgh,hb->gjb", q, weights)  # G x k x B
    meat = np.einsum("gjb,glb->bjl", scores, scores)
    vcov = np.einsum("jm,bmn,nl->bjl", bread, meat, bread)
    sub_v = vcov[:, test_idx][:, :, test_idx]
    sub_b = beta[test_idx].T[:, :, None]
    stats_b = (np.transpose(sub_b, (0, 2, 1)) @ np.linalg.solve(sub_v, sub_b)).ravel()
    # The observed statistic carries fit_twfe's CR1 factor; put the same factor on the
    # replicates (their covariance above has none).
    stats_b = stats_b * (n_sites - 1) / n_sites * _cr1_df_factor(panel, names, n, k)
    return float((np.sum(stats_b >= wald - 1e-12) + 1) / (n_boot + 1))


def _cr1_df_factor(panel: pd.DataFrame, names: list[str], n: int, k: int) -> float:
    """``(N - K) / (N - 1)`` with pyfixest's ``K`` (slopes + day levels), as in fit_twfe."""
    n_days = panel["date"].nunique()
    df_k = k + n_days
    return (n - df_k) / (n - 1)


def _label_order(labels: pd.Series, attr: pd.Series) -> Callable[[pd.Series], pd.Series]:
    """Sort key putting numeric range labels in the order of their values."""
    rank = attr.astype(float).groupby(labels).min()

    def key(values: pd.Series) -> pd.Series:
        return values.map(rank)

    return key


# --------------------------------------------------------------------------------------------
# Prediction


@dataclass(frozen=True, slots=True)
class SitePrediction(ResultMixin):
    """Predicted effect at one site."""

    site_id: str
    """The site."""
    value: Any
    """Its value of the attribute."""
    effect: float
    """Predicted effect (metric units)."""
    se: float
    """Standard error of the prediction (of the expected effect, not of one site's outcome)."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval, t(P - k): the interaction model's
    ``df`` (pilot sites minus coefficients, capped at sites minus one)."""
    ci_high: float
    """Upper end."""
    extrapolation: bool
    """True when the attribute lies outside the pilot sites' range or levels."""
    note: str = ""
    """Why the prediction is an extrapolation or missing."""


@dataclass(frozen=True, slots=True)
class EffectPrediction(ResultMixin):
    """Predicted effects for candidate rollout sites."""

    by: str
    """Attribute the prediction depends on."""
    alpha: float
    """Level of the intervals."""
    sites: tuple[SitePrediction, ...]
    """One row per site."""
    method: str
    """How the predictions were made."""
    error: str | None = None
    """Why no prediction could be made."""

    def to_frame(self) -> pd.DataFrame:
        """The predictions as a DataFrame."""
        return pd.DataFrame([s.to_dict() for s in self.sites])

    def summary(self) -> str:
        """One line per site."""
        if self.error:
            return f"Predicted effects: none ({self.error})"
        level = round(100 * (1 - self.alpha))
        lines = [f"Predicted effect by {self.by} ({level}% CI):"]
        for s in self.sites:
            flag = "  EXTRAPOLATION" if s.extrapolation else ""
            lines.append(
                f"  {s.site_id:<12} {self.by}={s.value!s:<10} {s.effect:+.4g} "
                f"[{s.ci_low:+.4g}, {s.ci_high:+.4g}]{flag}"
            )
        return "\n".join(lines)


def predict_effect(
    segment_result: SegmentEffects,
    site_attributes: pd.DataFrame,
    alpha: float | None = None,
) -> EffectPrediction:
    """Per-site predicted effect from the interaction model of ``segment_result``.

    ``site_attributes`` has ``site_id`` and the attribute column ``segment_result.by``. A
    numeric attribute predicts ``b_treated + b_interaction * x`` (variance ``x' V x``); a
    categorical one the effect of the site's level. The interval is ``effect +/- q * se``
    with ``q`` from t(``segment_result.df``), i.e. t(P - k): pilot sites in the model minus its
    coefficients, capped at sites minus one. Sites outside the pilot sites' range (or with a
    level no pilot site had) are flagged ``extrapolation``; an unseen level gets the overall
    effect.
    """
    if not isinstance(segment_result, SegmentEffects):
        raise ValueError("segment_result must come from segment_effects()")
    if not isinstance(site_attributes, pd.DataFrame):
        raise ValueError("site_attributes must be a pandas DataFrame")
    by = segment_result.by
    for col in ("site_id", by):
        if col not in site_attributes.columns:
            raise ValueError(f"site_attributes has no column {col!r}")
    alpha = segment_result.alpha if alpha is None else alpha
    check_alpha(alpha)
    method = f"interaction model {' + '.join(segment_result.interaction_names)}, t(P-k)"
    if segment_result.error or not segment_result.interaction_coef:
        return EffectPrediction(
            by, alpha, (), method, error=segment_result.error or "no interaction model"
        )
    df = segment_result.df
    q = float(t_multiplier(df, alpha))
    rows = []
    for sid, value in zip(site_attributes["site_id"].astype(str), site_attributes[by], strict=True):
        if pd.isna(value):
            rows.append(SitePrediction(sid, None, _NAN, _NAN, _NAN, _NAN, True, f"no {by}"))
            continue
        note = ""
        if segment_result.kind == "numeric":
            lo, hi = segment_result.pilot_range or (_NAN, _NAN)
            x = float(value)
            extrap = not (lo <= x <= hi)
            if extrap:
                note = f"{by}={x:.4g} outside the pilot sites' range [{lo:.4g}, {hi:.4g}]"
            effect, se = segment_result.effect_at(x)
            shown: Any = x
        else:
            shown = str(value)
            extrap = shown not in segment_result.pilot_levels
            if extrap:
                note = f"no pilot site had {by}={shown}; the overall effect is shown"
            effect, se = segment_result.effect_at(shown)
        rows.append(
            SitePrediction(sid, shown, effect, se, effect - q * se, effect + q * se, extrap, note)
        )
    return EffectPrediction(by, alpha, tuple(rows), method)
