"""Two-way fixed-effects OLS with cluster-robust inference, and the site x day DiD.

:func:`fit_twfe` regresses ``y`` on slope regressors ``x`` after absorbing a unit and a time
fixed effect. The fixed effects are removed by alternating projections (iterative demeaning
with :func:`numpy.bincount`), which is exact for balanced panels after one sweep and converges
for unbalanced ones. Standard errors follow pyfixest's defaults (``ssc()``: ``k_adj=True``,
``k_fixef="nonnested"``, ``G_adj=True``) so results match
``pyfixest.feols("y ~ x | unit + time", vcov={"CRV1": cluster})``:

* CR1 with ``V = G/(G-1) * (N-1)/(N-K) * (X'X)^-1 (sum_g s_g s_g') (X'X)^-1`` where ``K`` counts
  the slope regressors plus the levels of every fixed effect that is *not* nested in the
  clusters, minus one per extra fixed effect, plus one for each nested fixed effect;
* inference uses a t distribution with ``G - 1`` degrees of freedom;
* singleton observations (a unit or time level seen once) are dropped first, repeatedly, like
  ``fixef_rm="singleton"``; they carry no information about the slopes.

Without ``cluster`` the heteroskedasticity-robust HC1 matrix of pyfixest's ``vcov="hetero"`` is
used (``N/(N-K)`` with all fixed-effect levels counted, ``N - K`` degrees of freedom).

:func:`did` is the pilot comparison: ``value ~ treated | site + day`` with site-clustered SE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.inference import check_alpha, t_interval, t_p_value
from analysis.results import EstimateMixin, ResultMixin, failed_result

__all__ = ["DidResult", "TwfeFit", "demean", "did", "fit_twfe"]

_TOL = 1e-10
_MAX_ITER = 10_000


@dataclass(frozen=True, slots=True)
class TwfeFit(ResultMixin):
    """A fitted two-way fixed-effects regression."""

    coef: dict[str, float]
    """Slope estimates by regressor name."""
    se: dict[str, float]
    """Standard errors by regressor name (CR1 when clustered, HC1 otherwise)."""
    vcov: np.ndarray
    """Covariance matrix of the slopes, ordered as ``names``."""
    names: list[str]
    """Regressor names, in the order of ``vcov``."""
    n_obs: int
    """Observations used (after dropping missing values and singletons)."""
    n_clusters: int | None
    """Number of clusters ``G`` (``None`` without clustering)."""
    df_resid: int
    """Degrees of freedom of the t reference: ``G - 1`` when clustered, else ``N - K``."""
    df_k: int
    """``K`` of the small-sample factor ``(N-1)/(N-K)`` (pyfixest's ``df_k``)."""
    n_units: int = 0
    """Levels of the unit fixed effect used."""
    n_times: int = 0
    """Levels of the time fixed effect used."""
    n_singletons: int = 0
    """Observations dropped as fixed-effect singletons."""
    iterations: int = 0
    """Alternating-projection sweeps used by the demeaning."""
    cluster: str | None = None
    """Name of the cluster column, if any."""

    def _index(self, name: str) -> int:
        if name not in self.coef:
            raise ValueError(f"unknown regressor {name!r}; fitted {self.names}")
        return self.names.index(name)

    def t(self, name: str) -> float:
        """t statistic of ``name``."""
        self._index(name)
        se = self.se[name]
        return self.coef[name] / se if se > 0 else float("nan")

    def p_value(self, name: str, alternative: str = "two-sided") -> float:
        """p-value of ``name`` against zero, with a t(``df_resid``) reference."""
        t = self.t(name)
        if not np.isfinite(t):
            return float("nan")
        return float(t_p_value(t, self.df_resid, alternative))

    def ci(self, name: str, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided ``1 - alpha`` confidence interval of ``name`` (t(``df_resid``))."""
        self._index(name)
        low, high = t_interval(self.coef[name], self.se[name], self.df_resid, alpha)
        return float(low), float(high)

    def summary(self) -> str:
        """A small coefficient table."""
        kind = f"CR1 clustered by {self.cluster} (G={self.n_clusters})" if self.cluster else "HC1"
        lines = [f"TWFE OLS, N={self.n_obs}, SE {kind}, df={self.df_resid}"]
        for name in self.names:
            lines.append(
                f"  {name:<20} {self.coef[name]:>12.5g}  se {self.se[name]:>10.4g}  "
                f"t {self.t(name):>7.3f}  p {self.p_value(name):.4f}"
            )
        return "\n".join(lines)


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(np.asarray(values), sort=False)
    if (codes < 0).any():
        raise ValueError("fixed-effect and cluster columns must not contain missing values")
    return codes.astype(np.intp), len(uniques)


def _compact(codes: np.ndarray) -> np.ndarray:
    """Renumber integer codes to 0..L-1 after some levels disappeared."""
    present = np.bincount(codes) > 0
    return (np.cumsum(present) - 1)[codes]


def _drop_singletons(groups: list[np.ndarray]) -> np.ndarray:
    """Boolean mask of observations kept after repeatedly removing singleton levels."""
    keep = np.ones(groups[0].shape[0], dtype=bool)
    while True:
        changed = False
        for g in groups:
            counts = np.bincount(g[keep], minlength=int(g.max()) + 1)
            single = keep & (counts[g] == 1)
            if single.any():
                keep &= ~single
                changed = True
        if not changed:
            return keep


def demean(
    matrix: np.ndarray,
    groups: list[np.ndarray],
    tol: float = _TOL,
    max_iter: int = _MAX_ITER,
) -> tuple[np.ndarray, int]:
    """Project the columns of ``matrix`` off the dummies of every factor in ``groups``.

    Alternating projections: subtract group means factor after factor until the largest change
    in a sweep is below ``tol`` times the column scale. ``groups`` are integer codes (0..L-1).
    Returns the residual matrix and the number of sweeps.
    """
    out = np.array(matrix, dtype=float, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    counts = [np.bincount(g).astype(float) for g in groups]
    scale = np.maximum(np.abs(out).max(axis=0), 1.0)
    sweeps = 0
    for col in range(out.shape[1]):
        v = out[:, col]
        for sweep in range(1, max_iter + 1):
            biggest = 0.0
            for g, n in zip(groups, counts, strict=True):
                means = np.bincount(g, weights=v, minlength=n.size) / np.maximum(n, 1)
                v -= means[g]
                biggest = max(biggest, float(np.abs(means).max()))
            if len(groups) == 1 or biggest <= tol * scale[col]:
                sweeps = max(sweeps, sweep)
                break
        else:
            raise RuntimeError(f"demeaning did not converge in {max_iter} sweeps")
        out[:, col] = v
    return out, sweeps


def fit_twfe(
    frame: pd.DataFrame,
    y: str,
    x: list[str],
    unit: str,
    time: str,
    cluster: str | None = None,
    *,
    tol: float = _TOL,
    drop_singletons: bool = True,
) -> TwfeFit:
    """OLS of ``y`` on ``x`` with ``unit`` and ``time`` fixed effects.

    Rows with a missing ``y`` or ``x`` are dropped. Raises ``ValueError`` for unknown columns,
    too few observations or clusters, and regressors collinear with the fixed effects.
    """
    x = list(x)
    if not x:
        raise ValueError("fit_twfe needs at least one regressor in x")
    needed = [y, *x, unit, time] + ([cluster] if cluster else [])
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise ValueError(f"fit_twfe: frame has no column(s) {missing}")
    data = frame[list(dict.fromkeys(needed))].dropna(subset=[y, *x])
    data, unit_codes, time_codes, n_singletons = _without_singletons(
        data, unit, time, drop_singletons
    )
    n = len(data)
    if n == 0:
        raise ValueError("fit_twfe: no observations left after dropping singletons")
    n_units, n_times = int(unit_codes.max()) + 1, int(time_codes.max()) + 1

    raw = data[[y, *x]].to_numpy(dtype=float)
    resid, iterations = demean(raw, [unit_codes, time_codes], tol=tol)
    yd, xd = resid[:, 0], resid[:, 1:]
    bread = _bread(raw[:, 1:], xd, x)
    beta = bread @ (xd.T @ yd)
    scores = xd * (yd - xd @ beta)[:, None]
    if cluster:
        if cluster == unit:
            cl_codes, n_clusters = unit_codes, n_units
        elif cluster == time:
            cl_codes, n_clusters = time_codes, n_times
        else:
            cl_codes, n_clusters = _codes(data[cluster])
        meat, adj, df_resid, df_k = _cluster_meat(
            scores, cl_codes, n_clusters, cluster, [unit_codes, time_codes], [n_units, n_times]
        )
    else:
        n_clusters = None
        df_k = len(x) + n_units + n_times - 1
        meat = scores.T @ scores
        adj = n / (n - df_k)
        df_resid = n - df_k
    if n - df_k <= 0 or df_resid <= 0:
        raise ValueError(f"fit_twfe: too few observations ({n}) for {df_k} parameters")
    vcov = adj * bread @ meat @ bread
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    return TwfeFit(
        coef={name: float(b) for name, b in zip(x, beta, strict=True)},
        se={name: float(s) for name, s in zip(x, se, strict=True)},
        vcov=vcov,
        names=x,
        n_obs=n,
        n_clusters=n_clusters,
        df_resid=int(df_resid),
        df_k=int(df_k),
        n_units=n_units,
        n_times=n_times,
        n_singletons=n_singletons,
        iterations=iterations,
        cluster=cluster,
    )


def _bread(raw_x: np.ndarray, xd: np.ndarray, names: list[str]) -> np.ndarray:
    """``(X'X)^-1`` of the demeaned regressors; ``ValueError`` when they are collinear."""
    for j, name in enumerate(names):
        spread = np.abs(raw_x[:, j]).max()
        if not np.any(np.abs(xd[:, j]) > 1e-8 * max(spread, 1.0)):
            raise ValueError(f"regressor {name!r} is collinear with the fixed effects")
    try:
        return np.linalg.inv(xd.T @ xd)
    except np.linalg.LinAlgError as exc:
        raise ValueError("regressors are collinear after removing the fixed effects") from exc


def _without_singletons(
    data: pd.DataFrame, unit: str, time: str, drop_singletons: bool
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """Rows kept, their unit and time codes (0..L-1) and the number of singletons dropped."""
    unit_codes, _ = _codes(data[unit])
    time_codes, _ = _codes(data[time])
    keep = (
        _drop_singletons([unit_codes, time_codes])
        if drop_singletons and len(data)
        else np.ones(len(data), bool)
    )
    n_singletons = int((~keep).sum())
    if n_singletons:
        data = data[keep]
        unit_codes, time_codes = _compact(unit_codes[keep]), _compact(time_codes[keep])
    return data, unit_codes, time_codes, n_singletons


def _cluster_meat(
    scores: np.ndarray,
    cl_codes: np.ndarray,
    n_clusters: int,
    cluster: str,
    fe_codes: list[np.ndarray],
    fe_levels: list[int],
) -> tuple[np.ndarray, float, int, int]:
    """CR1 meat, small-sample factor, df (``G - 1``) and pyfixest's ``K``.

    ``K`` counts the slopes and the fixed-effect levels not nested in the clusters (minus one
    per extra fixed effect), plus one per nested fixed effect.
    """
    n, k = scores.shape
    if n_clusters < 2:
        raise ValueError(f"fit_twfe: need at least 2 clusters of {cluster!r}, got {n_clusters}")
    k_fe_adj = sum(fe_levels) - (len(fe_levels) - 1)
    nested = [_is_nested(g, cl_codes) for g in fe_codes]
    if any(nested):
        df_k = (
            k
            + k_fe_adj
            - sum(lv for lv, is_n in zip(fe_levels, nested, strict=True) if is_n)
            + sum(nested)
        )
    else:
        df_k = k + k_fe_adj
    summed = np.column_stack(
        [np.bincount(cl_codes, weights=scores[:, j], minlength=n_clusters) for j in range(k)]
    )
    adj = n_clusters / (n_clusters - 1) * (n - 1) / (n - df_k)
    return summed.T @ summed, adj, n_clusters - 1, df_k


def _is_nested(fe_codes: np.ndarray, cluster_codes: np.ndarray) -> bool:
    """True when every level of the fixed effect lies inside a single cluster."""
    some_cluster = np.empty(int(fe_codes.max()) + 1, dtype=cluster_codes.dtype)
    some_cluster[fe_codes] = cluster_codes
    return bool(np.array_equal(some_cluster[fe_codes], cluster_codes))


@dataclass(frozen=True, slots=True)
class DidResult(EstimateMixin):
    """Difference-in-differences on the site x day panel.

    ``effect`` is the coefficient on ``treated`` in ``value ~ treated | site + day`` (pilot sites
    in the post-period), with SE clustered by site and a t(G-1) reference.
    """

    effect: float
    """DiD estimate: change at pilot sites minus change at control sites (metric units)."""
    se: float
    """Site-clustered CR1 standard error."""
    ci_low: float
    """Lower bound of the two-sided ``1 - alpha`` confidence interval."""
    ci_high: float
    """Upper bound of the confidence interval."""
    p_value: float
    """Two-sided p-value against no effect."""
    t_stat: float
    """``effect / se``."""
    df: int
    """Degrees of freedom of the t reference (number of sites minus one)."""
    alpha: float
    """Significance level used for the interval."""
    n_obs: int
    """Site-days used (singletons dropped)."""
    n_sites: int
    """Sites (clusters) used."""
    n_pilot_sites: int
    """Sites used that are ever treated (pilot sites with post-period data)."""
    n_control_sites: int
    """Sites used that are never treated."""
    n_days: int
    """Distinct days used."""
    n_singletons: int = 0
    """Site-days dropped because their site or day occurs only once."""
    method: str = "DiD: value ~ treated | site + day, CR1 SE clustered by site, t(G-1)"
    """What was estimated, and how."""
    error: str | None = None
    """Why no estimate could be made (then the numbers are NaN)."""
    fit: TwfeFit | None = field(default=None, repr=False)
    """The underlying regression."""

    _dict_exclude = ("fit",)
    _name = "DiD"

    def _details(self) -> str:
        return f"; {self.n_sites} sites, {self.n_days} days, {self.n_obs} site-days"


def _failed_did(alpha: float, reason: str, n_sites: int = 0) -> DidResult:
    return failed_result(DidResult, reason, alpha=alpha, n_sites=n_sites)


def did(panel: pd.DataFrame, alpha: float = 0.05) -> DidResult:
    """Site x day DiD: ``value ~ treated | site + day`` with SE clustered by site.

    ``panel`` has columns ``site_id, date, value, treated`` where ``treated`` is 1 for pilot
    sites in the post-period and 0 otherwise. Degenerate panels (no variation in ``treated``
    after the fixed effects, a single site, constant values) give a result with ``error`` set.
    """
    check_alpha(alpha)
    missing = [c for c in ("site_id", "date", "value", "treated") if c not in panel.columns]
    if missing:
        raise ValueError(f"did: panel has no column(s) {missing}")
    n_sites = int(panel["site_id"].nunique())
    try:
        fit = fit_twfe(panel, "value", ["treated"], "site_id", "date", cluster="site_id")
    except ValueError as exc:
        return _failed_did(alpha, str(exc), n_sites)
    se = fit.se["treated"]
    if not se > 0:
        return _failed_did(alpha, "the standard error is zero (the metric does not vary)", n_sites)
    low, high = fit.ci("treated", alpha)
    used = panel.dropna(subset=["value", "treated"])
    if fit.n_singletons:
        unit_codes, _ = _codes(used["site_id"])
        time_codes, _ = _codes(used["date"])
        used = used[_drop_singletons([unit_codes, time_codes])]
    ever = used.groupby("site_id", sort=False)["treated"].max()
    n_pilot = int((ever > 0).sum())
    return DidResult(
        effect=fit.coef["treated"],
        se=se,
        ci_low=low,
        ci_high=high,
        p_value=fit.p_value("treated"),
        t_stat=fit.t("treated"),
        df=fit.df_resid,
        alpha=alpha,
        n_obs=fit.n_obs,
        n_sites=int(fit.n_clusters or 0),
        n_pilot_sites=n_pilot,
        n_control_sites=int(fit.n_clusters or 0) - n_pilot,
        n_days=fit.n_times,
        n_singletons=fit.n_singletons,
        fit=fit,
    )
