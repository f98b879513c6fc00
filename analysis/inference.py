"""The t and normal pieces every estimator shares: p-values, critical values and intervals.

statsmodels vocabulary: ``alpha`` is the level (an interval covers ``1 - alpha``) and
``alternative`` is ``"two-sided"``, ``"larger"`` (the estimate is above zero) or ``"smaller"``.
Every function takes scalars or numpy arrays and returns what :mod:`scipy.stats` returns.

Two quantile conventions are kept apart, as statsmodels keeps them, so that every number the
package reported before this module existed stays the same to the last bit:

* the multiplier of a two-sided interval, :func:`t_multiplier` / :func:`normal_multiplier`
  (and :func:`t_interval` / :func:`normal_interval` built on it), is the lower-tail quantile
  ``ppf(1 - alpha / 2)``, as in statsmodels' ``_tconfint_generic`` and ``_zconfint_generic``;
* the critical value of a test, :func:`t_critical` / :func:`normal_critical`, is the upper-tail
  quantile ``isf(alpha / 2)`` (``isf(alpha)`` one-sided), as in statsmodels' power classes;
  it stays accurate for a very small ``alpha``.

The two agree to about 1e-13 (relative).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "ALTERNATIVES",
    "check_alpha",
    "normal_critical",
    "normal_interval",
    "normal_multiplier",
    "t_critical",
    "t_interval",
    "t_multiplier",
    "t_p_value",
    "z_from_t",
]

ALTERNATIVES = ("two-sided", "larger", "smaller")
"""The values of ``alternative``."""


def check_alpha(alpha: float) -> None:
    """Raise ``ValueError`` unless ``0 < alpha < 1``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def _tail(alpha, alternative: str):
    """Probability in the rejection tail: ``alpha / 2`` two-sided, else ``alpha``."""
    if alternative == "two-sided":
        return alpha / 2
    if alternative in ("larger", "smaller"):
        return alpha
    raise ValueError(f"alternative must be two-sided, larger or smaller, got {alternative!r}")


def t_p_value(t, df, alternative: str = "two-sided"):
    """p-value of the statistic ``t`` against a t distribution with ``df`` degrees of freedom.

    ``"two-sided"``: ``2 P(T >= |t|)``; ``"larger"``: ``P(T >= t)``; ``"smaller"``:
    ``P(T <= t)``. Raises ``ValueError`` for another ``alternative``.
    """
    if alternative == "two-sided":
        return 2 * stats.t.sf(np.abs(t), df)
    if alternative == "larger":
        return stats.t.sf(t, df)
    if alternative == "smaller":
        return stats.t.cdf(t, df)
    raise ValueError(f"alternative must be two-sided, larger or smaller, got {alternative!r}")


def z_from_t(t, df):
    """The standard normal value with the same tail probability as ``t`` under t(``df``).

    ``sign(t) * Phi^-1(1 - F_t(|t|; df))``, computed on the far tail for accuracy: a t
    statistic put on the z scale (e.g. for normal-theory sequential boundaries).
    """
    z = stats.norm.isf(stats.t.sf(np.abs(t), df))
    return np.where(t >= 0, z, -z)


def t_critical(df, alpha=0.05, alternative: str = "two-sided"):
    """Critical value ``c > 0`` of a t(``df``) test at level ``alpha``: ``isf(alpha / 2, df)``.

    Reject when ``|t| >= c`` (two-sided), ``t >= c`` (larger) or ``t <= -c`` (smaller); the
    one-sided ``c`` is ``isf(alpha, df)``.
    """
    return stats.t.isf(_tail(alpha, alternative), df)


def normal_critical(alpha=0.05, alternative: str = "two-sided"):
    """Critical value ``c > 0`` of a z test at level ``alpha`` (as :func:`t_critical`)."""
    return stats.norm.isf(_tail(alpha, alternative))


def t_multiplier(df, alpha=0.05):
    """``q = ppf(1 - alpha / 2, df)``: a two-sided ``1 - alpha`` interval is ``est +/- q se``."""
    return stats.t.ppf(1 - alpha / 2, df)


def normal_multiplier(alpha=0.05):
    """``q = Phi^-1(1 - alpha / 2)``: a two-sided ``1 - alpha`` interval is ``est +/- q se``."""
    return stats.norm.ppf(1 - alpha / 2)


def t_interval(estimate, se, df, alpha=0.05):
    """Two-sided ``1 - alpha`` interval ``(low, high)`` of ``estimate`` with t(``df``)."""
    q = t_multiplier(df, alpha)
    return estimate - q * se, estimate + q * se


def normal_interval(estimate, se, alpha=0.05):
    """Two-sided ``1 - alpha`` Wald interval ``(low, high)`` of ``estimate``."""
    q = normal_multiplier(alpha)
    return estimate - q * se, estimate + q * se
