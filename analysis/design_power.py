"""Power of the chosen design by simulation over the stored history, with advice when short.

:func:`design_power` answers the wizard's power step: for the design the lead has chosen --
the matched groups of :func:`analysis.pilot_design.design` (paired), or ``n_pilot`` random
pilot sites against ``n_control`` random controls (unpaired) -- and the planned pre- and
post-period lengths, what is the **minimum detectable effect**, and would the lead's
``min_effect`` be detected?

**Placebo pilots on the history.** A (pre, post) window of the planned lengths slides over the
history, one start per day; each site's change ``mean(post) - mean(pre)`` is computed in every
window (:func:`analysis.power.change_sd`'s windows). A placebo pilot draws a window and an
assignment as the design would:

* paired: the pilot of every group at random (as the design randomizes), the estimate is the
  mean within-group contrast ``pilot - mean(controls)`` and its SE the SD of the contrasts over
  ``sqrt(G)``, t(G - 1) -- the pair fixed-effects analysis ``compare(..., pairs=...)`` uses;
* unpaired: ``n_pilot + n_control`` distinct sites at random (from ``sites`` when given), the
  difference in mean change with Welch's SE and df -- ``compare``'s ``welch`` estimator.

An additive effect ``d`` moves every placebo estimate by exactly ``d`` and leaves its SE alone,
so the power curve ``P(|est + d| / se >= q)`` comes from one set of placebo pilots and the
minimum detectable effect is found by bisection on it (seeded, ``n_sims`` placebo pilots).
The share of placebo pilots rejected at ``d = 0`` is reported as a check of the test's size.

**Short history (choice).** When the history covers fewer days than ``pre_days + post_days``,
the simulation *uses the history there is*: the post-period is kept and the pre-period
shortened to the days left (at least 7; with less, both are shrunk in proportion, at least one
day each). The result says which window was simulated and advises how many more days of
history would simulate the requested one (``more_history``). A shorter pre-period only adds
noise to each change when site noise is stationary, so the minimum detectable effect is then
an upper bound; with persistent site trends a longer pre-period spans more drift, which the
matched pairs largely remove. (Circular block resampling was the alternative; it would splice
a site's last days to its first and mix trends into the noise.) When ``min_effect`` is given
and not reached, ``advice`` also says how many pilot sites (groups) would reach it
(``more_sites``), extrapolating the simulated spread with ``sqrt(1/G)`` and t(G - 1). The
result never ends without a number while the history has two days and two groups with data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.inference import ALTERNATIVES, check_alpha, t_critical
from analysis.pilot_design import DesignResult, match_groups
from analysis.power import _history_changes
from analysis.results import Reason, ResultMixin, failed_result, make_reason

__all__ = ["DesignPower", "design_power"]

MIN_PRE_DAYS = 7
"""Shortest pre-period the short-history rule shrinks to before shrinking both periods."""
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class DesignPower(ResultMixin):
    """Minimum detectable effect of a design, by placebo pilots on the history."""

    metric: str
    """Metric of the history."""
    paired: bool
    """Whether the design randomizes inside matched groups."""
    n_pilot: int
    """Pilot sites (= groups when paired)."""
    n_control: int
    """Control sites."""
    pre_days: int
    """Pre-period days asked for."""
    post_days: int
    """Post-period days asked for."""
    pre_days_used: int
    """Pre-period days simulated (fewer when the history is short)."""
    post_days_used: int
    """Post-period days simulated."""
    history_days: int
    """Days the history covers."""
    alpha: float
    """Significance level of the planned test."""
    alternative: str
    """``"two-sided"``, ``"larger"`` or ``"smaller"``."""
    target_power: float
    """Power the minimum detectable effect is defined by."""
    mde: float
    """Minimum detectable effect (metric units, magnitude; negative for ``"smaller"``)."""
    relative_mde: float
    """``mde`` divided by the metric's mean over the design's candidate sites (the pool; for
    an unpaired design the ``candidates``, else every site)."""
    se: float
    """Median standard error of the placebo estimates."""
    placebo_rejection: float
    """Share of placebo pilots (no effect) the test rejected: should be near ``alpha``."""
    min_effect: float | None
    """The lead's minimum effect of interest, if given."""
    power_at_min_effect: float | None
    """Power to detect ``min_effect``."""
    n_sims: int
    """Placebo pilots simulated."""
    n_windows: int
    """(pre, post) windows of the history the placebo pilots were drawn from."""
    seed: int
    """Seed of the simulation."""
    advice: tuple[Reason, ...] = ()
    """What would help: ``more_history`` (``days``, ``needed_days``) and ``more_sites``
    (``n_pilot``, ``extra_pilots``, ``extra_sites``, ``available``), machine-readable."""
    warnings: tuple[str, ...] = ()
    """Caveats (shortened windows, sites without history)."""
    method: str = ""
    """What was simulated."""
    error: str | None = None
    """Why no number could be given (the advice then says what is missing)."""

    def summary(self) -> str:
        """Two or three sentences for the wizard's power step."""
        if self.error:
            lines = [f"Power for {self.metric}: not computed ({self.error})"]
        else:
            kind = "pairs" if self.paired else "random sites"
            rel = f" ({100 * self.relative_mde:+.1f} %)" if np.isfinite(self.relative_mde) else ""
            lines = [
                f"Minimum detectable effect {self.mde:+.4g}{rel} at {self.target_power:.0%} power "
                f"with {self.n_pilot} pilot vs {self.n_control} control sites ({kind}), "
                f"{self.pre_days_used} days before and {self.post_days_used} after; alpha "
                f"{self.alpha} {self.alternative}, {self.n_sims} placebo pilots on the history."
            ]
            if self.power_at_min_effect is not None:
                lines.append(
                    f"Power to detect {self.min_effect:+.4g}: {self.power_at_min_effect:.0%}."
                )
        lines += [f"Advice: {a.text}" for a in self.advice]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Windows


def _history_days(history: pd.DataFrame, metric: str | None) -> tuple[int, str | None]:
    """Days from the first to the last observation of the metric (0 without data)."""
    if not isinstance(history, pd.DataFrame):
        raise ValueError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in ("site_id", "date", "value") if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing column(s) {missing}; expected site_id, date, value")
    frame = history
    if "metric" in frame.columns:
        metrics = sorted(frame["metric"].dropna().astype(str).unique())
        if metric is None and len(metrics) == 1:
            metric = metrics[0]
        if metric is None:
            raise ValueError(f"history holds several metrics {metrics}; pass metric=")
        if metric not in metrics:
            raise ValueError(f"unknown metric {metric!r}; history has {metrics}")
        frame = frame[frame["metric"].astype(str) == metric]
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        raise ValueError("history has dates that do not parse")
    if dates.empty:
        return 0, metric
    return int((dates.max().normalize() - dates.min().normalize()).days) + 1, metric


def _windows(history_days: int, pre_days: int, post_days: int) -> tuple[int, int]:
    """The (pre, post) lengths to simulate: as asked when the history allows it, else the post
    kept and the pre shortened (to at least ``MIN_PRE_DAYS``), else both shrunk in proportion."""
    if history_days >= pre_days + post_days:
        return pre_days, post_days
    if history_days - post_days >= MIN_PRE_DAYS:
        return history_days - post_days, post_days
    pre = max(1, round(history_days * pre_days / (pre_days + post_days)))
    return pre, max(1, history_days - pre)


# --------------------------------------------------------------------------------------------
# Placebo pilots


@dataclass(frozen=True, slots=True)
class _PairingRule:
    """How the design forms its groups, re-applied to every placebo window."""

    pool: list[str]
    """Candidate sites (the design's pool)."""
    n_groups: int
    size: int
    attributes: pd.DataFrame
    """Numeric match attributes of the pool (standardized with the level and trend)."""
    strata: np.ndarray | None
    """Exact-match stratum of each pool site, or None."""


def _window_groups(hist: Any, rule: _PairingRule, windows: np.ndarray, pre_days: int) -> np.ndarray:
    """Groups (windows x G x size column indices of ``hist.changes``, -1 when a window could
    not form G groups) matched on the level and trend of each window's pre-period alone."""
    columns = {s: i for i, s in enumerate(hist.site_ids)}
    pool = [s for s in rule.pool if s in columns]
    cols = np.array([columns[s] for s in pool], dtype=int)
    out = np.full((len(windows), rule.n_groups, rule.size), -1)
    days = np.arange(pre_days, dtype=float)
    for row, w in enumerate(windows):
        start = int(hist.window_starts[w])
        pre = hist.values[cols, start - pre_days : start]
        ok = np.isfinite(pre)
        n = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            level = np.where(n > 0, np.where(ok, pre, 0).sum(axis=1) / np.maximum(n, 1), np.nan)
            t_mean = (ok * days).sum(axis=1) / np.maximum(n, 1)
            dt = np.where(ok, days - t_mean[:, None], 0.0)
            trend = (dt * np.where(ok, pre - level[:, None], 0.0)).sum(axis=1) / (dt**2).sum(axis=1)
        covs = np.column_stack([level, trend, rule.attributes.loc[pool].to_numpy(dtype=float)])
        keep = np.isfinite(covs).all(axis=1)
        if keep.sum() < rule.size:
            continue
        z = covs[keep]
        sd = z.std(axis=0, ddof=1)
        z = (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        strata = None if rule.strata is None else rule.strata[keep]
        k = min(rule.n_groups, _capacity(strata, keep.sum(), rule.size))
        groups = match_groups(z, k, rule.size, strata) if k else []
        for g, members in enumerate(groups):
            out[row, g, :] = cols[keep][members]
    return out


def _capacity(strata: np.ndarray | None, n: int, size: int) -> int:
    if strata is None:
        return n // size
    _, counts = np.unique(strata, return_counts=True)
    return int((counts // size).sum())


def _paired_placebos(
    changes: np.ndarray, windows: np.ndarray, index: np.ndarray, n_sims: int, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, se, df)`` of ``n_sims`` placebo pilots randomized inside the groups of a
    random window (``index``: windows x G x size columns, -1 where a group is missing)."""
    n_windows, n_groups, size = index.shape
    draw = rng.integers(0, n_windows, n_sims)
    padded = np.concatenate([changes, np.full((changes.shape[0], 1), np.nan)], axis=1)
    cols = np.where(index >= 0, index, padded.shape[1] - 1)[draw]  # sims x G x size
    y = padded[windows[draw][:, None, None], cols]
    pick = rng.integers(0, size, (n_sims, n_groups))
    pilot = np.take_along_axis(y, pick[:, :, None], axis=2)[:, :, 0]
    contrast = pilot - (y.sum(axis=2) - pilot) / (size - 1)
    n = np.isfinite(contrast).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(n > 0, np.nansum(contrast, axis=1) / np.maximum(n, 1), np.nan)
        sd = np.sqrt(np.nansum((contrast - est[:, None]) ** 2, axis=1) / np.maximum(n - 1, 1))
    se = np.where(n >= 2, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return est, se, (n - 1).astype(float)


def _unpaired_placebos(
    changes: np.ndarray, n_pilot: int, n_control: int, n_sims: int, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, se, df)`` of ``n_sims`` completely randomized placebo pilots (Welch)."""
    counts = np.isfinite(changes).sum(axis=1)
    feasible = np.flatnonzero(counts >= n_pilot + n_control)
    if feasible.size == 0:
        return np.full(n_sims, np.nan), np.full(n_sims, np.nan), np.full(n_sims, np.nan)
    block = changes[feasible[rng.integers(0, feasible.size, n_sims)]]
    keys = rng.random(block.shape)
    keys[~np.isfinite(block)] = np.inf
    order = np.argsort(keys, axis=1)[:, : n_pilot + n_control]
    picked = np.take_along_axis(block, order, axis=1)
    a, b = picked[:, :n_pilot], picked[:, n_pilot:]
    qa, qb = a.var(axis=1, ddof=1) / n_pilot, b.var(axis=1, ddof=1) / n_control
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (qa + qb) ** 2 / (qa**2 / (n_pilot - 1) + qb**2 / (n_control - 1))
    return a.mean(axis=1) - b.mean(axis=1), np.sqrt(qa + qb), df


@dataclass(frozen=True, slots=True)
class _Curve:
    """Power as a function of the effect, from placebo estimates under no effect."""

    est: np.ndarray
    se: np.ndarray
    q: np.ndarray
    alternative: str

    def __call__(self, effect: float) -> float:
        t = (self.est + effect) / self.se
        if self.alternative == "two-sided":
            return float(np.mean(np.abs(t) >= self.q))
        if self.alternative == "larger":
            return float(np.mean(t >= self.q))
        return float(np.mean(t <= -self.q))

    def mde(self, target: float) -> float:
        """Smallest effect magnitude (signed for ``"smaller"``) with power >= ``target``."""
        sign = -1.0 if self.alternative == "smaller" else 1.0
        hi = float(np.nanmedian(self.se)) or 1.0
        while self(sign * hi) < target:
            hi *= 2
            if hi > 1e12:
                return _NAN
        lo = 0.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if self(sign * mid) >= target else (mid, hi)
        return sign * hi


# --------------------------------------------------------------------------------------------
# Advice


def _more_sites(
    curve: _Curve, mde: float, shape: dict[str, Any], ask: dict[str, Any]
) -> Reason | None:
    """How many pilot sites (groups) would reach ``min_effect``: the simulated spread of the
    estimate scaled by ``sqrt(G0 / G)``, with t(G - 1) (paired) or t(G + C - 2) (unpaired, the
    controls growing in proportion)."""
    target, alpha, alt = ask["power"], ask["alpha"], ask["alternative"]
    n0, ratio, paired = shape["n_groups"], shape["ratio"], shape["paired"]
    spread = float(np.nanmedian(curve.se)) * np.sqrt(n0)
    need = abs(float(ask["min_effect"]))
    start = max(n0 + 1, int(0.8 * n0 * (abs(mde) / need) ** 2))
    for g in range(start, start + 100_000):
        controls = g * ratio if paired else int(np.ceil(g * ratio - 1e-9))
        df = g - 1 if paired else g + controls - 2
        if (t_critical(df, alpha, alt) + stats.t.ppf(target, df)) * spread / np.sqrt(g) > need:
            continue
        extra = g + controls - n0 - shape["n_control"]
        available = shape["spare"] < 0 or extra <= shape["spare"]
        return make_reason(
            "more_sites",
            "{n_pilot} pilot sites ({extra_sites} more sites in all) would detect "
            "{min_effect:+.4g} with {power:.0%} power"
            + ("." if available else "; the pool does not have that many spare sites."),
            n_pilot=g,
            n_control=controls,
            extra_pilots=g - n0,
            extra_sites=int(extra),
            min_effect=ask["min_effect"],
            power=target,
            available=bool(available),
        )
    return None


def _advice(
    curve: _Curve | None,
    mde: float,
    shape: dict[str, Any],
    ask: dict[str, Any],
) -> tuple[Reason, ...]:
    """``more_history`` when the window was shortened, ``more_sites`` when ``min_effect`` is
    not reached."""
    out = []
    needed = ask["pre_days"] + ask["post_days"]
    if shape["history_days"] < needed:
        out.append(
            make_reason(
                "more_history",
                "{days} more day(s) of history ({needed_days} in all) would simulate the planned "
                "{pre_days} + {post_days} days; this estimate used {pre_used} + {post_used}.",
                days=needed - shape["history_days"],
                needed_days=needed,
                pre_days=ask["pre_days"],
                post_days=ask["post_days"],
                pre_used=shape["pre_used"],
                post_used=shape["post_used"],
            )
        )
    min_effect = ask["min_effect"]
    if curve is not None and min_effect is not None and not abs(mde) <= abs(min_effect):
        more = _more_sites(curve, mde, shape, ask)
        if more is not None:
            out.append(more)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Public API


def _check(
    design: Any, n_pilot: Any, n_control: Any, kw: dict[str, Any]
) -> tuple[list[list[str]] | None, int, int]:
    """The groups (paired) or the arm sizes (unpaired), checked."""
    pre_days, post_days = kw["pre_days"], kw["post_days"]
    check_alpha(kw["alpha"])
    if kw["alternative"] not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {kw['alternative']!r}")
    if not 0 < kw["power"] < 1:
        raise ValueError(f"power must lie in (0, 1), got {kw['power']!r}")
    for name, v in (("pre_days", pre_days), ("post_days", post_days), ("n_sims", kw["n_sims"])):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive whole number, got {v!r}")
    if design is not None:
        groups = design.pairs if isinstance(design, DesignResult) else design
        groups = [[str(s) for s in g] for g in groups]
        if not groups or any(len(g) < 2 for g in groups):
            raise ValueError("design must hold groups of at least two site ids (pilot first)")
        return groups, len(groups), sum(len(g) - 1 for g in groups)
    if n_pilot is None or n_control is None:
        raise ValueError("give the design (pairs) or n_pilot and n_control")
    for name, v in (("n_pilot", n_pilot), ("n_control", n_control)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 2:
            raise ValueError(f"{name} must be a whole number of at least 2, got {v!r}")
    return None, int(n_pilot), int(n_control)


def design_power(
    history: pd.DataFrame,
    design: DesignResult | Sequence[Sequence[str]] | None = None,
    *,
    n_pilot: int | None = None,
    n_control: int | None = None,
    pre_days: int = 28,
    post_days: int = 28,
    metric: str | None = None,
    min_effect: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    registry: pd.DataFrame | None = None,
    candidates: Sequence[str] | None = None,
    n_sims: int = 4000,
    seed: int = 0,
) -> DesignPower:
    """Minimum detectable effect of a design by placebo pilots on the history.

    Parameters
    ----------
    history
        Observations ``site_id, date, value`` (and ``metric``) before the pilot.
    design
        A :class:`~analysis.pilot_design.DesignResult` (paired): in every placebo window the
        design's rule -- ``len(pairs)`` groups of its size, from its pool, matched on the
        window's pre-period level and trend and the ``match`` attributes -- forms the groups,
        so the pairing gain is measured out of sample. A plain list of groups uses their sites
        as the pool, matched on level and trend. ``None``: give ``n_pilot``, ``n_control``.
    n_pilot, n_control
        Arm sizes of an unpaired design (random sites, from ``candidates`` when given).
    pre_days, post_days
        Planned days before and after the start (a shorter history is used as it is; see the
        module docstring).
    metric
        Metric of ``history`` (required when it holds several).
    min_effect
        The lead's minimum effect of interest: its power is reported, and ``advice`` says how
        many pilot sites would detect it when the design cannot.
    alpha, power, alternative
        The planned test and the power defining the minimum detectable effect.
    registry
        ``site_id`` + the design's ``match`` attributes (without it, placebo groups are matched
        on level and trend only, with a warning).
    candidates
        Candidate sites of an unpaired design (e.g. the pool); default every site.
    n_sims, seed
        Placebo pilots and their seed.
    """
    ask = dict(
        alpha=alpha,
        alternative=alternative,
        power=power,
        n_sims=n_sims,
        min_effect=min_effect,
        pre_days=pre_days,
        post_days=post_days,
    )
    groups, n_p, n_c = _check(design, n_pilot, n_control, ask)
    days, metric = _history_days(history, metric)
    pre_used, post_used = _windows(days, pre_days, post_days)
    frame = history
    if groups is None and candidates is not None:
        frame = history[history["site_id"].astype(str).isin([str(c) for c in candidates])]
    metric_name, hist = _history_changes(frame, metric, pre_used, post_used)
    spare = -1
    if isinstance(design, DesignResult):
        spare = len(design.pool) - n_p - n_c
    shape = dict(
        history_days=days,
        pre_used=pre_used,
        post_used=post_used,
        n_groups=n_p,
        n_control=n_c,
        ratio=(n_c // n_p) if groups else n_c / n_p,
        paired=groups is not None,
        spare=spare,
    )
    head = _head(metric_name, groups is not None, n_p, n_c, ask, shape, seed)
    if isinstance(hist, str):
        return failed_result(
            DesignPower,
            hist,
            advice=_advice(None, _NAN, shape, ask),
            power_at_min_effect=None,
            **head,
        )
    notes: list[str] = []
    rule = None if groups is None else _pairing_rule(design, groups, registry, notes)
    return _simulate(hist, rule, n_p, n_c, ask, shape, head, seed, notes)


def _pairing_rule(
    design: Any, groups: list[list[str]], registry: pd.DataFrame | None, notes: list[str]
) -> _PairingRule:
    """The design's pool, number and size of groups, and match attributes."""
    sizes = {len(g) for g in groups}
    if len(sizes) != 1:
        raise ValueError("the groups of a design must all have the same size")
    if not isinstance(design, DesignResult):
        pool = [s for g in groups for s in g]
        return _PairingRule(pool, len(groups), sizes.pop(), pd.DataFrame(index=pool), None)
    pool = list(design.pool)
    attributes = pd.DataFrame(index=pool)
    strata = None
    if design.match and registry is None:
        notes.append(
            f"placebo groups are matched on level and trend only; pass registry= for "
            f"{', '.join(design.match)}"
        )
    elif design.match:
        frame = registry.assign(site_id=registry["site_id"].astype(str)).set_index("site_id")
        missing = [c for c in design.match if c not in frame.columns]
        if missing:
            raise ValueError(f"registry has no column(s) {missing}")
        frame = frame.reindex(pool)
        for col in design.match:
            values = frame[col]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                attributes[col] = values.astype(float)
            else:
                label = values.astype(str)
                strata = label if strata is None else strata + " / " + label
    return _PairingRule(
        pool,
        len(groups),
        sizes.pop(),
        attributes,
        None if strata is None else strata.to_numpy(dtype=str),
    )


def _head(
    metric: str,
    paired: bool,
    n_p: int,
    n_c: int,
    ask: dict[str, Any],
    shape: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The fields of a :class:`DesignPower` that restate the question."""
    return dict(
        metric=metric,
        paired=paired,
        n_pilot=n_p,
        n_control=n_c,
        pre_days=ask["pre_days"],
        post_days=ask["post_days"],
        pre_days_used=shape["pre_used"],
        post_days_used=shape["post_used"],
        history_days=shape["history_days"],
        alpha=ask["alpha"],
        alternative=ask["alternative"],
        target_power=ask["power"],
        min_effect=ask["min_effect"],
        n_sims=ask["n_sims"],
        seed=seed,
        method=(
            "placebo pilots on the history: "
            + (
                "pilot drawn inside each matched group, paired t(G-1)"
                if paired
                else "random pilot and control sites, Welch t"
            )
            + f"; {shape['pre_used']} + {shape['post_used']} day windows"
        ),
    )


_MAX_MATCHED_WINDOWS = 10


def _simulate(
    hist: Any,
    rule: _PairingRule | None,
    n_p: int,
    n_c: int,
    ask: dict[str, Any],
    shape: dict[str, Any],
    head: dict[str, Any],
    seed: int,
    notes: list[str],
) -> DesignPower:
    """The placebo pilots, the power curve, the minimum detectable effect and the advice."""
    rng = np.random.default_rng(seed)
    if shape["pre_used"] != ask["pre_days"] or shape["post_used"] != ask["post_days"]:
        notes.append(
            f"the history covers {shape['history_days']} days, fewer than the planned "
            f"{ask['pre_days']} + {ask['post_days']}: simulated with {shape['pre_used']} + "
            f"{shape['post_used']} days"
        )
    baseline = hist.baseline_mean
    if rule is not None:
        rows = [i for i, sid in enumerate(hist.site_ids) if sid in set(rule.pool)]
        baseline = float(np.nanmean(hist.values[rows])) if rows else baseline
        count = min(hist.n_windows, _MAX_MATCHED_WINDOWS)
        windows = np.unique(np.linspace(0, hist.n_windows - 1, count).round().astype(int))
        index = _window_groups(hist, rule, windows, shape["pre_used"])
        est, se, df = _paired_placebos(hist.changes, windows, index, ask["n_sims"], rng)
    else:
        est, se, df = _unpaired_placebos(hist.changes, n_p, n_c, ask["n_sims"], rng)
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0) & (df >= 1)
    if ok.mean() < 0.5:
        reason = "too few sites of the design have data in the history's windows"
        return failed_result(
            DesignPower,
            reason,
            advice=_advice(None, _NAN, shape, ask),
            warnings=tuple(notes),
            power_at_min_effect=None,
            **head,
        )
    q = t_critical(df[ok], ask["alpha"], ask["alternative"])
    curve = _Curve(est[ok], se[ok], np.asarray(q, dtype=float), ask["alternative"])
    mde = curve.mde(ask["power"])
    at_min = None if ask["min_effect"] is None else curve(float(ask["min_effect"]))
    return DesignPower(
        **head,
        mde=mde,
        relative_mde=mde / baseline if baseline else _NAN,
        se=float(np.median(curve.se)),
        placebo_rejection=curve(0.0),
        power_at_min_effect=at_min,
        n_windows=hist.n_windows,
        advice=_advice(curve, mde, shape, ask),
        warnings=tuple(notes),
    )
