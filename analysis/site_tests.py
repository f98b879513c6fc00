"""Two-sample tests on one outcome per site (usually the change, post minus pre mean).

* :func:`welch` -- Welch's unequal-variance t-test with the Welch-Satterthwaite degrees of
  freedom (``scipy.stats.ttest_ind(..., equal_var=False)``).
* :func:`rank_test` -- the Mann-Whitney U (Wilcoxon rank-sum) test
  (``scipy.stats.mannwhitneyu``) with the Hodges-Lehmann shift estimate (median of all
  pilot-minus-control differences) and its distribution-free (Moses) confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.inference import ALTERNATIVES, check_alpha, normal_multiplier, t_interval, t_p_value
from analysis.results import ResultMixin, ci_text, failed_result

__all__ = ["RankResult", "WelchResult", "rank_test", "welch"]

_SCIPY_ALTERNATIVE = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def _split(values, is_pilot) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(values, dtype=float)
    z = np.asarray(is_pilot, dtype=bool)
    if y.shape != z.shape or y.ndim != 1:
        raise ValueError("values and is_pilot must be 1-d arrays of the same length")
    ok = np.isfinite(y)
    return y[ok & z], y[ok & ~z]


def _not_run(cls, reason: str, a: np.ndarray, b: np.ndarray, alternative: str, alpha: float):
    """A ``cls`` result saying why the test could not be run (its numbers NaN)."""
    n_pilot, n_control = a.size, b.size
    return failed_result(
        cls, reason, alternative=alternative, alpha=alpha, n_pilot=n_pilot, n_control=n_control
    )


def _check(alternative: str, alpha: float) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    check_alpha(alpha)


@dataclass(frozen=True, slots=True)
class WelchResult(ResultMixin):
    """Welch's t-test of pilot minus control site means."""

    effect: float
    """Difference in means of the site outcome, pilot minus control."""
    se: float
    """``sqrt(s_p^2 / n_p + s_c^2 / n_c)``."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval (t with Welch df)."""
    ci_high: float
    """Upper end of the interval."""
    p_value: float
    """p-value for ``alternative``."""
    df: float
    """Welch-Satterthwaite degrees of freedom."""
    alternative: str
    """``"two-sided"``, ``"larger"`` or ``"smaller"``."""
    alpha: float
    """Level of the interval."""
    n_pilot: int
    """Pilot sites."""
    n_control: int
    """Control sites."""
    method: str = "Welch t-test on site-level change (post - pre mean)"
    """What was estimated, and how."""
    error: str | None = None
    """Why no test could be made."""

    def summary(self) -> str:
        """One line with the estimate, interval and p-value."""
        if self.error:
            return f"Welch t-test: not run ({self.error})"
        return (
            f"Welch effect {self.effect:.4g} (SE {self.se:.3g}, df {self.df:.1f}), "
            f"{ci_text(self.alpha, self.ci_low, self.ci_high)}, p={self.p_value:.4f}"
        )


def welch(values, is_pilot, *, alternative: str = "two-sided", alpha: float = 0.05) -> WelchResult:
    """Welch's t-test on one value per site; ``is_pilot`` marks the pilot sites."""
    _check(alternative, alpha)
    a, b = _split(values, is_pilot)
    if a.size < 2 or b.size < 2:
        reason = (
            "needs at least 2 pilot and 2 control sites to estimate both variances "
            f"(has {a.size} pilot, {b.size} control)"
        )
        return _not_run(WelchResult, reason, a, b, alternative, alpha)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if not se > 0:
        return _not_run(WelchResult, "the site outcome does not vary", a, b, alternative, alpha)
    df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    effect = float(a.mean() - b.mean())
    ci_low, ci_high = t_interval(effect, se, df, alpha)
    return WelchResult(
        effect=effect,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=float(t_p_value(effect / se, df, alternative)),
        df=df,
        alternative=alternative,
        alpha=alpha,
        n_pilot=int(a.size),
        n_control=int(b.size),
    )


@dataclass(frozen=True, slots=True)
class RankResult(ResultMixin):
    """Mann-Whitney U test with the Hodges-Lehmann shift."""

    effect: float
    """Hodges-Lehmann estimate: median of all pilot-minus-control differences."""
    se: float
    """Interval half-width divided by the normal quantile (a rough scale, for display only)."""
    ci_low: float
    """Lower end of the Moses distribution-free interval for the shift."""
    ci_high: float
    """Upper end of the interval."""
    p_value: float
    """p-value of the Mann-Whitney U test for ``alternative``."""
    u_statistic: float
    """U of the pilot sites (number of pilot-control pairs where the pilot is higher)."""
    alternative: str
    """``"two-sided"``, ``"larger"`` or ``"smaller"``."""
    alpha: float
    """Level of the interval (its attained coverage is at least ``1 - alpha``)."""
    n_pilot: int
    """Pilot sites."""
    n_control: int
    """Control sites."""
    method: str = "Mann-Whitney U on site-level change, Hodges-Lehmann shift"
    """What was estimated, and how."""
    error: str | None = None
    """Why no test could be made."""

    def summary(self) -> str:
        """One line with the shift, interval and p-value."""
        if self.error:
            return f"Rank test: not run ({self.error})"
        return (
            f"Rank test shift {self.effect:.4g}, CI [{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"U={self.u_statistic:.1f}, p={self.p_value:.4f}"
        )


def _moses_rank(n_a: int, n_b: int, alpha: float) -> int:
    """Number of extreme pairwise differences cut from each end for the Moses interval.

    Uses the exact null distribution of U (``scipy.stats.mannwhitneyu`` machinery is not
    public, so the null is built by the standard recursion) for small designs and the normal
    approximation (no continuity correction) otherwise; returns the largest ``c`` with
    ``P(U <= c - 1) <= alpha / 2``, so the interval is ``[d_(c), d_(mn + 1 - c)]``.
    """
    m = n_a * n_b
    if m <= 2_500:
        # Frequencies of U for sizes (i, j) by f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u).
        freq = np.zeros((n_b + 1, m + 1))
        freq[:, 0] = 1.0
        for _ in range(n_a):
            new = np.zeros_like(freq)
            new[0, 0] = 1.0
            for j in range(1, n_b + 1):
                new[j, j:] += freq[j, : m + 1 - j]
                new[j] += new[j - 1]
            freq = new
        cdf = np.cumsum(freq[n_b]) / freq[n_b].sum()
        return int(np.searchsorted(cdf, alpha / 2 + 1e-12, side="right"))
    z = normal_multiplier(alpha)
    return max(int(np.floor(m / 2 - z * np.sqrt(m * (n_a + n_b + 1) / 12))) + 1, 0)


def rank_test(
    values, is_pilot, *, alternative: str = "two-sided", alpha: float = 0.05
) -> RankResult:
    """Mann-Whitney U test and Hodges-Lehmann shift on one value per site."""
    _check(alternative, alpha)
    a, b = _split(values, is_pilot)
    if a.size < 1 or b.size < 1 or a.size + b.size < 3:
        return _not_run(RankResult, "needs pilot and control sites", a, b, alternative, alpha)
    if np.ptp(np.concatenate([a, b])) == 0:
        return _not_run(RankResult, "the site outcome does not vary", a, b, alternative, alpha)
    test = stats.mannwhitneyu(a, b, alternative=_SCIPY_ALTERNATIVE[alternative])
    diffs = np.sort((a[:, None] - b[None, :]).ravel())
    effect = float(np.median(diffs))
    c = _moses_rank(a.size, b.size, alpha)
    if c >= 1:
        low, high = float(diffs[c - 1]), float(diffs[diffs.size - c])
    else:
        low, high = float("-inf"), float("inf")
    z = normal_multiplier(alpha)
    se = (high - low) / (2 * z) if np.isfinite(high - low) else float("nan")
    return RankResult(
        effect=effect,
        se=float(se),
        ci_low=low,
        ci_high=high,
        p_value=float(test.pvalue),
        u_statistic=float(test.statistic),
        alternative=alternative,
        alpha=alpha,
        n_pilot=int(a.size),
        n_control=int(b.size),
    )
