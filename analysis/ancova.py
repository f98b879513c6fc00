"""ANCOVA on site means: post-period mean on arm and pre-period mean, HC2 standard errors.

``post_i = a + effect * pilot_i + b * pre_i (+ stratum dummies) + e_i``, one row per site with
both a pre- and a post-period mean. Adjusting for the pre-period mean with a free slope ``b``
(CUPED-style) is never less efficient than the change score (``b = 1``) in large samples and
removes most of the between-site variance when sites are stable.

The standard error is the HC2 sandwich (unbiased under homoskedasticity, robust when pilot and
control sites differ in spread). Inference uses a t distribution with the Bell-McCaffrey
degrees of freedom for the effect (Bell & McCaffrey 2002; recommended with HC2 by Imbens &
Kolesar 2016, "Robust standard errors in small samples", REStat 98(4)):
``df = tr(G'G)^2 / tr((G'G)^2)`` with ``G = (I - H) diag(a_i / sqrt(1 - h_ii))`` and ``a`` the
row of ``(X'X)^-1 X'`` for the effect. With arm alone it equals the Welch-Satterthwaite df
under equal variances, e.g. 15.5 rather than 38 for 10 pilot vs 30 control sites: the naive
``n - k`` reference over-rejected in the simulation study when arms are unequal in size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inference import t_interval, t_p_value
from analysis.results import EstimateMixin, failed_result

__all__ = ["AncovaResult", "ancova", "bell_mccaffrey_df"]


def bell_mccaffrey_df(
    x: np.ndarray, xtx_inv: np.ndarray, leverage: np.ndarray, coefficient: int
) -> float:
    """Bell-McCaffrey degrees of freedom of one HC2 coefficient (homoskedastic working model)."""
    a = (xtx_inv @ x.T)[coefficient]
    m = np.eye(x.shape[0]) - x @ xtx_inv @ x.T
    g = m * (a / np.sqrt(1 - leverage))[None, :]
    gg = g.T @ g
    return float(np.trace(gg) ** 2 / np.sum(gg * gg))


@dataclass(frozen=True, slots=True)
class AncovaResult(EstimateMixin):
    """Pre-period adjusted comparison of post-period site means."""

    effect: float
    """Adjusted difference in post-period means, pilot minus control (metric units)."""
    se: float
    """HC2 standard error of ``effect``."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval (t with ``df`` degrees of freedom)."""
    ci_high: float
    """Upper end of the interval."""
    p_value: float
    """Two-sided p-value against no effect."""
    df: float
    """Bell-McCaffrey degrees of freedom of the t reference."""
    df_resid: int
    """Residual degrees of freedom (sites minus parameters), for reference."""
    pre_slope: float
    """Coefficient on the pre-period mean (1 would be the plain change score)."""
    r_squared: float
    """Share of between-site variance in post means explained by the model."""
    alpha: float
    """Level of the interval."""
    n_pilot: int
    """Pilot sites used (both periods observed)."""
    n_control: int
    """Control sites used."""
    method: str = "ANCOVA: post site mean ~ arm + pre site mean, HC2 SE, Bell-McCaffrey df"
    """What was estimated, and how."""
    error: str | None = None
    """Why no estimate could be made."""

    _name = "ANCOVA"
    _se_name = "HC2 SE"

    def _details(self) -> str:
        return (
            f"; pre slope {self.pre_slope:.3f}; "
            f"{self.n_pilot} pilot vs {self.n_control} control sites"
        )


def _failed(alpha: float, reason: str, n_pilot: int = 0, n_control: int = 0) -> AncovaResult:
    return failed_result(AncovaResult, reason, alpha=alpha, n_pilot=n_pilot, n_control=n_control)


def ancova(
    site_means: pd.DataFrame,
    alpha: float = 0.05,
    strata: pd.Series | None = None,
) -> AncovaResult:
    """Fit the ANCOVA on a frame with columns ``arm, pre, post`` (one row per site).

    Sites missing either mean are left out. ``strata`` (indexed like ``site_means``) adds
    stratum dummies. Degenerate inputs (too few sites, constant outcome) give ``error``.
    """
    missing = [c for c in ("arm", "pre", "post") if c not in site_means.columns]
    if missing:
        raise ValueError(f"ancova: site_means has no column(s) {missing}")
    frame = site_means.dropna(subset=["pre", "post"])
    pilot = (frame["arm"] == "pilot").to_numpy(float)
    n_pilot, n_control = int(pilot.sum()), int((1 - pilot).sum())
    if n_pilot == 0 or n_control == 0:
        return _failed(
            alpha,
            "needs pilot and control sites with pre- and post-period data",
            n_pilot,
            n_control,
        )
    columns = [np.ones(len(frame)), pilot, frame["pre"].to_numpy(float)]
    if strata is not None:
        dummies = pd.get_dummies(strata.reindex(frame.index).astype(str), drop_first=True)
        columns += [dummies[c].to_numpy(float) for c in dummies.columns]
    x = np.column_stack(columns)
    y = frame["post"].to_numpy(float)
    n, k = x.shape
    if n - k < 1:
        return _failed(alpha, f"too few sites ({n}) for {k} parameters", n_pilot, n_control)
    if np.ptp(y) == 0:
        return _failed(alpha, "the post-period mean is the same at every site", n_pilot, n_control)
    if np.linalg.matrix_rank(x) < k:
        return _failed(
            alpha, "the design is collinear (e.g. constant pre-period means)", n_pilot, n_control
        )
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    resid = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    if np.any(leverage > 1 - 1e-10):
        return _failed(
            alpha,
            "a site has leverage 1 (HC2 undefined); too few sites per arm",
            n_pilot,
            n_control,
        )
    meat = (x * (resid**2 / (1 - leverage))[:, None]).T @ x
    vcov = xtx_inv @ meat @ xtx_inv
    se = float(np.sqrt(vcov[1, 1]))
    if not se > 0:
        return _failed(alpha, "the standard error is zero", n_pilot, n_control)
    df = bell_mccaffrey_df(x, xtx_inv, leverage, coefficient=1)
    effect = float(beta[1])
    ci_low, ci_high = t_interval(effect, se, df, alpha)
    tss = float(((y - y.mean()) ** 2).sum())
    return AncovaResult(
        effect=effect,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=float(t_p_value(effect / se, df)),
        df=df,
        df_resid=int(n - k),
        pre_slope=float(beta[2]),
        r_squared=1 - float(resid @ resid) / tss,
        alpha=alpha,
        n_pilot=n_pilot,
        n_control=n_control,
    )
