"""Randomization (permutation) inference over the assignment of sites to the pilot arm.

The statistic is the difference between pilot and control sites in the mean of a site-level
outcome; :func:`analysis.compare.compare` passes each site's change, post-period mean minus
pre-period mean, so the statistic is the difference-in-differences of site means with every
site weighted equally. With ``strata`` the assignment is permuted within strata and the
statistic is the stratum-size weighted average of the within-stratum differences (strata
holding only one arm carry no information and are left out).

Under the sharp null of no effect at any site, every assignment that the design could have
produced is equally likely, so the p-value is the share of assignments whose statistic is at
least as extreme as the observed one:

* when the design allows at most ``exact_limit`` (20,000) assignments they are all enumerated
  (exact p-value; the observed assignment is one of them);
* otherwise ``n_permutations`` assignments are drawn with a seeded ``numpy.random.Generator``
  and ``p = (1 + #extreme) / (1 + draws)``, which is never below the smallest valid value.

The confidence interval inverts the test under a constant additive effect: it spans the
effects ``d`` not rejected when ``d`` is subtracted from the pilot sites' outcomes (the hull
of that set, found on a grid and refined by bisection, with the same assignments); the reported
``se`` is the standard deviation of the permutation distribution (the randomization standard
error of the statistic under the null).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from analysis.inference import ALTERNATIVES, check_alpha
from analysis.results import ResultMixin, ci_text, failed_result

__all__ = ["PermutationResult", "check_n_permutations", "count_assignments", "permutation_test"]

EXACT_LIMIT = 20_000
_THIN_TO = 500


@dataclass(frozen=True, slots=True)
class PermutationResult(ResultMixin):
    """Randomization inference for a difference in site means."""

    effect: float
    """Observed statistic: (weighted) pilot mean minus control mean of the site outcome."""
    se: float
    """Standard deviation of the permutation distribution (randomization SE under the null)."""
    ci_low: float
    """Lower end of the ``1 - alpha`` interval from inverting the test (constant effect)."""
    ci_high: float
    """Upper end of that interval."""
    p_value: float
    """p-value for ``alternative``."""
    alternative: str
    """``"two-sided"``, ``"larger"`` (pilot above control) or ``"smaller"``."""
    p_two_sided: float
    """The two-sided p-value, whatever ``alternative`` is."""
    alpha: float
    """Level of the interval."""
    n_assignments: int
    """Assignments evaluated (all of them when exact, else the number of draws)."""
    n_possible: int
    """Assignments the design allows (product over strata of binomial coefficients)."""
    exact: bool
    """True when every possible assignment was enumerated."""
    min_p: float
    """Smallest p-value this design and method could produce (two-sided)."""
    n_pilot: int
    """Pilot sites used."""
    n_control: int
    """Control sites used."""
    n_strata: int
    """Strata that contribute (both arms present); 1 without strata."""
    seed: int | None
    """Seed of the random draws (``None`` when exact)."""
    statistic: str = "difference in mean site-level change (post - pre), pilot minus control"
    """What the statistic is."""
    distribution: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)
    """Statistic under every evaluated assignment (for plotting); thinned by ``to_dict``."""
    error: str | None = None
    """Why no test could be made."""

    def to_dict(self) -> dict:
        """JSON-ready dict; the distribution is thinned to at most 500 quantiles."""
        out = ResultMixin.to_dict(self)
        dist = np.sort(self.distribution)
        if dist.size > _THIN_TO:
            dist = np.quantile(dist, np.linspace(0, 1, _THIN_TO))
        out["distribution"] = [float(v) for v in dist]
        out["distribution_thinned"] = bool(self.distribution.size > _THIN_TO)
        return out

    def summary(self) -> str:
        """One line: estimate, interval, p-value and how it was obtained."""
        if self.error:
            return f"Permutation test: not run ({self.error})"
        how = (
            f"exact over all {self.n_assignments} assignments"
            if self.exact
            else f"{self.n_assignments} random assignments (seed {self.seed})"
        )
        ci = ci_text(self.alpha, self.ci_low, self.ci_high)
        return (
            f"Permutation effect {self.effect:.4g}, {ci}, p={self.p_value:.4f} "
            f"({self.alternative}; {how}; "
            f"smallest attainable p {self.min_p:.4g})"
        )


def count_assignments(is_pilot: np.ndarray, strata: np.ndarray | None = None) -> int:
    """Number of assignments with the same number of pilot sites in every stratum."""
    is_pilot = np.asarray(is_pilot, dtype=bool)
    labels = np.zeros(is_pilot.size, int) if strata is None else _labels(strata)
    total = 1
    for s in np.unique(labels):
        members = labels == s
        total *= math.comb(int(members.sum()), int(is_pilot[members].sum()))
    return total


def _labels(strata: np.ndarray) -> np.ndarray:
    _, codes = np.unique(np.asarray(strata).astype(str), return_inverse=True)
    return codes


def _failed(alpha: float, alternative: str, reason: str, n_pilot: int, n_control: int):
    return failed_result(
        PermutationResult,
        reason,
        alternative=alternative,
        alpha=alpha,
        exact=False,
        n_pilot=n_pilot,
        n_control=n_control,
        seed=None,
    )


def _enumerate(groups: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """Indicator matrix (assignments x sites) of every within-stratum assignment.

    The product over strata of each stratum's combinations, built with numpy (the first
    stratum varies slowest, as ``itertools.product`` orders them).
    """
    per_stratum = [
        np.array(list(itertools.combinations(members.tolist(), k)), dtype=int).reshape(-1, k)
        for members, k in groups
    ]
    choice = np.indices([len(c) for c in per_stratum]).reshape(len(per_stratum), -1)
    z = np.zeros((choice.shape[1], n), dtype=bool)
    rows = np.arange(choice.shape[1])[:, None]
    for combos, pick in zip(per_stratum, choice, strict=True):
        z[rows, combos[pick]] = True
    return z


def _draw(groups: list[tuple[np.ndarray, int]], n: int, draws: int, rng) -> np.ndarray:
    """Indicator matrix of ``draws`` random within-stratum assignments."""
    z = np.zeros((draws, n), dtype=bool)
    rows = np.arange(draws)[:, None]
    for members, k in groups:
        order = np.argsort(rng.random((draws, members.size)), axis=1)[:, :k]
        z[rows, members[order]] = True
    return z


def permutation_test(
    values: np.ndarray,
    is_pilot: np.ndarray,
    *,
    strata: np.ndarray | None = None,
    alternative: str = "two-sided",
    alpha: float = 0.05,
    n_permutations: int = 10_000,
    seed: int | None = 0,
    exact_limit: int = EXACT_LIMIT,
) -> PermutationResult:
    """Randomization test of pilot-minus-control difference in a site-level outcome.

    Parameters
    ----------
    values
        One outcome per site (e.g. post-period mean minus pre-period mean).
    is_pilot
        Boolean per site, the observed assignment.
    strata
        Optional stratum label per site; assignments are permuted within strata.
    alternative
        ``"two-sided"``, ``"larger"`` (pilot above control) or ``"smaller"``.
    n_permutations
        Random assignments drawn when the design has more than ``exact_limit`` of them
        (at least 1,000).
    seed
        Seed for :func:`numpy.random.default_rng`.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    check_alpha(alpha)
    check_n_permutations(n_permutations)
    y, z_obs, labels = _inputs(values, is_pilot, strata)
    n_pilot, n_control = int(z_obs.sum()), int((~z_obs).sum())
    if n_pilot == 0 or n_control == 0:
        return _failed(
            alpha, alternative, "needs at least one pilot and one control site", n_pilot, n_control
        )

    groups, coef, offset, weights = _linear_statistic(y, z_obs, labels)
    if not groups:
        return _failed(
            alpha, alternative, "no stratum holds both pilot and control sites", n_pilot, n_control
        )
    if np.ptp(y) == 0:
        return _failed(alpha, alternative, "the site outcome is constant", n_pilot, n_control)

    z, n_possible = _assignments(groups, y.size, exact_limit, n_permutations, seed)
    exact = n_possible <= exact_limit
    used_seed = None if exact else seed
    dist = z @ coef - offset
    observed = float(z_obs @ coef - offset)
    tol = 1e-9 * max(1.0, float(np.abs(dist).max()))
    p_at = _PValue(dist, observed, _lever(z, groups, weights, z_obs), tol, exact)
    p_two = p_at(0.0, "two-sided")
    extreme = np.count_nonzero(np.abs(dist) >= np.abs(dist).max() - tol)
    min_p = extreme / dist.size if exact else 1 / (1 + dist.size)
    spread = float(dist.std())
    low, high = _invert(p_at, observed, spread, alpha)
    return PermutationResult(
        effect=observed,
        se=spread,
        ci_low=low,
        ci_high=high,
        p_value=p_at(0.0, alternative),
        alternative=alternative,
        p_two_sided=p_two,
        alpha=alpha,
        n_assignments=int(dist.size),
        n_possible=int(n_possible),
        exact=exact,
        min_p=float(min_p),
        n_pilot=n_pilot,
        n_control=n_control,
        n_strata=len(groups),
        seed=used_seed,
        distribution=dist,
    )


def _assignments(
    groups: list[tuple[np.ndarray, int]],
    n: int,
    exact_limit: int,
    n_permutations: int,
    seed: int | None,
) -> tuple[np.ndarray, int]:
    """Every possible assignment when there are at most ``exact_limit``, else seeded draws.

    Returns the indicator matrix and the number of possible assignments.
    """
    n_possible = math.prod(math.comb(m.size, k) for m, k in groups)
    if n_possible <= exact_limit:
        return _enumerate(groups, n), n_possible
    return _draw(groups, n, n_permutations, np.random.default_rng(seed)), n_possible


def _inputs(
    values: np.ndarray, is_pilot: np.ndarray, strata: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcome, assignment and stratum codes of the sites with a finite outcome."""
    y = np.asarray(values, dtype=float)
    z_obs = np.asarray(is_pilot, dtype=bool)
    if y.shape != z_obs.shape or y.ndim != 1:
        raise ValueError("values and is_pilot must be 1-d arrays of the same length")
    labels = np.zeros(y.size, int) if strata is None else _labels(strata)
    if labels.shape != y.shape:
        raise ValueError("strata must have one label per site")
    keep = np.isfinite(y)
    return y[keep], z_obs[keep], labels[keep]


def check_n_permutations(n_permutations: int) -> None:
    """Raise ``ValueError`` unless at least 1,000 random assignments are asked for."""
    if n_permutations < 1000:
        raise ValueError(f"n_permutations must be at least 1000, got {n_permutations}")


def _linear_statistic(
    y: np.ndarray, z_obs: np.ndarray, labels: np.ndarray
) -> tuple[list[tuple[np.ndarray, int]], np.ndarray, float, list[float]]:
    """The statistic is linear in the assignment: ``T(z) = z @ coef - offset``.

    Returns the informative strata (members, pilot count), ``coef``, ``offset`` and the
    stratum weights (share of the sites in informative strata).
    """
    groups, coef, offset, weights = [], np.zeros(y.size), 0.0, []
    informative = [
        s for s in np.unique(labels) if 0 < z_obs[labels == s].sum() < (labels == s).sum()
    ]
    total = sum(int((labels == s).sum()) for s in informative)
    for s in informative:
        members = np.flatnonzero(labels == s)
        n_s, k_s = members.size, int(z_obs[members].sum())
        w = n_s / total
        coef[members] = w * y[members] * (1 / k_s + 1 / (n_s - k_s))
        offset += w * y[members].sum() / (n_s - k_s)
        groups.append((members, k_s))
        weights.append(w)
    return groups, coef, offset, weights


def _lever(
    z: np.ndarray, groups: list[tuple[np.ndarray, int]], weights: list[float], z_obs: np.ndarray
) -> np.ndarray:
    """Shifting the pilot outcomes by d moves each statistic by d * lever (lever_obs == 1)."""
    lever_coef = np.zeros(z_obs.size)
    lever_offset = 0.0
    for (members, k_s), w in zip(groups, weights, strict=True):
        n_s = members.size
        lever_coef[members] = w * z_obs[members] * (1 / k_s + 1 / (n_s - k_s))
        lever_offset += w * k_s / (n_s - k_s)
    return z @ lever_coef - lever_offset


@dataclass(frozen=True, slots=True)
class _PValue:
    """p-value of the hypothesis "the effect is ``delta``" over the evaluated assignments."""

    dist: np.ndarray
    observed: float
    lever: np.ndarray
    tol: float
    exact: bool

    def __call__(self, delta: float, kind: str) -> float:
        shifted, obs = self.dist - delta * self.lever, self.observed - delta
        if kind == "two-sided":
            hits = np.count_nonzero(np.abs(shifted) >= abs(obs) - self.tol)
        elif kind == "larger":
            hits = np.count_nonzero(shifted >= obs - self.tol)
        else:
            hits = np.count_nonzero(shifted <= obs + self.tol)
        size = self.dist.size
        return hits / size if self.exact else (1 + hits) / (1 + size)


def _invert(p_at, estimate: float, spread: float, alpha: float) -> tuple[float, float]:
    """Hull of ``{d : p(d) > alpha}``: a grid scan, then bisection at both outer edges.

    The two-sided p-value is not always monotone in ``d`` away from the estimate, so the
    acceptance set is scanned on a 401-point grid (widened until both ends are rejected) and
    the outermost accepted grid points are refined by bisection against their rejected
    neighbours. Returns ``(-inf, inf)`` when no shift is ever rejected (too few assignments
    for ``alpha``) and NaN when none is accepted.
    """
    half = 4 * max(spread, 1e-12 * max(1.0, abs(estimate)))
    for _ in range(40):
        grid = np.linspace(estimate - half, estimate + half, 401)
        accepted = np.array([p_at(d, "two-sided") > alpha for d in grid])
        if not accepted[0] and not accepted[-1]:
            break
        half *= 2
    else:
        return float("-inf"), float("inf")
    inside = np.flatnonzero(accepted)
    if inside.size == 0:
        return float("nan"), float("nan")

    def refine(good: float, bad: float) -> float:
        for _ in range(60):
            mid = (good + bad) / 2
            if p_at(mid, "two-sided") > alpha:
                good = mid
            else:
                bad = mid
        return good

    low = refine(grid[inside[0]], grid[inside[0] - 1])
    high = refine(grid[inside[-1]], grid[inside[-1] + 1])
    return float(low), float(high)
