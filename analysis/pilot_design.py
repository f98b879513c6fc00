"""Designing a pilot: choose the pool first, then pair, then randomize (issue 19).

Picking the sites where the problem is worst as pilots and looking for controls among the
rest cannot balance: the pilots are the extremes, the controls are milder, and the pilots
drift back on their own (regression to the mean). Field trials instead:

1. **Pool.** The eligible pool is the set of sites where the problem is present: the worst
   ``pool_share`` of sites on the problem metric's pre-period level (``problem="high"``: the
   highest levels), or every site past ``threshold``, minus the sites in ``exclude``. Sites
   without history for the metric, or without a value of a ``match`` attribute, are left out.
2. **Pairs.** Inside the pool, sites are grouped in pairs (``ratio=1``) or triplets
   (``ratio=2``, one pilot and two controls), matched on the standardized pre-period **level**
   (mean) and **trend** (OLS slope per day) of the problem metric and on the numeric ``match``
   attributes (squared Euclidean distance, each covariate scaled by its SD in the pool).
   Categorical ``match`` attributes (e.g. ``region``) are matched **exactly, always**: a group
   never spans two regions. The groups minimize the total within-group squared distance
   (squared distances are the variance a random assignment inside a group adds to the arms'
   difference, so their sum is what balance depends on). They are found by **optimal
   non-bipartite matching** posed as an integer program over candidate groups (scipy's
   HiGHS ``milp``): every within-stratum pair (triplet) while a stratum has at most 40 (18)
   pool sites, else each site with its nearest neighbours. On small seeded instances it equals
   brute-force enumeration of every matching (``tests/analysis_design/test_design.py``). If
   the solver gives up, a greedy-then-improve search (closest groups first, then swaps while
   the total falls) is used. The groups are the closest the pool allows, wherever they are: a
   region without a close pair gets none.
3. **Randomize.** One site of each group becomes the pilot, uniformly at random, with a
   seeded :func:`numpy.random.default_rng`. Pilot and control sites then come from the same
   extreme pool, so regression to the mean affects both arms alike and cancels in the
   comparison. Analyse the pilot with its pairs (``compare(..., pairs=...)``): the
   permutation test flips the assignment inside each group exactly as it was drawn.
4. **Volume at risk.** With ``max_volume_share``, the pilot arm's share of the total
   ``volume_column`` of all sites must stay under the cap. The pool's largest sites are left
   out (one at a time, re-matching each time) until *every* possible assignment stays under
   the cap, so the randomization stays unrestricted. If no such set of groups exists, the
   assignment is re-drawn inside the groups until it fits (seeded; the within-group
   permutation test is then approximate) or, failing that, the largest groups are dropped; the
   ``warnings`` say which.

The result carries a balance table (pilot and control means and the standardized mean
difference of every characteristic), the characteristics with ``|SMD| > 0.25`` with a reason
code and the fixes that were tried and work (``widen_pool``, ``fewer_pilots``,
``drop_match``; each re-runs the design with the same seed and is kept only when the re-run
balances the characteristic), and, when the pool cannot supply ``n_pilots * (1 + ratio)``
sites in whole groups, a ``shortfall`` with its fixes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from analysis.diagnostics import BALANCE_THRESHOLD, balance
from analysis.results import Reason, ResultMixin, make_reason
from analysis.selection import _history_frame, _level_and_trend, _metric_rows, _site_frame

__all__ = [
    "BalanceEntry",
    "DesignResult",
    "Fix",
    "Imbalance",
    "Shortfall",
    "design",
    "design_balance",
]

DEFAULT_POOL_SHARE = 0.5
"""Pool share used when neither ``pool_share`` nor ``threshold`` is given."""
POOL_LADDER = (0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)
"""Pool shares tried, smallest first, when a wider pool is looked for."""
_MAX_PASSES = 50
_EXACT_ASSIGNMENTS = 4096
_REDRAWS = 1000


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class BalanceEntry(ResultMixin):
    """Balance of one characteristic between the pilot and control sites."""

    name: str
    """``"<metric> level"``, ``"<metric> trend"``, a numeric attribute, or ``attr=level``."""
    kind: str
    """``"level"``, ``"trend"``, ``"attribute"`` (numeric) or ``"category"`` (share of sites)."""
    pilot: float
    """Mean over the pilot sites (share for a category)."""
    control: float
    """Mean over the control sites."""
    smd: float
    """Standardized mean difference ``(pilot - control) / sqrt((var_p + var_c) / 2)``."""
    flagged: bool
    """``|smd|`` above the threshold (0.25)."""


@dataclass(frozen=True, slots=True)
class Fix(ResultMixin):
    """A change of the design's inputs that was tried and works (one click in the app)."""

    code: str
    """``"widen_pool"``, ``"fewer_pilots"`` or ``"drop_match"``."""
    params: dict[str, Any]
    """The new input: ``{"pool_share": x}`` or ``{"threshold": t}``, ``{"n_pilots": k}``,
    ``{"attribute": name}``."""
    text: str
    """English sentence (the app translates by ``code`` and ``params``)."""
    balances_all: bool = True
    """Whether the re-run design balances every characteristic, not only the one at issue."""


@dataclass(frozen=True, slots=True)
class Imbalance(ResultMixin):
    """A characteristic the design could not balance, why, and the fixes that would."""

    name: str
    """The characteristic (a balance entry's ``name``)."""
    smd: float
    """Its standardized mean difference."""
    reason: Reason
    """``pairs_not_close`` (the pool has too few sites alike in it) or ``chance`` (the groups
    are close, the random draw put higher values in one arm); ``params`` carry the numbers."""
    fixes: tuple[Fix, ...]
    """Fixes verified by re-running the design (possibly empty: see ``reason``)."""


@dataclass(frozen=True, slots=True)
class Shortfall(ResultMixin):
    """The pool cannot supply the requested groups."""

    needed: int
    """Sites needed: ``n_pilots * (1 + ratio)``."""
    available: int
    """Sites in whole groups the pool can supply (exact strata respected)."""
    reason: Reason
    """Code ``pool_too_small`` with the numbers."""
    fixes: tuple[Fix, ...]
    """Changes that make the pool large enough."""


@dataclass(frozen=True, slots=True)
class DesignResult(ResultMixin):
    """A pilot design: pool, matched groups, seeded assignment and its balance."""

    pilot_sites: tuple[str, ...]
    """Pilot sites (one per group)."""
    control_sites: tuple[str, ...]
    """Control sites."""
    pairs: tuple[tuple[str, ...], ...]
    """The matched groups, pilot first (pairs, or triplets for ``ratio=2``)."""
    seed: int
    """Seed of the assignment inside the groups."""
    balance: tuple[BalanceEntry, ...]
    """One entry per characteristic: problem metric level and trend, every ``match`` attribute
    (categorical ones per level)."""
    warnings: tuple[str, ...]
    """What the design had to give up (volume cap, small pool, sites left out)."""
    pool: tuple[str, ...]
    """Eligible sites (problem present, minus exclusions), worst first."""
    unbalanced: tuple[Imbalance, ...]
    """Characteristics with ``|smd|`` above the threshold, with reasons and fixes."""
    shortfall: Shortfall | None
    """Set when the pool cannot supply ``n_pilots * (1 + ratio)`` sites in whole groups."""
    n_pilots_requested: int
    """Pilot sites asked for (``len(pilot_sites)`` may be smaller, see ``warnings``)."""
    ratio: int
    """Controls per pilot: 1 (pairs) or 2 (triplets)."""
    problem_metric: str
    """Metric of the history that shows the problem."""
    problem: str
    """``"high"`` or ``"low"``: which end of the metric is the problem."""
    match: tuple[str, ...]
    """Attributes matched on (besides the level and trend)."""
    pool_rule: dict[str, Any]
    """``{"pool_share": x}`` or ``{"threshold": t}`` and ``exclude``."""
    group_distances: tuple[float, ...]
    """Within-group squared standardized distance of each group (same order as ``pairs``)."""
    volume_share: float | None
    """Pilot arm's share of the total volume (``None`` without a volume column)."""
    max_volume_share: float | None
    """The cap on that share, if any."""
    threshold: float = BALANCE_THRESHOLD
    """``|SMD|`` above which a characteristic is unbalanced."""
    method: str = (
        "pool (problem present) -> groups matched on level, trend and match attributes "
        "(categorical exactly; optimal non-bipartite matching by integer programming) -> seeded "
        "random assignment inside each group"
    )
    """How the design was made."""
    error: str | None = None
    """Why no design could be made (then the site lists are empty)."""

    @property
    def pair_column(self) -> dict[str, int]:
        """``site_id -> group number`` (1-based), ready for a ``pair`` column of SITES."""
        return {sid: k for k, group in enumerate(self.pairs, start=1) for sid in group}

    def sites_frame(self) -> pd.DataFrame:
        """``site_id, arm, pair`` of the designed sites: the SITES input of ``compare``."""
        rows = [
            (sid, "pilot" if j == 0 else "control", k)
            for k, group in enumerate(self.pairs, start=1)
            for j, sid in enumerate(group)
        ]
        return pd.DataFrame(rows, columns=["site_id", "arm", "pair"])

    def summary(self) -> str:
        """The pool, the groups, the balance table, what is unbalanced and why."""
        if self.error:
            return f"Pilot design: none ({self.error})" + "".join(
                f"\n  fix: {f.text}" for f in (self.shortfall.fixes if self.shortfall else ())
            )
        kind = "pairs" if self.ratio == 1 else "triplets (1 pilot : 2 controls)"
        lines = [
            f"Pilot design for {self.problem_metric} ({self.problem} is the problem): "
            f"{len(self.pairs)} {kind} from a pool of {len(self.pool)} sites, seed {self.seed}.",
        ]
        for group, dist in zip(self.pairs, self.group_distances, strict=True):
            lines.append(
                f"  pilot {group[0]} | control {', '.join(group[1:])}  (distance {dist:.2f})"
            )
        lines.append(f"Balance (|SMD| > {self.threshold} flagged):")
        lines += [
            f"  {b.name:<28} pilot {b.pilot:>10.4g}  control {b.control:>10.4g}  "
            f"SMD {b.smd:+.2f}{'  <-- unbalanced' if b.flagged else ''}"
            for b in self.balance
        ]
        for item in self.unbalanced:
            lines.append(f"Unbalanced {item.name}: {item.reason.text}")
            lines += [f"  fix: {f.text}" for f in item.fixes]
        if self.shortfall:
            lines.append(self.shortfall.reason.text)
            lines += [f"  fix: {f.text}" for f in self.shortfall.fixes]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Validated inputs of :func:`design` (what a fix changes is re-validated by ``replace``)."""

    n_pilots: int
    problem: str
    match: tuple[str, ...]
    pool_share: float | None
    threshold: float | None
    exclude: tuple[str, ...]
    ratio: int
    max_volume_share: float | None
    volume_column: str | None
    seed: int


@dataclass(frozen=True, slots=True)
class _Registry:
    """Per-site covariates of the whole registry."""

    covs: pd.DataFrame
    """Index ``site_id``: ``<metric> level``, ``<metric> trend`` and the match attributes."""
    numeric: tuple[str, ...]
    """Covariates matched by distance (level, trend, numeric match attributes)."""
    categorical: tuple[str, ...]
    """Match attributes matched exactly."""
    volume: pd.Series | None
    """Volume per site (all sites), when a volume column is used."""
    metric: str
    notes: tuple[str, ...]


def _check_inputs(frame: pd.DataFrame, **kw: Any) -> _Inputs:
    """Check the arguments of :func:`design` (``ValueError`` naming the problem)."""
    n = kw["n_pilots"]
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n_pilots must be a whole number of at least 1, got {n!r}")
    if kw["problem"] not in ("high", "low"):
        raise ValueError(f"problem must be 'high' or 'low', got {kw['problem']!r}")
    if kw["ratio"] not in (1, 2):
        raise ValueError(f"ratio must be 1 (pairs) or 2 (triplets), got {kw['ratio']!r}")
    match = tuple(dict.fromkeys([kw["match"]] if isinstance(kw["match"], str) else kw["match"]))
    missing = [c for c in match if c not in frame.columns]
    if missing:
        raise ValueError(f"sites has no column(s) {missing} to match on")
    share, threshold = kw["pool_share"], kw["threshold"]
    if share is not None and threshold is not None:
        raise ValueError("give pool_share or threshold, not both")
    if share is not None and not (isinstance(share, float | int) and 0 < share <= 1):
        raise ValueError(f"pool_share must lie in (0, 1], got {share!r}")
    if threshold is not None and not (
        isinstance(threshold, float | int) and np.isfinite(threshold)
    ):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    if share is None and threshold is None:
        share = DEFAULT_POOL_SHARE
    exclude = [kw["exclude"]] if isinstance(kw["exclude"], str) else list(kw["exclude"])
    exclude = tuple(dict.fromkeys(str(s).strip() for s in exclude))
    unknown = sorted(set(exclude) - set(frame.index))
    if unknown:
        raise ValueError(f"exclude lists unknown site id(s) {unknown}")
    cap, volume = kw["max_volume_share"], kw["volume_column"]
    if cap is not None and not (isinstance(cap, float | int) and 0 < cap <= 1):
        raise ValueError(f"max_volume_share must lie in (0, 1], got {cap!r}")
    if cap is not None and volume is None:
        if "volume" not in frame.columns:
            raise ValueError("max_volume_share needs volume_column (sites has no 'volume')")
        volume = "volume"
    if volume is not None and volume not in frame.columns:
        raise ValueError(f"sites has no volume column {volume!r}")
    if volume is not None and not pd.api.types.is_numeric_dtype(frame[volume]):
        raise ValueError(f"volume column {volume!r} must be numeric")
    return _Inputs(
        int(n),
        kw["problem"],
        match,
        share,
        threshold,
        exclude,
        kw["ratio"],
        cap,
        volume,
        int(kw["seed"]),
    )


def _registry(frame: pd.DataFrame, history: pd.DataFrame, metric: str, ask: _Inputs) -> _Registry:
    """Level and trend of ``metric`` per site, the match attributes and the volume."""
    hist = _history_frame(history)
    level, trend = _level_and_trend(_metric_rows(hist, metric))
    covs = pd.DataFrame(index=frame.index)
    covs[f"{metric} level"] = level.reindex(frame.index)
    covs[f"{metric} trend"] = trend.reindex(frame.index)
    numeric = [f"{metric} level", f"{metric} trend"]
    categorical = []
    for col in ask.match:
        values = frame[col]
        is_num = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        covs[col] = values.astype(float) if is_num else values.astype("string")
        (numeric if is_num else categorical).append(col)
    notes = []
    no_history = int(covs[numeric[0]].isna().sum())
    if no_history:
        notes.append(f"{no_history} site(s) without {metric} history cannot be in the pool")
    incomplete = int((covs.isna().any(axis=1) & covs[numeric[0]].notna()).sum())
    if incomplete:
        notes.append(f"{incomplete} site(s) lack a match attribute or a trend and were left out")
    volume = None
    if ask.volume_column is not None:
        volume = frame[ask.volume_column].astype(float).fillna(0.0)
    return _Registry(covs, tuple(numeric), tuple(categorical), volume, metric, tuple(notes))


def _pool(reg: _Registry, ask: _Inputs) -> list[str]:
    """Sites where the problem is present, worst first, minus the exclusions."""
    complete = reg.covs.dropna()
    level = complete[f"{reg.metric} level"]
    ordered = level.sort_values(ascending=ask.problem == "low", kind="stable")
    if ask.threshold is not None:
        present = ordered >= ask.threshold if ask.problem == "high" else ordered <= ask.threshold
        chosen = list(ordered.index[present.to_numpy()])
    else:
        chosen = list(ordered.index[: max(1, math.ceil(ask.pool_share * len(ordered) - 1e-9))])
    excluded = set(ask.exclude)
    return [s for s in chosen if s not in excluded]


# --------------------------------------------------------------------------------------------
# Matching


def _group_cost(d2: np.ndarray, group: Sequence[int]) -> float:
    """Sum of the squared distances between the members of a group."""
    return float(sum(d2[a, b] for i, a in enumerate(group) for b in group[i + 1 :]))


def _greedy_groups(d2: np.ndarray, k: int, size: int) -> list[list[int]]:
    """``k`` disjoint groups of ``size``: closest pair first, triplets add the nearest third.

    For triplets the 200 closest free pairs are each completed with their nearest free third
    and the cheapest triplet is taken.
    """
    n = d2.shape[0]
    used = np.zeros(n, bool)
    groups: list[list[int]] = []
    upper = np.triu(np.ones((n, n), bool), 1)
    for _ in range(k):
        free = ~used
        cost = np.where(upper & free[:, None] & free[None, :], d2, np.inf)
        if size == 2:
            flat = int(np.argmin(cost))
            if not np.isfinite(cost.flat[flat]):
                break
            group = list(divmod(flat, n))
        else:
            group = _best_triplet(d2, cost, free)
            if group is None:
                break
        used[group] = True
        groups.append(group)
    return groups


def _best_triplet(d2: np.ndarray, pair_cost: np.ndarray, free: np.ndarray) -> list[int] | None:
    """The cheapest triplet among the 200 closest free pairs and their nearest free third."""
    n = d2.shape[0]
    finite = int(np.isfinite(pair_cost).sum())
    if finite == 0 or free.sum() < 3:
        return None
    m = min(200, finite)
    flat = np.argpartition(pair_cost, m - 1, axis=None)[:m]
    i, j = np.divmod(flat, n)
    third = np.where(free[None, :], d2[i] + d2[j], np.inf)
    third[np.arange(m), i] = np.inf
    third[np.arange(m), j] = np.inf
    best_l = third.argmin(axis=1)
    total = pair_cost.flat[flat] + third[np.arange(m), best_l]
    c = int(np.argmin(total))
    if not np.isfinite(total[c]):
        return None
    return [int(i[c]), int(j[c]), int(best_l[c])]


def _improve(d2: np.ndarray, groups: list[list[int]]) -> list[list[int]]:
    """Local search: swap a member for an unused site, or exchange members of two groups,
    while the total within-group squared distance falls (at most ``_MAX_PASSES`` passes)."""
    n = d2.shape[0]
    for _ in range(_MAX_PASSES):
        improved = False
        used = {s for g in groups for s in g}
        unused = [s for s in range(n) if s not in used]
        for g in groups:
            for pos in range(len(g)):
                others = [s for q, s in enumerate(g) if q != pos]
                now = sum(d2[g[pos], o] for o in others)
                if not unused:
                    break
                cand = np.array(unused)
                alt = d2[np.ix_(cand, others)].sum(axis=1)
                best = int(np.argmin(alt))
                if alt[best] < now - 1e-12:
                    unused[best], g[pos] = g[pos], int(cand[best])
                    improved = True
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                improved |= _exchange(d2, groups[a], groups[b])
        if not improved:
            break
    return groups


def _exchange(d2: np.ndarray, g: list[int], h: list[int]) -> bool:
    """Swap one member of ``g`` with one of ``h`` when that lowers their total cost."""
    before = _group_cost(d2, g) + _group_cost(d2, h)
    for p in range(len(g)):
        for q in range(len(h)):
            g[p], h[q] = h[q], g[p]
            if _group_cost(d2, g) + _group_cost(d2, h) < before - 1e-12:
                return True
            g[p], h[q] = h[q], g[p]
    return False


_ALL_PAIRS_UP_TO = 40
_ALL_TRIPLETS_UP_TO = 18
_NEIGHBOURS = {2: 20, 3: 12}


def _candidate_groups(d2: np.ndarray, size: int) -> np.ndarray:
    """Candidate groups (rows of site indices) with a finite cost.

    Every pair (triplet) when there are at most 40 (18) sites; otherwise each site with its
    nearest neighbours (20 for pairs; every pair among the 12 nearest for triplets), which
    holds every group a minimum-cost matching plausibly uses.
    """
    n = d2.shape[0]
    if n <= (_ALL_PAIRS_UP_TO if size == 2 else _ALL_TRIPLETS_UP_TO):
        groups = np.array(list(itertools.combinations(range(n), size)), dtype=int)
    else:
        near = np.argsort(d2 + np.diag(np.full(n, np.inf)), axis=1)[:, : _NEIGHBOURS[size]]
        rows = set()
        for i in range(n):
            for others in itertools.combinations(near[i].tolist(), size - 1):
                rows.add(tuple(sorted((i, *others))))
        groups = np.array(sorted(rows), dtype=int)
    if groups.size == 0:
        return groups.reshape(0, size)
    cost = _costs(d2, groups)
    return groups[np.isfinite(cost)]


def _costs(d2: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Within-group sum of squared distances of each candidate group."""
    return sum(
        d2[groups[:, a], groups[:, b]] for a, b in itertools.combinations(range(groups.shape[1]), 2)
    )


def _optimal_groups(d2: np.ndarray, k: int, size: int) -> list[list[int]] | None:
    """``k`` disjoint candidate groups of least total cost, by integer programming (HiGHS).

    Minimize ``sum_g cost_g x_g`` subject to ``sum_{g containing i} x_g <= 1`` for every site
    and ``sum_g x_g = k``, ``x_g`` in {0, 1}. ``None`` when the solver gives up (then the
    greedy-then-improve search is used). HiGHS's presolve is off: for 1,000 sites and 100
    pairs in 8 strata, 11 solves took 17.9 s together without it and 41.5 s with it (single
    solves 0.3-3.9 s against 0.6-9.1 s, a few a little slower), each ending with the same
    groups, proven optimal (tested against the solve with presolve).
    """
    groups = _candidate_groups(d2, size)
    if len(groups) < k:
        return None
    n = d2.shape[0]
    cost = _costs(d2, groups)
    rows = np.concatenate([groups.ravel(), np.full(len(groups), n)])
    cols = np.concatenate([np.repeat(np.arange(len(groups)), size), np.arange(len(groups))])
    a = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(n + 1, len(groups)))
    upper = np.append(np.ones(n), k)
    lower = np.append(np.zeros(n), k)
    res = optimize.milp(
        cost / max(float(cost.max()), 1e-300),
        constraints=optimize.LinearConstraint(a, lower, upper),
        integrality=np.ones(len(groups)),
        bounds=optimize.Bounds(0, 1),
        options={"time_limit": 20.0, "presolve": False},
    )
    if res.status != 0 or res.x is None:
        return None
    chosen = groups[res.x > 0.5]
    return [list(map(int, g)) for g in chosen] if len(chosen) == k else None


def match_groups(
    values: np.ndarray, k: int, size: int = 2, strata: np.ndarray | None = None
) -> list[list[int]]:
    """``k`` disjoint groups of ``size`` rows of ``values`` (standardized covariates).

    Minimum total within-group squared Euclidean distance: optimal by integer programming over
    the candidate groups (:func:`_optimal_groups`), with greedy-then-improve as the fallback.
    Rows of different ``strata`` are never grouped. Returns row indices, each group and the
    list sorted.
    """
    diff = values[:, None, :] - values[None, :, :]
    d2 = (diff**2).sum(axis=2)
    if strata is not None:
        labels = np.asarray(strata, dtype=str)
        d2 = np.where(labels[:, None] == labels[None, :], d2, np.inf)
    groups = _optimal_groups(d2, k, size) if k > 0 else []
    if groups is None:
        groups = _improve(d2, _greedy_groups(d2, k, size))
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


def _strata(reg: _Registry, pool: list[str]) -> pd.Series:
    """The exact-match stratum of every pool site (one stratum without categorical match)."""
    if not reg.categorical:
        return pd.Series("all", index=pool)
    columns = [reg.covs.loc[pool, c].astype(str) for c in reg.categorical]
    label = columns[0]
    for more in columns[1:]:
        label = label + " / " + more
    return label


def _match_pool(reg: _Registry, pool: list[str], n_groups: int, size: int) -> list[list[str]]:
    """The ``n_groups`` closest groups inside the pool, never across exact strata."""
    if not pool or n_groups == 0:
        return []
    numeric = reg.covs.loc[pool, list(reg.numeric)].astype(float)
    sd = numeric.std(ddof=1).fillna(0.0)
    z = (numeric - numeric.mean()) / sd.where(sd > 0, 1.0)
    rows = match_groups(z.to_numpy(), n_groups, size, _strata(reg, pool).to_numpy(dtype=str))
    return [[pool[i] for i in g] for g in rows]


def _capacity(reg: _Registry, pool: list[str], size: int) -> int:
    """How many whole groups the pool can supply, strata respected."""
    return int((_strata(reg, pool).value_counts() // size).sum()) if pool else 0


# --------------------------------------------------------------------------------------------
# Volume and assignment


def _fit_volume_cap(
    reg: _Registry, ask: _Inputs, pool: list[str], n_groups: int, notes: list[str]
) -> tuple[list[list[str]], list[str]]:
    """Groups whose every assignment keeps the pilot volume under the cap, if possible.

    Leaves out the largest site of the current groups and re-matches until the largest
    member of each group sums to at most the cap (the worst assignment) or the pool runs out.
    """
    size = 1 + ask.ratio
    groups = _match_pool(reg, pool, n_groups, size)
    if ask.max_volume_share is None or reg.volume is None:
        return groups, pool
    cap = ask.max_volume_share * float(reg.volume.sum())
    dropped: list[str] = []
    current = list(pool)
    while groups and sum(reg.volume[g].max() for g in groups) > cap + 1e-9:
        biggest = max((s for g in groups for s in g), key=lambda s: (reg.volume[s], s))
        trial = [s for s in current if s != biggest]
        if _capacity(reg, trial, size) < len(groups):
            break
        current, dropped = trial, [*dropped, biggest]
        groups = _match_pool(reg, current, len(groups), size)
    if dropped:
        notes.append(
            f"{len(dropped)} large site(s) ({', '.join(dropped)}) were left out of the pool so "
            f"that any random assignment keeps the pilot arm within {ask.max_volume_share:.0%} "
            "of the total volume"
        )
    return groups, current


def _assign(
    reg: _Registry, ask: _Inputs, groups: list[list[str]], notes: list[str]
) -> list[list[str]]:
    """Seeded random pilot inside each group (pilot first); re-drawn or trimmed for the cap."""
    rng = np.random.default_rng(ask.seed)

    def draw() -> list[list[str]]:
        picks = rng.integers(0, [len(g) for g in groups]) if groups else []
        return [
            [g[p], *[s for q, s in enumerate(g) if q != p]]
            for g, p in zip(groups, picks, strict=True)
        ]

    assigned = draw()
    if ask.max_volume_share is None or reg.volume is None or not groups:
        return assigned
    cap = ask.max_volume_share * float(reg.volume.sum())

    def pilot_volume(a: list[list[str]]) -> float:
        return float(sum(reg.volume[g[0]] for g in a))

    if pilot_volume(assigned) <= cap + 1e-9:
        return assigned
    if sum(reg.volume[g].min() for g in groups) <= cap + 1e-9:
        for attempt in range(1, _REDRAWS + 1):
            assigned = draw()
            if pilot_volume(assigned) <= cap + 1e-9:
                notes.append(
                    "the first random assignment put too much volume in the pilot arm; it was "
                    f"re-drawn inside the pairs ({attempt} re-draw(s)), so the randomization "
                    "was restricted and the within-pair permutation test is approximate"
                )
                return assigned
    kept = sorted(groups, key=lambda g: (reg.volume[g].min(), g[0]))
    while kept and sum(reg.volume[g].min() for g in kept) > cap + 1e-9:
        kept.pop()
    notes.append(
        "even the smallest sites of the groups exceed the volume cap; the "
        f"{len(groups) - len(kept)} largest group(s) were dropped and the smallest site of each "
        "remaining group is the pilot"
    )
    return [sorted(g, key=lambda s: (reg.volume[s], s)) for g in kept]


# --------------------------------------------------------------------------------------------
# Balance


def _balance_entries(
    reg: _Registry, pilots: Sequence[str], controls: Sequence[str], threshold: float
) -> tuple[BalanceEntry, ...]:
    """Balance of level, trend and the match attributes (:func:`analysis.diagnostics.balance`)."""
    ids = list(pilots) + list(controls)
    if not pilots or not controls:
        return ()
    columns = [*reg.numeric[:2], *reg.covs.columns[2:]]
    table = reg.covs.loc[ids, columns].reset_index(drop=True)
    for col in reg.categorical:
        table[col] = table[col].astype(object)
    table.insert(0, "arm", ["pilot"] * len(pilots) + ["control"] * len(controls))
    table.insert(0, "site_id", ids)
    kinds = {reg.numeric[0]: "level", reg.numeric[1]: "trend"}
    rows: dict[str, list] = {}
    for row in balance(table, threshold=threshold).rows:
        rows.setdefault(row.variable.partition("=")[0], []).append(row)
    entries = []
    for col in columns:
        if col not in rows:  # the same value at every designed site: balanced by construction
            value = table[col].iloc[0]
            name = f"{col}={value}" if col in reg.categorical else col
            shown = 1.0 if col in reg.categorical else float(value)
            kind = "category" if col in reg.categorical else kinds.get(col, "attribute")
            entries.append(BalanceEntry(name, kind, shown, shown, 0.0, False))
            continue
        for row in rows[col]:
            kind = kinds.get(row.variable, row.kind)
            entries.append(
                BalanceEntry(
                    row.variable, kind, row.mean_pilot, row.mean_control, row.smd, row.flagged
                )
            )
    return tuple(entries)


def _characteristic_values(reg: _Registry, name: str) -> pd.Series:
    """The per-site values behind a balance entry (0/1 for a category level)."""
    if name in reg.covs.columns:
        return reg.covs[name].astype(float)
    attr, _, level = name.partition("=")
    return (reg.covs[attr].astype(str) == level).astype(float)


def _smd_over_assignments(values: np.ndarray) -> np.ndarray:
    """SMD of every within-group assignment (exact up to 4,096, else 2,000 seeded draws).

    ``values`` is groups x size; the pilot is one column per group.
    """
    n_groups, size = values.shape
    if size**n_groups <= _EXACT_ASSIGNMENTS:
        picks = np.array(np.meshgrid(*[np.arange(size)] * n_groups, indexing="ij"))
        picks = picks.reshape(n_groups, -1).T
    else:
        picks = np.random.default_rng(0).integers(0, size, (2000, n_groups))
    rows = np.arange(n_groups)
    pilot = values[rows, picks]
    total = values.sum(axis=1)
    control_mean = (total[None, :] - pilot) / (size - 1)
    mask = np.ones((picks.shape[0], n_groups, size), bool)
    mask[np.arange(picks.shape[0])[:, None], rows[None, :], picks] = False
    controls = np.broadcast_to(values, mask.shape)[mask].reshape(picks.shape[0], -1)
    vp = pilot.var(axis=1, ddof=1) if n_groups > 1 else np.full(picks.shape[0], np.nan)
    vc = controls.var(axis=1, ddof=1)
    pooled = np.sqrt(np.nanmean(np.vstack([vp, vc]), axis=0))
    diff = pilot.mean(axis=1) - control_mean.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1), 0.0)


def _imbalance_reason(
    reg: _Registry, groups: list[list[str]], entry: BalanceEntry, threshold: float
) -> Reason:
    """Why ``entry`` is unbalanced: groups too far apart in it, or the luck of the draw."""
    values = _characteristic_values(reg, entry.name)
    table = np.array([[values[s] for s in g] for g in groups], dtype=float)
    share = float(np.mean(np.abs(_smd_over_assignments(table)) > threshold))
    if share > 0.5:
        return make_reason(
            "pairs_not_close",
            "The pool has too few sites alike in {name}: the matched sites differ in it so much "
            "that {share:.0%} of the possible random assignments would leave the arms apart.",
            name=entry.name,
            share=share,
            smd=entry.smd,
        )
    return make_reason(
        "chance",
        "The matched sites are close in {name}, but the random assignment put higher values in "
        "one arm (SMD {smd:+.2f}); with {groups} groups this happens in {share:.0%} of draws.",
        name=entry.name,
        share=share,
        smd=entry.smd,
        groups=len(groups),
    )


# --------------------------------------------------------------------------------------------
# Fixes


@dataclass(slots=True)
class _Runner:
    """Re-runs the design core for candidate fixes, with a cache."""

    reg: _Registry
    """The registry with every match attribute of the original request."""
    cache: dict[_Inputs, tuple[Any, ...]]

    def run(self, ask: _Inputs) -> tuple[tuple[BalanceEntry, ...], int, int]:
        """``(balance, groups, capacity)`` of the design with ``ask``."""
        if ask not in self.cache:
            core = _core(_reduce(self.reg, ask.match), ask)
            self.cache[ask] = (core.balance, len(core.groups), core.capacity)
        return self.cache[ask]


def _reduce(reg: _Registry, match: tuple[str, ...]) -> _Registry:
    """The registry without the match attributes not in ``match``."""
    keep = [*reg.numeric[:2], *[c for c in reg.covs.columns[2:] if c in match]]
    return replace(
        reg,
        covs=reg.covs[keep],
        numeric=tuple(c for c in reg.numeric if c in keep),
        categorical=tuple(c for c in reg.categorical if c in keep),
    )


def _wider_pools(reg: _Registry, ask: _Inputs) -> list[_Inputs]:
    """Candidate wider pools, narrowest first (shares, or thresholds at the same shares)."""
    level = reg.covs[f"{reg.metric} level"].dropna()
    current = ask.pool_share
    if ask.threshold is not None:
        past = level >= ask.threshold if ask.problem == "high" else level <= ask.threshold
        current = float(past.mean())
    out = []
    for share in POOL_LADDER:
        if share <= current + 1e-9:
            continue
        if ask.threshold is None:
            out.append(replace(ask, pool_share=share))
        else:
            q = 1 - share if ask.problem == "high" else share
            t = float(np.quantile(level, q, method="lower" if ask.problem == "high" else "higher"))
            out.append(replace(ask, threshold=round(t, 6)))
    return out


def _fix(code: str, new: _Inputs, all_ok: bool) -> Fix:
    """A ``widen_pool`` or ``fewer_pilots`` fix whose inputs are ``new``."""
    if code == "fewer_pilots":
        return Fix(code, {"n_pilots": new.n_pilots}, f"use {new.n_pilots} pilot sites", all_ok)
    if new.threshold is not None:
        text = f"widen the pool to the sites at or past {new.threshold:g}"
        return Fix(code, {"threshold": new.threshold}, text, all_ok)
    text = f"widen the pool to the worst {new.pool_share:.0%} of sites"
    return Fix(code, {"pool_share": new.pool_share}, text, all_ok)


def _candidates(reg: _Registry, ask: _Inputs, name: str | None) -> list[tuple[str, _Inputs]]:
    """Fixes to try, mildest first: wider pools, fewer pilots (1, 2 or 3 fewer, then a quarter
    and half fewer), one match attribute dropped."""
    out = [("widen_pool", a) for a in _wider_pools(reg, ask)]
    n = ask.n_pilots
    fewer = sorted({k for k in (n - 1, n - 2, n - 3, (3 * n) // 4, n // 2) if k >= 2}, reverse=True)
    out += [("fewer_pilots", replace(ask, n_pilots=k)) for k in fewer]
    own = None if name is None else name.partition("=")[0]
    for attr in ask.match:
        if attr != own:
            out.append(("drop_match", replace(ask, match=tuple(a for a in ask.match if a != attr))))
    return out


def _fixes_for(runner: _Runner, ask: _Inputs, name: str) -> tuple[Fix, ...]:
    """The mildest fix of each kind whose re-run balances ``name`` (balancing all preferred)."""
    found: dict[str, Fix] = {}
    partial: dict[str, Fix] = {}
    for code, new in _candidates(runner.reg, ask, name):
        if code in found:
            continue
        table, n_groups, _ = runner.run(new)
        if n_groups == 0:
            continue
        entry = next((b for b in table if b.name == name), None)
        if entry is None or entry.flagged:
            continue
        all_ok = not any(b.flagged for b in table)
        fix = _named_fix(code, new, ask, all_ok)
        if all_ok:
            found[code] = fix
        else:
            partial.setdefault(code, fix)
    for code, fix in partial.items():
        found.setdefault(code, fix)
    return tuple(found[c] for c in ("widen_pool", "fewer_pilots", "drop_match") if c in found)


def _named_fix(code: str, new: _Inputs, old: _Inputs, all_ok: bool) -> Fix:
    if code != "drop_match":
        return _fix(code, new, all_ok)
    dropped = next(a for a in old.match if a not in new.match)
    return Fix(code, {"attribute": dropped}, f"stop matching on {dropped}", all_ok)


def _shortfall_fixes(runner: _Runner, ask: _Inputs, capacity: int) -> tuple[Fix, ...]:
    """Wider pool, fewer pilots or fewer exact strata: each checked to supply the groups."""
    fixes = []
    for new in _wider_pools(runner.reg, ask):
        if runner.run(new)[2] >= ask.n_pilots:
            fixes.append(_fix("widen_pool", new, not any(b.flagged for b in runner.run(new)[0])))
            break
    if capacity >= 1:
        new = replace(ask, n_pilots=capacity)
        fixes.append(_fix("fewer_pilots", new, not any(b.flagged for b in runner.run(new)[0])))
    for attr in runner.reg.categorical:
        new = replace(ask, match=tuple(a for a in ask.match if a != attr))
        if runner.run(new)[2] >= ask.n_pilots:
            fixes.append(_named_fix("drop_match", new, ask, True))
            break
    return tuple(fixes)


# --------------------------------------------------------------------------------------------
# Core and public API


@dataclass(frozen=True, slots=True)
class _Core:
    pool: list[str]
    groups: list[list[str]]
    balance: tuple[BalanceEntry, ...]
    capacity: int
    notes: list[str]


def _core(reg: _Registry, ask: _Inputs) -> _Core:
    """Pool, matched groups, assignment and balance for one set of inputs."""
    notes: list[str] = []
    pool = _pool(reg, ask)
    size = 1 + ask.ratio
    capacity = _capacity(reg, pool, size)
    n_groups = min(ask.n_pilots, capacity)
    groups, _ = _fit_volume_cap(reg, ask, pool, n_groups, notes)
    groups = _assign(reg, ask, groups, notes)
    pilots = [g[0] for g in groups]
    controls = [s for g in groups for s in g[1:]]
    table = _balance_entries(reg, pilots, controls, BALANCE_THRESHOLD)
    return _Core(pool, groups, table, capacity, notes)


def design(
    sites: pd.DataFrame,
    history: pd.DataFrame,
    *,
    n_pilots: int,
    problem_metric: str,
    problem: str = "high",
    match: Sequence[str] = (),
    pool_share: float | None = None,
    threshold: float | None = None,
    exclude: Sequence[str] = (),
    ratio: int = 1,
    max_volume_share: float | None = None,
    volume_column: str | None = None,
    seed: int = 0,
) -> DesignResult:
    """Design a pilot: the pool where the problem is present, matched groups, random pilots.

    Parameters
    ----------
    sites
        ``site_id`` plus attributes (the ``match`` columns, the volume column).
    history
        Pre-pilot observations ``site_id, date, metric, value``; the level (mean) and trend
        (OLS slope per day) of ``problem_metric`` per site come from here.
    n_pilots
        Pilot sites (= groups).
    problem_metric, problem
        The metric showing the problem and which end is bad (``"high"`` or ``"low"``).
    match
        Attributes to match on: categorical ones exactly (never a group across two regions),
        numeric ones by standardized distance.
    pool_share, threshold
        The pool: the worst ``pool_share`` of sites on the problem metric's level (default
        0.5), or the sites at or past ``threshold``. Give at most one.
    exclude
        Sites that may not be in the pilot at all.
    ratio
        Controls per pilot: 1 (pairs) or 2 (triplets).
    max_volume_share, volume_column
        Cap on the pilot arm's share of total volume (column ``volume_column``, default
        ``"volume"``).
    seed
        Seed of the random assignment inside the groups (stored with the design).

    The module docstring gives the method; see also ``docs/analysis-design.md``.
    """
    frame = _site_frame(sites)
    ask = _check_inputs(
        frame,
        n_pilots=n_pilots,
        problem=problem,
        match=match,
        pool_share=pool_share,
        threshold=threshold,
        exclude=exclude,
        ratio=ratio,
        max_volume_share=max_volume_share,
        volume_column=volume_column,
        seed=seed,
    )
    reg = _registry(frame, history, problem_metric, ask)
    core = _core(reg, ask)
    runner = _Runner(reg, {ask: (core.balance, len(core.groups), core.capacity)})
    notes = list(reg.notes) + core.notes
    shortfall = _shortfall(runner, ask, core, notes)
    unbalanced = tuple(
        Imbalance(
            entry.name,
            entry.smd,
            _imbalance_reason(reg, core.groups, entry, BALANCE_THRESHOLD),
            _fixes_for(runner, ask, entry.name),
        )
        for entry in core.balance
        if entry.flagged
    )
    return _result(reg, ask, core, unbalanced, shortfall, notes)


def _shortfall(runner: _Runner, ask: _Inputs, core: _Core, notes: list[str]) -> Shortfall | None:
    """The pool-size rule: say so, and the fixes, when the pool cannot supply the groups."""
    size = 1 + ask.ratio
    if core.capacity >= ask.n_pilots:
        return None
    needed = ask.n_pilots * size
    reason = make_reason(
        "pool_too_small",
        "The pool ({pool} sites) can supply {groups} whole group(s) of {size} inside the exact "
        "strata; {n_pilots} pilot sites need {needed} sites in {n_pilots} groups.",
        pool=len(core.pool),
        groups=core.capacity,
        size=size,
        n_pilots=ask.n_pilots,
        needed=needed,
    )
    notes.append(reason.text + (f" Designed {core.capacity} group(s)." if core.capacity else ""))
    return Shortfall(
        needed, core.capacity * size, reason, _shortfall_fixes(runner, ask, core.capacity)
    )


def _result(
    reg: _Registry,
    ask: _Inputs,
    core: _Core,
    unbalanced: tuple[Imbalance, ...],
    shortfall: Shortfall | None,
    notes: list[str],
) -> DesignResult:
    """Assemble the :class:`DesignResult`."""
    numeric = reg.covs[list(reg.numeric)].astype(float)
    pool_sd = numeric.loc[core.pool].std(ddof=1).fillna(0.0) if core.pool else numeric.std()
    z = ((numeric - numeric.mean()) / pool_sd.where(pool_sd > 0, 1.0)).to_numpy()
    row = {sid: i for i, sid in enumerate(numeric.index)}
    distances = tuple(
        float(sum(((z[row[a]] - z[row[b]]) ** 2).sum() for a, b in itertools.combinations(g, 2)))
        for g in core.groups
    )
    volume_share = None
    if reg.volume is not None and core.groups:
        volume_share = float(reg.volume[[g[0] for g in core.groups]].sum() / reg.volume.sum())
    rule: dict[str, Any] = (
        {"threshold": ask.threshold}
        if ask.threshold is not None
        else {"pool_share": ask.pool_share}
    )
    rule["exclude"] = list(ask.exclude)
    return DesignResult(
        pilot_sites=tuple(g[0] for g in core.groups),
        control_sites=tuple(s for g in core.groups for s in g[1:]),
        pairs=tuple(tuple(g) for g in core.groups),
        seed=ask.seed,
        balance=core.balance,
        warnings=tuple(notes),
        pool=tuple(core.pool),
        unbalanced=unbalanced,
        shortfall=shortfall,
        n_pilots_requested=ask.n_pilots,
        ratio=ask.ratio,
        problem_metric=reg.metric,
        problem=ask.problem,
        match=ask.match,
        pool_rule=rule,
        group_distances=distances,
        volume_share=volume_share,
        max_volume_share=ask.max_volume_share,
        error=None if core.groups else "the pool cannot supply a single matched group",
    )


def design_balance(
    sites: pd.DataFrame,
    history: pd.DataFrame,
    pilot_sites: Sequence[str],
    control_sites: Sequence[str],
    *,
    problem_metric: str,
    match: Sequence[str] = (),
    threshold: float = BALANCE_THRESHOLD,
) -> tuple[BalanceEntry, ...]:
    """The balance table of any pilot and control sets (after a lead adds, drops or swaps).

    Same characteristics and SMDs as :func:`design`: the level and trend of
    ``problem_metric`` over ``history`` and the ``match`` attributes.
    """
    frame = _site_frame(sites)
    ask = _check_inputs(
        frame,
        n_pilots=1,
        problem="high",
        match=match,
        pool_share=None,
        threshold=None,
        exclude=(),
        ratio=1,
        max_volume_share=None,
        volume_column=None,
        seed=0,
    )
    pilots = [str(s).strip() for s in pilot_sites]
    controls = [str(s).strip() for s in control_sites]
    unknown = sorted(set(pilots + controls) - set(frame.index))
    if unknown:
        raise ValueError(f"unknown site id(s) {unknown}")
    if set(pilots) & set(controls):
        raise ValueError(f"sites are both pilot and control: {sorted(set(pilots) & set(controls))}")
    reg = _registry(frame, history, problem_metric, ask)
    return _balance_entries(reg, pilots, controls, threshold)
