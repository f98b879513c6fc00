"""The estimate of a pilot randomized inside matched pairs (or triplets): pair fixed effects.

A design from :func:`analysis.pilot_design.design` draws the pilot at random inside each matched
group. The analysis follows the design: the site outcome ``y`` (the change, post-period mean
minus pre-period mean) is regressed on the pilot indicator and one dummy per group,

    y_i = b * pilot_i + a_group(i) + e_i,

and ``b`` is the pilot-minus-control difference **within** groups. With pairs ``b`` is the mean
of the paired differences; with triplets (one pilot, two controls) the mean of ``pilot - mean
of its controls``; with groups of mixed sizes, each group is weighted by ``k (n - k) / n``.

The standard error is CR1 clustered by group: ``V = G / (G - 1) * sum_g s_g^2 / (sum_i x_i^2)^2``
with ``x`` the within-group demeaned pilot indicator and ``s_g`` the group's score. The group
effects are nested in the clusters, so pyfixest's small-sample rule counts ``K = 1`` and the
factor ``(N - 1) / (N - K)`` is 1. The reference is t(G - 1) with ``G`` groups holding both
arms. With pairs this is exactly the paired t-test (``scipy.stats.ttest_rel``); with triplets it
is the one-sample t-test of the per-group contrasts. Groups holding one arm only (a site lost
its data) carry no information and are left out.

The randomization test of the same design -- the pilot permuted inside each group exactly as
it was drawn, ``2^P`` sign flips for ``P`` pairs -- is :func:`analysis.permutation.
permutation_test` with the groups as strata (``analysis.compare`` runs both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inference import ALTERNATIVES, check_alpha, t_interval, t_p_value
from analysis.results import EstimateMixin, failed_result

__all__ = ["PairedResult", "paired_effect"]


@dataclass(frozen=True, slots=True)
class PairedResult(EstimateMixin):
    """Pair fixed-effects estimate of a pilot randomized inside matched groups."""

    effect: float
    """Within-group pilot-minus-control difference of the site outcome (metric units)."""
    se: float
    """CR1 standard error clustered by group (``G / (G - 1)`` factor)."""
    ci_low: float
    """Lower end of the two-sided ``1 - alpha`` interval, t(G - 1)."""
    ci_high: float
    """Upper end of that interval."""
    p_value: float
    """p-value for ``alternative`` against t(G - 1)."""
    alternative: str
    """``"two-sided"``, ``"larger"`` or ``"smaller"``."""
    df: float
    """Degrees of freedom, ``G - 1``."""
    alpha: float
    """Level of the interval."""
    n_pairs: int
    """Groups holding both a pilot and a control site (``G``)."""
    n_pilot: int
    """Pilot sites in those groups."""
    n_control: int
    """Control sites in those groups."""
    method: str = (
        "pair fixed effects: site change on pilot + one dummy per matched group, CR1 SE "
        "clustered by group, t(G-1) (= paired t-test for pairs)"
    )
    """What was computed."""
    error: str | None = None
    """Why no estimate could be made."""

    _name = "Paired"
    _failed_name = "Paired (pair fixed effects)"

    def _details(self) -> str:
        return f" ({self.alternative}; {self.n_pairs} groups, t({self.df:g}))"


def paired_effect(
    values: np.ndarray,
    is_pilot: np.ndarray,
    groups: np.ndarray,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> PairedResult:
    """Pair fixed-effects estimate, CR1 by group, t(G - 1).

    Parameters
    ----------
    values
        One outcome per site (e.g. the change, post-period minus pre-period mean).
    is_pilot
        Boolean per site.
    groups
        Matched group label per site (a site with a missing label, or a non-finite outcome, is
        left out).
    alpha, alternative
        Level of the interval; ``"two-sided"``, ``"larger"`` or ``"smaller"``.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    check_alpha(alpha)
    y = np.asarray(values, dtype=float)
    z = np.asarray(is_pilot, dtype=bool)
    labels = np.asarray(groups, dtype=object)
    if not (y.shape == z.shape == labels.shape) or y.ndim != 1:
        raise ValueError("values, is_pilot and groups must be 1-d arrays of the same length")
    keep = np.isfinite(y) & ~pd.isna(labels)
    y, z = y[keep], z[keep]
    _, codes = np.unique(labels[keep].astype(str), return_inverse=True)
    pilots = np.bincount(codes, z.astype(float))
    sizes = np.bincount(codes).astype(float)
    informative = (pilots > 0) & (pilots < sizes)
    use = informative[codes]
    n_pairs = int(informative.sum())
    counts = dict(n_pairs=n_pairs, n_pilot=int(z[use].sum()), n_control=int((~z[use]).sum()))

    def failed(reason: str) -> PairedResult:
        return failed_result(PairedResult, reason, alternative=alternative, alpha=alpha, **counts)

    if n_pairs < 2:
        return failed("needs at least two matched groups holding both a pilot and a control site")
    y, z, codes = y[use], z[use].astype(float), codes[use]
    size = np.bincount(codes).astype(float)[codes]
    x = z - np.bincount(codes, z)[codes] / size
    yt = y - np.bincount(codes, y)[codes] / size
    sxx = float(x @ x)
    beta = float(x @ yt) / sxx
    scores = np.bincount(codes, x * (yt - beta * x))  # one score per group
    se = float(np.sqrt(n_pairs / (n_pairs - 1) * float(scores @ scores))) / sxx
    if not se > 0:
        return failed("the within-group differences do not vary")
    df = float(n_pairs - 1)
    low, high = t_interval(beta, se, df, alpha)
    return PairedResult(
        effect=beta,
        se=se,
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(t_p_value(beta / se, df, alternative)),
        alternative=alternative,
        df=df,
        alpha=alpha,
        **counts,
    )
