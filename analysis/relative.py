"""Relative effect: the effect as a share of what the pilot sites would have done without it.

Definitions (site means, each site weighted equally; only sites with both periods count):

* ``counterfactual = pilot pre mean + (control post mean - control pre mean)`` -- the pilot
  sites' pre-period level moved by the control sites' change (parallel trends). Equivalently
  ``control post mean + (pilot pre mean - control pre mean)``.
* ``relative_effect = effect / counterfactual``. For the site-mean DiD
  (``effect = pilot post mean - counterfactual``) this is ``pilot post / counterfactual - 1``.

The interval uses the delta method for the ratio ``R = effect / C``::

    Var(R) ~= Var(effect) / C^2 + effect^2 Var(C) / C^4 - 2 effect Cov(effect, C) / C^3

``Var(C)`` comes from the site means (``var(pilot pre)/n_p + var(control change)/n_c``);
``Var(effect)`` is the headline estimator's squared SE (an infinite SE, i.e. an unbounded
interval, gives an unbounded relative interval); ``Cov(effect, C)`` is the covariance
of the site-mean DiD with ``C`` (exact when the headline is the site-mean DiD, a close
approximation for the panel DiD and ANCOVA, which estimate the same quantity). The interval is
symmetric on the ratio scale with a normal quantile. When the counterfactual is not clearly
away from zero (``|C| < 2 SE(C)``) the ratio is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inference import normal_interval
from analysis.results import ResultMixin, failed_result

__all__ = ["RelativeEffect", "relative_effect"]


@dataclass(frozen=True, slots=True)
class RelativeEffect(ResultMixin):
    """An effect expressed as a fraction of the pilot sites' counterfactual level."""

    relative_effect: float
    """``effect / counterfactual`` (0.05 means +5%)."""
    se: float
    """Delta-method standard error of ``relative_effect``."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval."""
    ci_high: float
    """Upper end of the interval."""
    counterfactual: float
    """Pilot pre mean plus the control sites' mean change."""
    counterfactual_se: float
    """Standard error of ``counterfactual``."""
    effect: float
    """The absolute effect that was divided."""
    alpha: float
    """Level of the interval."""
    error: str | None = None
    """Why no relative effect is reported."""

    def summary(self) -> str:
        """One line with the percentage and its interval."""
        if self.error:
            return f"Relative effect: not reported ({self.error})"
        level = round(100 * (1 - self.alpha))
        return (
            f"Relative effect {100 * self.relative_effect:+.2f}% ({level}% CI "
            f"{100 * self.ci_low:+.2f}% to {100 * self.ci_high:+.2f}%) of a counterfactual "
            f"level {self.counterfactual:.4g}"
        )


def relative_effect(
    site_means: pd.DataFrame,
    effect: float | None = None,
    effect_se: float | None = None,
    alpha: float = 0.05,
) -> RelativeEffect:
    """Relative effect from site means (columns ``arm, pre, post``).

    ``effect`` and ``effect_se`` default to the site-mean DiD and its SE; pass the headline
    estimator's values to express that estimate in relative terms.
    """
    nan = float("nan")
    frame = site_means.dropna(subset=["pre", "post"])
    pilot = frame[frame["arm"] == "pilot"]
    control = frame[frame["arm"] == "control"]
    n_p, n_c = len(pilot), len(control)

    def failed(reason: str, c: float = nan, c_se: float = nan) -> RelativeEffect:
        given = nan if effect is None else effect
        return failed_result(
            RelativeEffect,
            reason,
            counterfactual=c,
            counterfactual_se=c_se,
            effect=given,
            alpha=alpha,
        )

    if n_p == 0 or n_c == 0:
        return failed("needs pilot and control sites with pre- and post-period data")
    p_pre, p_post = pilot["pre"].to_numpy(float), pilot["post"].to_numpy(float)
    c_change = (control["post"] - control["pre"]).to_numpy(float)
    c = p_pre.mean() + c_change.mean()
    # Sample (co)variances of site means; one pilot site gives no pilot variance.
    v_pre = p_pre.var(ddof=1) if n_p > 1 else 0.0
    v_post = p_post.var(ddof=1) if n_p > 1 else 0.0
    cov_pp = np.cov(p_pre, p_post, ddof=1)[0, 1] if n_p > 1 else 0.0
    v_cc = c_change.var(ddof=1) if n_c > 1 else 0.0
    var_c = v_pre / n_p + v_cc / n_c
    var_p = v_post / n_p  # pilot post mean P
    cov_pc = cov_pp / n_p  # Cov(P, C): only the pilot pre mean is shared
    site_did = p_post.mean() - c
    var_did = var_p - 2 * cov_pc + var_c
    cov_dc = cov_pc - var_c
    if effect is None:
        effect, effect_se = float(site_did), float(np.sqrt(max(var_did, 0.0)))
    if effect_se is None or np.isnan(effect_se) or not np.isfinite(effect):
        return failed("the absolute effect has no standard error", c, np.sqrt(var_c))
    c_se = float(np.sqrt(var_c))
    if c == 0 or abs(c) < 2 * c_se:
        return failed("the counterfactual level is not clearly away from zero", c, c_se)
    ratio = effect / c
    var_r = effect_se**2 / c**2 + effect**2 * var_c / c**4 - 2 * effect * cov_dc / c**3
    se = float(np.sqrt(max(var_r, 0.0))) if np.isfinite(effect_se) else float("inf")
    ci_low, ci_high = normal_interval(ratio, se, alpha)
    return RelativeEffect(
        relative_effect=float(ratio),
        se=se,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        counterfactual=float(c),
        counterfactual_se=c_se,
        effect=float(effect),
        alpha=alpha,
    )
