"""``compare``: every estimator, diagnostics, multiplicity and verdicts for one pilot.

For each metric the engine builds site-level means (pre- and post-period) and the site x day
panel, then runs

* ``did`` -- panel DiD ``value ~ treated | site + day``, SE clustered by site (:mod:`.did`);
* ``ancova`` -- post site mean on arm + pre site mean, HC2 SE (:mod:`.ancova`);
* ``welch`` and ``rank`` -- Welch t and Mann-Whitney on the site change (:mod:`.site_tests`);
* ``permutation`` -- randomization inference on the site-mean DiD (:mod:`.permutation`);
* ``paired`` -- with ``pairs`` (a pilot randomized inside matched groups, see
  :func:`analysis.pilot_design.design`): pair fixed effects on the site change, CR1 by group, t(G-1)
  (:mod:`.paired`); the permutation test then flips the assignment inside each group exactly
  as it was drawn;

and reports one of them as the headline (``method="auto"`` applies :func:`choose_method`, or
:func:`choose_paired_method` for a paired design). A method the analyst forces that the engine
calls invalid for the design (:func:`forced_method_problem`) is still computed and reported in
``methods``, but the headline and its verdict come from the valid method and
``forced_method_invalid`` says why.
p-values are adjusted with Holm across the primary and guardrail metrics and with
Benjamini-Hochberg across secondary metrics (:mod:`.multiple`), then a verdict is given.

Site-level methods use the sites observed in both periods (the balanced subsample); the panel
DiD uses every site-day except fixed-effect singletons, so a site seen on one day only (e.g. a
store interviewed in one wave) drops out of it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.ancova import AncovaResult, ancova
from analysis.data import parse_date, site_period_means, validate
from analysis.diagnostics import (
    BALANCE_THRESHOLD,
    WEAK_EVIDENCE,
    BalanceResult,
    CompletenessResult,
    PretrendResult,
    balance,
    completeness,
    pretrend,
    regression_to_mean,
)
from analysis.did import DidResult, did
from analysis.inference import check_alpha
from analysis.multiple import adjust_family
from analysis.paired import PairedResult, paired_effect
from analysis.permutation import (
    EXACT_LIMIT,
    PermutationResult,
    check_n_permutations,
    count_assignments,
    permutation_test,
)
from analysis.relative import RelativeEffect, relative_effect
from analysis.results import Reason, ResultMixin, ci_text, make_reason
from analysis.site_tests import RankResult, WelchResult, rank_test, welch

__all__ = [
    "METHODS",
    "MIN_SITES_FOR_ASYMPTOTICS",
    "MIN_SITES_FOR_CLUSTERED_DID",
    "ComparisonReport",
    "MetricDiagnostics",
    "MetricResult",
    "PAIRED_EXACT_LIMIT",
    "choose_method",
    "choose_paired_method",
    "compare",
    "decide_verdict",
    "forced_method_problem",
]

METHODS = ("auto", "did", "ancova", "welch", "permutation", "paired")
VERDICTS = ("better", "worse", "inconclusive", "equivalent")
DIRECTIONS = ("increase", "decrease")
MIN_SITES_FOR_ASYMPTOTICS = 6
"""Below this many pilot or control sites, inference is by permutation (see docs/analysis.md)."""
MIN_PRE_DAYS_FOR_ANCOVA = 7
"""Median pre-period days per site needed to call the pre-period stable."""
MIN_SITES_FOR_CLUSTERED_DID = 20
"""Sites per arm needed before the clustered DiD is the headline of a short pre-period."""
PAIRED_EXACT_LIMIT = 65_536
"""Within-group assignments enumerated exactly in a paired design: up to 16 pairs (2^16) or
10 triplets (3^10); beyond, seeded Monte Carlo draws."""
_MISSING_WARN = 0.2
_NO_SITES = pd.DataFrame({"arm": [], "pre": [], "post": []})

_DESCRIPTIONS = {
    "did": "DiD on the site x day panel (site and day fixed effects), SE clustered by site, t(G-1)",
    "ancova": (
        "ANCOVA: post-period site mean on arm and pre-period site mean, HC2 SE, Bell-McCaffrey df"
    ),
    "welch": "Welch t-test on site-level change (post minus pre mean)",
    "permutation": (
        "randomization inference over site assignment; estimate = difference in mean "
        "site-level change, interval by test inversion"
    ),
    "paired": (
        "pair fixed effects on the site-level change (pilot + one dummy per matched group), "
        "CR1 SE clustered by group, t(G-1)"
    ),
}

MethodResult = (
    DidResult | AncovaResult | WelchResult | RankResult | PermutationResult | PairedResult
)


@dataclass(frozen=True, slots=True)
class MetricDiagnostics(ResultMixin):
    """Diagnostics attached to one metric."""

    pretrend: PretrendResult | None
    """Event study and joint test of pre-period leads (None when not computed)."""
    balance: BalanceResult | None
    """Site attributes and this metric's pre-period mean, pilot vs control."""
    warnings: list[str]
    """Plain-language cautions for this metric."""
    completeness: dict[str, float]
    """Share of missing site-days by arm (``{"pilot": 0.02, "control": 0.0}``)."""
    n_sites_dropped: int = 0
    """Sites left out of site-level methods because one period has no data."""

    def summary(self) -> str:
        """Warnings and the pre-trend line."""
        lines = [self.pretrend.summary()] if self.pretrend else []
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class MetricResult(ResultMixin):
    """Headline result for one metric, with every estimator and the diagnostics."""

    metric: str
    """Metric key."""
    role: str
    """``"primary"``, ``"guardrail"`` or ``"secondary"``."""
    direction: str
    """Better direction: ``"increase"`` or ``"decrease"``."""
    effect: float
    """Headline effect, pilot minus control, in the metric's units."""
    se: float
    """Standard error of ``effect`` (for permutation: SD of the permutation distribution)."""
    ci_low: float
    """Lower end of the ``1 - alpha`` confidence interval."""
    ci_high: float
    """Upper end of the confidence interval."""
    p_value: float
    """Unadjusted two-sided p-value of the headline method."""
    p_adjusted: float
    """p-value adjusted for multiplicity (Holm: primary + guardrails; BH: secondary)."""
    relative_effect: float
    """``effect`` divided by the pilot sites' counterfactual level (0.05 = +5%)."""
    relative_ci_low: float
    """Lower end of the delta-method interval of ``relative_effect``."""
    relative_ci_high: float
    """Upper end of that interval."""
    method: str
    """Headline estimator and inference."""
    method_reason: str
    """One sentence on why this method is the headline."""
    n_pilot_sites: int
    """Pilot sites used by the headline method."""
    n_control_sites: int
    """Control sites used by the headline method."""
    verdict: str
    """``"better"``, ``"worse"``, ``"inconclusive"`` or ``"equivalent"``."""
    verdict_reason: str
    """Why that verdict."""
    alpha: float
    """Significance level."""
    min_effect: float | None
    """Smallest effect of interest (metric units, magnitude) used for equivalence."""
    margin: float | None
    """Guardrail non-inferiority margin (metric units, magnitude)."""
    methods: dict[str, Any] = field(default_factory=dict)
    """Every estimator computed: ``did``, ``ancova``, ``welch``, ``permutation``, ``rank`` (and
    ``paired`` for a paired design)."""
    diagnostics: MetricDiagnostics | None = None
    """Pre-trend, balance, warnings and completeness."""
    relative: RelativeEffect | None = field(default=None, repr=False)
    """Details of the relative effect."""
    error: str | None = None
    """Why the metric could not be analysed (numbers are then missing)."""
    forced_method_invalid: Reason | None = None
    """Set when ``method`` forced an estimator the engine calls invalid for this design: its
    numbers stay in ``methods`` but the headline (and verdict) come from the valid method.
    Codes: ``single_pilot_site``, ``single_control_site``, ``few_sites_per_arm``,
    ``not_estimable``; ``params`` name the ``requested`` and ``used`` methods."""

    def summary(self) -> str:
        """A few lines describing the headline and the warnings."""
        head = f"{self.metric} [{self.role}, better = {self.direction}]"
        if self.error:
            return f"{head}: not analysed -- {self.error}"
        rel = (
            f" ({100 * self.relative_effect:+.1f}%, CI {100 * self.relative_ci_low:+.1f}% to "
            f"{100 * self.relative_ci_high:+.1f}%)"
            if _finite(self.relative_effect)
            else ""
        )
        lines = [
            f"{head}: effect {self.effect:+.4g}{rel}",
            f"  {ci_text(self.alpha, self.ci_low, self.ci_high)}, p={self.p_value:.4f}, "
            f"adjusted p={self.p_adjusted:.4f} -> {self.verdict.upper()} ({self.verdict_reason})",
            f"  method: {self.method}; {self.n_pilot_sites} pilot vs {self.n_control_sites} "
            "control sites",
            f"  why: {self.method_reason}",
        ]
        if self.forced_method_invalid:
            lines.append(f"  note: {self.forced_method_invalid.text}")
        for name, res in self.methods.items():
            lines.append(f"    {name:<12} {res.summary()}")
        if self.diagnostics:
            lines += ["  " + line for line in self.diagnostics.summary().splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ComparisonReport(ResultMixin):
    """All metrics of one pilot comparison."""

    metrics: dict[str, MetricResult]
    """Results by metric key, ordered primary, guardrails, secondary."""
    parameters: dict[str, Any]
    """The inputs that shaped the analysis (dates, alpha, method, seed, roles, ...)."""
    warnings: list[str]
    """Cautions that concern the whole comparison."""
    n_pilot_sites: int
    """Pilot sites listed."""
    n_control_sites: int
    """Control sites listed."""
    balance: BalanceResult | None = None
    """Balance of site attributes and pre-period means of every metric."""
    completeness: CompletenessResult | None = None
    """Missing site-days by metric, arm and period."""
    version: str = __version__
    """Version of the analysis engine."""

    @property
    def primary(self) -> MetricResult | None:
        """The primary metric's result, if any."""
        return next((m for m in self.metrics.values() if m.role == "primary"), None)

    def summary(self) -> str:
        """Readable text report."""
        p = self.parameters
        end = p.get("end") or "last observed day"
        lines = [
            f"Rollwise comparison (analysis {self.version}): {self.n_pilot_sites} pilot vs "
            f"{self.n_control_sites} control sites; start {p['start']}, end {end}; "
            f"alpha {p['alpha']}, method {p['method']}",
            "",
        ]
        for result in self.metrics.values():
            lines += [result.summary(), ""]
        if self.warnings:
            lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines).rstrip() + "\n"


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float | np.floating) and math.isfinite(x)


def choose_method(
    n_pilot: int,
    n_control: int,
    median_pre_days: float,
    share_with_pre: float,
) -> tuple[str, str]:
    """The auto rule: ``(method, reason)`` from the design of one metric.

    1. One pilot site: permutation (clustered SEs are meaningless with one treated cluster).
    2. Fewer than ``MIN_SITES_FOR_ASYMPTOTICS`` (6) pilot or control sites: permutation.
    3. A stable pre-period -- median ``>= 7`` pre-period days per site and ``>= 80%`` of sites
       observed in both periods: ANCOVA on site means (HC2, Bell-McCaffrey df).
    4. Otherwise the panel DiD with site-clustered SE when both arms have at least
       ``MIN_SITES_FOR_CLUSTERED_DID`` (20) sites, else permutation.

    Evidence (``tests/bench/simulate_error_rates.py``, ``docs/analysis.md``): ANCOVA kept the
    false-positive rate at 4.4-5.5% with 6-20 sites per arm, balanced or not, while the
    clustered DiD (CR1, t(G-1)) rejected 7-10% of A/A pilots when the arms were unequal (10 vs
    30, 6 vs 30, 10 vs 100) and 15% with 4 pilot sites; it was on target with 20 vs 20.
    """
    if n_pilot == 1:
        return "permutation", (
            "With a single pilot site clustered standard errors are meaningless (one cluster "
            "carries the whole effect), so inference is by permutation over which site was "
            "the pilot."
        )
    if min(n_pilot, n_control) < MIN_SITES_FOR_ASYMPTOTICS:
        return "permutation", (
            f"With only {n_pilot} pilot and {n_control} control sites, cluster-robust and "
            "t-based standard errors are unreliable (fewer than "
            f"{MIN_SITES_FOR_ASYMPTOTICS} per arm), so inference is by permutation of the "
            "site assignment."
        )
    if median_pre_days >= MIN_PRE_DAYS_FOR_ANCOVA and share_with_pre >= 0.8:
        return "ancova", (
            f"A stable pre-period (median {median_pre_days:g} days per site) lets ANCOVA on "
            "site means remove most between-site variance; its HC2 standard errors with "
            "Bell-McCaffrey degrees of freedom kept the false-positive rate near alpha in "
            "simulation."
        )
    if min(n_pilot, n_control) >= MIN_SITES_FOR_CLUSTERED_DID:
        return "did", (
            f"The pre-period is short or patchy (median {median_pre_days:g} days per site), so "
            "the headline is the panel DiD with site and day effects; with at least "
            f"{MIN_SITES_FOR_CLUSTERED_DID} sites per arm its site-clustered standard errors "
            "are reliable."
        )
    return "permutation", (
        f"The pre-period is short or patchy (median {median_pre_days:g} days per site) and an "
        f"arm has fewer than {MIN_SITES_FOR_CLUSTERED_DID} sites, where clustered DiD "
        "standard errors over-reject, so inference on the site-mean DiD is by permutation of "
        "the site assignment."
    )


def choose_paired_method(n_groups: int) -> tuple[str, str]:
    """The auto rule of a paired design (pilot randomized inside ``n_groups`` matched groups).

    With at least ``MIN_SITES_FOR_ASYMPTOTICS`` (6) groups: pair fixed effects with t(G - 1)
    (the paired t-test for pairs). With fewer: the permutation test inside the groups, which
    is exact under the design's randomization.
    """
    if n_groups >= MIN_SITES_FOR_ASYMPTOTICS:
        return "paired", (
            f"The pilot was randomized inside {n_groups} matched groups, so the analysis "
            "follows the design: pair fixed effects on the site-level change (the paired "
            f"difference) with a t({n_groups - 1}) interval; the permutation test flips the "
            "assignment inside each group exactly as it was drawn."
        )
    return "permutation", (
        f"The pilot was randomized inside only {n_groups} matched groups, too few for a t "
        "reference, so inference is by permutation of the assignment inside each group "
        "exactly as it was drawn."
    )


_INVALID_TAIL = "its numbers are shown under methods; the headline and verdict use {used}."


def forced_method_problem(
    method: str, n_pilot: int, n_control: int, error: str | None, used: str
) -> Reason | None:
    """Why the engine calls a forced ``method`` invalid for this design (``None`` if valid).

    * ``did``, ``ancova`` or ``welch`` with a single pilot (control) site: clustered and
      t-based standard errors are meaningless (``single_pilot_site`` / ``single_control_site``);
    * ``did`` or ``welch`` with fewer than ``MIN_SITES_FOR_ASYMPTOTICS`` sites in an arm
      (``few_sites_per_arm``): in the seeded study of ``docs/analysis.md`` they rejected 12.8 %
      and 6.6 % of A/A pilots with 4 vs 30 sites (ANCOVA with Bell-McCaffrey df kept 4.6 %);
    * any forced method that could not be estimated while ``used`` could (``not_estimable``).

    ``used`` is the method the headline falls back to (the auto choice).
    """
    if method in ("did", "ancova", "welch") and min(n_pilot, n_control) == 1:
        arm = "pilot" if n_pilot == 1 else "control"
        return make_reason(
            f"single_{arm}_site",
            "The {requested} estimator was requested, but with a single " + arm + " site "
            "clustered and t-based standard errors are meaningless (one site carries the whole "
            "difference); " + _INVALID_TAIL,
            requested=method,
            used=used,
        )
    if method in ("did", "welch") and min(n_pilot, n_control) < MIN_SITES_FOR_ASYMPTOTICS:
        return make_reason(
            "few_sites_per_arm",
            "The {requested} estimator was requested, but with {n_pilot} pilot and {n_control} "
            "control sites its standard errors are unreliable (fewer than {minimum} per arm; in "
            "simulation it rejected true nulls more often than alpha); " + _INVALID_TAIL,
            requested=method,
            used=used,
            n_pilot=n_pilot,
            n_control=n_control,
            minimum=MIN_SITES_FOR_ASYMPTOTICS,
        )
    if error is not None:
        return make_reason(
            "not_estimable",
            "The {requested} estimator was requested but cannot be estimated here ({error}); "
            + _INVALID_TAIL,
            requested=method,
            used=used,
            error=error,
        )
    return None


def decide_verdict(
    effect: float,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    alpha: float,
    direction: str = "increase",
    min_effect: float | None = None,
    margin: float | None = None,
) -> tuple[str, str]:
    """``(verdict, reason)`` for one metric.

    Work in the "good" direction (flip the sign for ``direction="decrease"``):

    * ``better`` -- adjusted p below ``alpha`` and the interval entirely on the good side;
    * ``worse`` -- adjusted p below ``alpha`` and the interval entirely on the bad side;
    * ``equivalent`` -- with a guardrail ``margin``: harm larger than the margin is excluded
      (interval's bad end above ``-margin``, i.e. non-inferior); with ``min_effect``: the
      interval lies inside ``(-min_effect, +min_effect)``;
    * ``inconclusive`` -- anything else, and whenever a number is missing.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not all(_finite(v) for v in (effect, p_adjusted)):
        return "inconclusive", "no valid estimate"
    if not (_finite(ci_low) and _finite(ci_high)):
        return "inconclusive", "the interval is unbounded: too few sites to reach this alpha"
    sign = 1.0 if direction == "increase" else -1.0
    low, high = sorted((sign * ci_low, sign * ci_high))
    significant = p_adjusted < alpha
    if significant and low > 0:
        return "better", f"significant {direction}, the interval excludes no effect"
    if significant and high < 0:
        return "worse", "significant change in the wrong direction"
    if margin is not None:
        if low > -margin:
            return "equivalent", f"non-inferior: harm larger than the margin {margin:g} excluded"
        return "inconclusive", f"harm larger than the margin {margin:g} cannot be excluded"
    if min_effect is not None:
        if -min_effect < low and high < min_effect:
            return "equivalent", f"the interval lies within +/-{min_effect:g}"
        return "inconclusive", f"the interval is not within +/-{min_effect:g} and includes 0"
    return "inconclusive", "the interval includes no effect"


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


@dataclass(slots=True)
class _Draft:
    """Per-metric pieces computed before the multiplicity adjustment."""

    metric: str
    role: str
    headline: str
    reason: str
    methods: dict[str, Any]
    relative: RelativeEffect | None
    diagnostics: MetricDiagnostics | None
    error: str | None = None
    invalid: Reason | None = None


def _panel(obs: pd.DataFrame, arms: pd.Series, start: pd.Timestamp) -> pd.DataFrame:
    panel = obs[["site_id", "date", "value"]].copy()
    panel["arm"] = panel["site_id"].map(arms)
    panel["treated"] = ((panel["arm"] == "pilot") & (panel["date"] >= start)).astype(float)
    return panel


def _degenerate(obs: pd.DataFrame, means: pd.DataFrame, metric: str) -> str | None:
    """Why ``metric`` cannot be analysed at all (None when it can)."""
    with_post = means.loc[means["n_post"] > 0, "arm"]
    if with_post.empty:
        return f"no post-period data for metric {metric!r}"
    for arm in ("pilot", "control"):
        if not (with_post == arm).any():
            return f"no {arm} site has post-period data for metric {metric!r}"
    if np.ptp(obs["value"].to_numpy()) == 0:
        return f"metric {metric!r} is constant ({obs['value'].iloc[0]:g} everywhere)"
    return None


@dataclass(slots=True)
class _SiteData:
    """The site-level view of one metric: which sites, and what outcome per site."""

    used: pd.DataFrame
    """Site means (``arm, pre, post``) of the sites used by site-level methods."""
    outcome: pd.Series
    """Change (post - pre) per site, or the post mean when there is no pre-period."""
    has_pre: bool
    """Whether pre-period means exist for both arms."""
    dropped: int
    """Sites with data in only one period, left out of the site-level methods."""

    @property
    def is_pilot(self) -> np.ndarray:
        return (self.used["arm"] == "pilot").to_numpy()


def _site_data(means: pd.DataFrame) -> _SiteData:
    both = means.dropna(subset=["pre", "post"])
    if len(both) and both["arm"].nunique() == 2:
        dropped = len(means) - len(both)
        return _SiteData(both, both["post"] - both["pre"], True, dropped)
    outcome = means["post"].dropna()
    return _SiteData(means.loc[outcome.index], outcome, False, 0)


def _run_methods(
    panel: pd.DataFrame,
    data: _SiteData,
    stratum: pd.Series | None,
    *,
    alpha: float,
    seed: int,
    n_permutations: int,
    groups: pd.Series | None = None,
) -> dict[str, Any]:
    """Every estimator of one metric; ``groups`` (matched group per site) adds ``paired`` and
    makes the permutation test flip the assignment inside each group."""
    y, z = data.outcome.to_numpy(), data.is_pilot
    labels = None if stratum is None else stratum.to_numpy()
    if groups is not None:
        labels = _unique_when_missing(groups.reindex(data.outcome.index))
    permutation = permutation_test(
        y,
        z,
        strata=labels,
        alpha=alpha,
        n_permutations=n_permutations,
        seed=seed,
        exact_limit=EXACT_LIMIT if groups is None else PAIRED_EXACT_LIMIT,
    )
    if not data.has_pre and not permutation.error:
        permutation = replace(
            permutation, statistic="difference in post-period site means, pilot minus control"
        )
    if groups is not None and not permutation.error:
        permutation = replace(
            permutation,
            statistic=permutation.statistic + "; pilot permuted inside each matched group",
        )
    methods = {
        "did": did(panel, alpha=alpha),
        "ancova": ancova(data.used if data.has_pre else _NO_SITES, alpha=alpha, strata=stratum),
        "welch": welch(y, z, alpha=alpha),
        "permutation": permutation,
        "rank": rank_test(y, z, alpha=alpha),
    }
    if groups is not None:
        methods["paired"] = paired_effect(
            y, z, groups.reindex(data.outcome.index).to_numpy(), alpha=alpha
        )
    return methods


def _unique_when_missing(labels: pd.Series) -> np.ndarray:
    """Group labels as strings; a site outside every group gets a stratum of its own (which
    holds one arm, so the permutation test leaves it out)."""
    text = labels.astype(object).where(labels.notna(), None)
    return np.array(
        [f"group {v}" if v is not None else f"alone {sid}" for sid, v in text.items()],
        dtype=object,
    )


def _auto_headline(
    data: _SiteData, means: pd.DataFrame, groups: pd.Series | None
) -> tuple[str, str]:
    """The method ``method="auto"`` picks, and the sentence explaining it."""
    n_pilot = int(data.is_pilot.sum())
    n_control = len(data.is_pilot) - n_pilot
    if not data.has_pre:
        return "permutation", (
            "Without pre-period data only post-period site means can be compared; inference "
            "is by permutation of the site assignment."
        )
    if groups is not None:
        labels = groups.reindex(data.used.index)
        arms = data.used["arm"].groupby(labels).nunique()
        return choose_paired_method(int((arms == 2).sum()))
    with_post = means[means["n_post"] > 0]
    return choose_method(
        n_pilot,
        n_control,
        median_pre_days=float(np.median(with_post["n_pre"])),
        share_with_pre=float((with_post["n_pre"] > 0).mean()),
    )


def _headline(
    method: str,
    data: _SiteData,
    means: pd.DataFrame,
    methods: dict[str, Any],
    groups: pd.Series | None,
    warnings: list[str],
) -> tuple[str, str, Reason | None]:
    """The headline method, the sentence explaining it, and why a forced method was refused."""
    auto, why = _auto_headline(data, means, groups)
    if method == "auto":
        return auto, why, None
    n_pilot = int(data.is_pilot.sum())
    n_control = len(data.is_pilot) - n_pilot
    problem = forced_method_problem(method, n_pilot, n_control, methods[method].error, auto)
    if problem is None or methods[auto].error:
        return method, f"The {method} estimator was requested explicitly.", None
    warnings.append(problem.text)
    return auto, f"{why} ({problem.text})", problem


def _diagnostics(
    metric: str,
    obs: pd.DataFrame,
    sites: pd.DataFrame,
    panel: pd.DataFrame,
    means: pd.DataFrame,
    data: _SiteData,
    methods: dict[str, Any],
    start: pd.Timestamp,
    alpha: float,
    attribute_balance: BalanceResult,
    warnings: list[str],
) -> MetricDiagnostics:
    n_pilot = int(data.is_pilot.sum())
    if data.dropped:
        warnings.append(
            f"{data.dropped} site(s) lack pre- or post-period data for {metric} and are left "
            "out of the site-level methods (balanced subsample)."
        )
    if not data.has_pre:
        warnings.append(
            f"No pre-period data for {metric}: site-level methods compare post-period means "
            "without adjustment, and DiD/ANCOVA are not available."
        )
    if n_pilot == 1:
        warnings.append(
            "A single pilot site: the smallest attainable permutation p-value is "
            f"1/{count_assignments(data.is_pilot)}; effects cannot be separated from that "
            "site's own idiosyncrasies."
        )
    trend = pretrend(panel, start, alpha=alpha) if data.has_pre else None
    if trend is not None and not trend.error:
        if trend.passed is False:
            warnings.append(
                f"Pre-trends differ for {metric} (joint test of {trend.n_leads} lead weeks "
                f"p={trend.p_value:.3f}): the parallel-trends assumption behind DiD is doubtful."
            )
        elif n_pilot < 10 or trend.n_leads < 3:
            warnings.append(WEAK_EVIDENCE)
    metric_balance = attribute_balance
    if data.has_pre:
        rtm = regression_to_mean(means["pre"].dropna(), sites, metric)
        if rtm:
            warnings.append(rtm)
        threshold = attribute_balance.threshold
        own = balance(sites[["site_id", "arm"]], {metric: means["pre"]}, threshold)
        metric_balance = BalanceResult(attribute_balance.rows + own.rows, threshold)
    flagged = [r.variable for r in metric_balance.rows if r.flagged]
    if flagged:
        warnings.append(
            f"Imbalanced before the start (|SMD| > {metric_balance.threshold}): "
            f"{', '.join(flagged)}."
        )
    missing = _missing_share(obs, sites)
    for arm, share in missing.items():
        if share > _MISSING_WARN:
            warnings.append(f"{100 * share:.0f}% of {arm} site-days are missing for {metric}.")
    signs = {
        np.sign(r.effect)
        for name, r in methods.items()
        if name != "rank" and not r.error and abs(r.effect) > 1e-12
    }
    if len(signs) > 1:
        warnings.append(f"Estimators disagree on the sign of the effect on {metric}.")
    return MetricDiagnostics(
        pretrend=trend,
        balance=metric_balance,
        warnings=warnings,
        completeness=missing,
        n_sites_dropped=data.dropped,
    )


def _missing_share(obs: pd.DataFrame, sites: pd.DataFrame) -> dict[str, float]:
    """Share of missing site-days per arm over the days on which the metric was reported."""
    n_days = obs["date"].nunique()
    arm_of = obs["site_id"].map(sites.set_index("site_id")["arm"])
    out = {}
    for arm in ("pilot", "control"):
        expected = int((sites["arm"] == arm).sum()) * n_days
        out[arm] = 1 - int((arm_of == arm).sum()) / expected if expected else float("nan")
    return out


def _analyse_metric(
    metric: str,
    role: str,
    obs: pd.DataFrame,
    sites: pd.DataFrame,
    start: pd.Timestamp,
    *,
    alpha: float,
    method: str,
    seed: int,
    n_permutations: int,
    strata: str | None,
    attribute_balance: BalanceResult,
    groups: pd.Series | None = None,
) -> _Draft:
    """Every estimator and diagnostic of one metric (before multiplicity and verdicts)."""
    means = site_period_means(obs, sites, start)
    problem = _degenerate(obs, means, metric)
    if problem:
        return _Draft(metric, role, "not analysed", "not analysed", {}, None, None, problem)
    data = _site_data(means)
    stratum = (
        None if strata is None else sites.set_index("site_id")[strata].reindex(data.used.index)
    )
    panel = _panel(obs, sites.set_index("site_id")["arm"], start)
    methods = _run_methods(
        panel, data, stratum, alpha=alpha, seed=seed, n_permutations=n_permutations, groups=groups
    )
    warnings: list[str] = []
    headline, reason, invalid = _headline(method, data, means, methods, groups, warnings)
    chosen = methods[headline]
    bounded = math.isfinite(chosen.ci_low) and math.isfinite(chosen.ci_high)
    relative = (
        relative_effect(data.used, chosen.effect, chosen.se if bounded else math.inf, alpha=alpha)
        if data.has_pre and not chosen.error
        else None
    )
    diagnostics = _diagnostics(
        metric, obs, sites, panel, means, data, methods, start, alpha, attribute_balance, warnings
    )
    return _Draft(
        metric, role, headline, reason, methods, relative, diagnostics, chosen.error, invalid
    )


_ESTIMATE = ("effect", "se", "ci_low", "ci_high", "p_value")
"""The numbers a headline takes over from its estimator's result."""


def _headline_numbers(draft: _Draft) -> dict[str, Any]:
    if draft.error or draft.headline not in draft.methods:
        return {**dict.fromkeys(_ESTIMATE, float("nan")), "n_p": 0, "n_c": 0}
    r = draft.methods[draft.headline]
    if isinstance(r, DidResult):
        n_p, n_c = r.n_pilot_sites, r.n_control_sites
    else:
        n_p, n_c = r.n_pilot, r.n_control
    return {**{name: getattr(r, name) for name in _ESTIMATE}, "n_p": n_p, "n_c": n_c}


def _method_label(draft: _Draft) -> str:
    base = _DESCRIPTIONS.get(draft.headline, draft.headline)
    r = draft.methods.get(draft.headline)
    if isinstance(r, PermutationResult) and not r.error:
        how = (
            f"exact over all {r.n_assignments} assignments"
            if r.exact
            else f"{r.n_assignments} seeded random assignments"
        )
        return f"{draft.headline}: {base} ({how})"
    return f"{draft.headline}: {base}"


def compare(
    observations: pd.DataFrame,
    sites: pd.DataFrame,
    start,
    end=None,
    metrics: Sequence[str] | None = None,
    primary: str | None = None,
    guardrails: Sequence[str] | str | None = None,
    alpha: float = 0.05,
    method: str = "auto",
    seed: int = 0,
    min_effect: float | Mapping[str, float] | None = None,
    margins: Mapping[str, float] | None = None,
    directions: Mapping[str, str] | None = None,
    strata: str | None = None,
    n_permutations: int = 10_000,
    pairs: str | Sequence[Sequence[Any]] | Mapping[Any, Any] | None = None,
    on_metric: Callable[[str, int, int], None] | None = None,
) -> ComparisonReport:
    """Compare pilot with control sites on every requested metric.

    Parameters
    ----------
    observations, sites
        Tidy inputs of the analysis contract (see :func:`analysis.data.validate`).
    start, end
        First day of the pilot and optional last day (inclusive).
    metrics
        Metrics to analyse (default: every metric in ``observations``, sorted).
    primary
        The primary metric (default: the first of ``metrics`` when given, else the first
        metric in alphabetical order that is not a guardrail).
    guardrails
        Metrics that must not get worse; adjusted together with the primary (Holm).
    alpha
        Significance level.
    method
        ``"auto"`` (see :func:`choose_method`), ``"did"``, ``"ancova"``, ``"welch"`` or
        ``"permutation"``: the headline estimator. All estimators are always reported.
    seed, n_permutations
        Random draws of the permutation test (exact enumeration when the design has at most
        20,000 assignments).
    min_effect
        Smallest effect of interest, in metric units: a number applies to the primary metric, a
        mapping sets it per metric. Used for "equivalent" verdicts.
    margins
        Guardrail non-inferiority margins by metric (magnitudes, metric units).
    directions
        Better direction by metric, ``"increase"`` (default) or ``"decrease"``.
    strata
        Column of ``sites`` holding the randomization strata (permutation within strata,
        stratum dummies in ANCOVA).
    pairs
        Matched groups of a pilot randomized inside pairs or triplets (``analysis.design``): a
        ``sites`` column of group labels, a list of groups of site ids (``DesignResult.pairs``)
        or a mapping site id -> group; one pilot site per group. Adds ``paired`` (pair fixed
        effects, the auto headline from 6 groups) and permutes the pilot inside each group
        (exact up to 2^16 assignments). Sites outside every group serve the other estimators.
    on_metric
        Called as ``on_metric(metric, index, count)`` before each metric is analysed (index
        from 0), e.g. to show progress; it changes nothing in the results.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_alpha(alpha)
    check_n_permutations(n_permutations)
    obs, site_frame = validate(observations, sites, start, end)
    start_ts = parse_date(start, "start")
    plan = _plan(obs, metrics, primary, guardrails, directions, margins, min_effect)
    if strata is not None and strata not in site_frame.columns:
        raise ValueError(f"strata column {strata!r} is not in sites")
    groups, site_frame = _pairs_and_sites(pairs, site_frame, strata, method)
    settings = {"alpha": alpha, "method": method, "seed": seed, "n_permutations": n_permutations}
    drafts = _analyse_metrics(
        obs, site_frame, start_ts, plan, strata, settings, groups, on_metric=on_metric
    )
    numbers = {m: _headline_numbers(d) for m, d in drafts.items()}
    adjusted = adjust_family(
        {m: n["p_value"] for m, n in numbers.items()}, plan.primary, [g for g in plan.guard]
    )
    results = {
        m: _metric_result(d, numbers[m], adjusted[m], plan, alpha) for m, d in drafts.items()
    }
    settings["pairs"] = None if groups is None else int(groups.dropna().nunique())
    return _report(obs, site_frame, start_ts, end, strata, plan, results, settings)


def _pairs_and_sites(
    pairs: Any, site_frame: pd.DataFrame, strata: str | None, method: str
) -> tuple[pd.Series | None, pd.DataFrame]:
    """The matched groups (:func:`_pair_groups`) and the sites frame without a pair column
    (a group label is not a site attribute to balance)."""
    groups = _pair_groups(pairs, site_frame, strata)
    if method == "paired" and groups is None:
        raise ValueError("method 'paired' needs pairs (the matched groups of the design)")
    if isinstance(pairs, str):
        site_frame = site_frame.drop(columns=[pairs])
    return groups, site_frame


def _pair_groups(
    pairs: str | Sequence[Sequence[Any]] | Mapping[Any, Any] | None,
    sites: pd.DataFrame,
    strata: str | None,
) -> pd.Series | None:
    """Matched group per site (index ``site_id``, NaN outside every group), checked.

    ``ValueError`` when a group lists an unknown site, a site twice, or does not hold exactly
    one pilot site and at least one control site.
    """
    if pairs is None:
        return None
    if strata is not None:
        raise ValueError("give strata or pairs, not both")
    ids = sites["site_id"]
    if isinstance(pairs, str):
        if pairs not in sites.columns:
            raise ValueError(f"pairs column {pairs!r} is not in sites")
        groups = pd.Series(sites[pairs].to_numpy(), index=ids.to_numpy())
        groups = groups.where(groups.notna()).astype(object)
    else:
        items = (
            pairs.items()
            if isinstance(pairs, Mapping)
            else ((site, k) for k, group in enumerate(pairs, start=1) for site in _as_group(group))
        )
        mapping: dict[str, Any] = {}
        for site, k in items:
            key = str(site).strip()
            if key in mapping:
                raise ValueError(f"site {key!r} is in more than one pair")
            mapping[key] = k
        unknown = sorted(set(mapping) - set(ids))
        if unknown:
            raise ValueError(f"pairs list unknown site id(s) {unknown[:10]}")
        groups = pd.Series([mapping.get(s) for s in ids], index=ids.to_numpy(), dtype=object)
    arms = sites.set_index("site_id")["arm"]
    listed = groups.dropna()
    pilots = (arms[listed.index] == "pilot").groupby(listed.to_numpy()).agg(["sum", "size"])
    bad = pilots.index[(pilots["sum"] != 1) | (pilots["size"] < 2)].tolist()
    if bad:
        raise ValueError(
            f"each pair must hold exactly one pilot and at least one control site; "
            f"group(s) {bad[:10]} do not"
        )
    return groups.rename_axis("site_id")


def _as_group(group: Any) -> list[Any]:
    if isinstance(group, str) or not isinstance(group, Sequence):
        raise ValueError(f"each pair must be a list of site ids, got {group!r}")
    return list(group)


def _analyse_metrics(
    obs: pd.DataFrame,
    site_frame: pd.DataFrame,
    start_ts: pd.Timestamp,
    plan: _MetricPlan,
    strata: str | None,
    settings: dict[str, Any],
    groups: pd.Series | None = None,
    on_metric: Callable[[str, int, int], None] | None = None,
) -> dict[str, _Draft]:
    """:func:`_analyse_metric` for every metric, in the plan's order."""
    attribute_balance = balance(site_frame.drop(columns=[strata] if strata else []), None)
    drafts: dict[str, _Draft] = {}
    for index, m in enumerate(plan.order):
        if on_metric is not None:
            on_metric(m, index, len(plan.order))
        drafts[m] = _analyse_metric(
            m,
            plan.roles[m],
            obs[obs["metric"] == m],
            site_frame,
            start_ts,
            strata=strata,
            attribute_balance=attribute_balance,
            groups=groups,
            **settings,
        )
    return drafts


def _report(
    obs: pd.DataFrame,
    site_frame: pd.DataFrame,
    start_ts: pd.Timestamp,
    end: Any,
    strata: str | None,
    plan: _MetricPlan,
    results: dict[str, MetricResult],
    settings: dict[str, Any],
) -> ComparisonReport:
    """The report: per-metric results, the inputs, whole-comparison warnings and balance."""
    order = plan.order
    report_warnings = []
    silent = sorted(set(site_frame["site_id"]) - set(obs["site_id"]))
    if silent:
        report_warnings.append(
            f"{len(silent)} listed site(s) have no observations: {', '.join(silent[:10])}"
            + (" ..." if len(silent) > 10 else "")
        )
    pre_means = {
        m: site_period_means(obs[obs["metric"] == m], site_frame, start_ts)["pre"] for m in order
    }
    attributes = site_frame.drop(columns=[strata] if strata else [])
    full_balance = balance(attributes, pre_means, BALANCE_THRESHOLD)
    arm_counts = site_frame["arm"].value_counts()
    return ComparisonReport(
        metrics=results,
        parameters={
            "start": start_ts.date().isoformat(),
            "end": None if end is None else parse_date(end, "end").date().isoformat(),
            "metrics": order,
            "primary": plan.primary,
            "guardrails": plan.guard,
            "alpha": settings["alpha"],
            "method": settings["method"],
            "seed": settings["seed"],
            "n_permutations": settings["n_permutations"],
            "min_effect": plan.min_effects,
            "margins": plan.margins,
            "directions": {m: plan.directions.get(m, "increase") for m in order},
            "strata": strata,
            "pairs": settings.get("pairs"),
        },
        warnings=report_warnings,
        n_pilot_sites=int(arm_counts.get("pilot", 0)),
        n_control_sites=int(arm_counts.get("control", 0)),
        balance=full_balance,
        completeness=completeness(obs[obs["metric"].isin(order)], site_frame, start_ts, end),
    )


@dataclass(frozen=True, slots=True)
class _MetricPlan:
    """Which metrics are analysed, in which role, and what counts as better for each."""

    primary: str | None
    guard: list[str]
    order: list[str]
    """Primary, then guardrails, then secondary metrics."""
    roles: dict[str, str]
    directions: dict[str, str]
    margins: dict[str, float]
    min_effects: dict[str, float]


def _plan(
    obs: pd.DataFrame,
    metrics: Sequence[str] | None,
    primary: str | None,
    guardrails: Sequence[str] | str | None,
    directions: Mapping[str, str] | None,
    margins: Mapping[str, float] | None,
    min_effect: float | Mapping[str, float] | None,
) -> _MetricPlan:
    """Resolve the metric roles and check the per-metric settings (``ValueError`` if wrong)."""
    available = sorted(obs["metric"].unique())
    requested = list(dict.fromkeys(_as_list(metrics) or available))
    guard = list(dict.fromkeys(_as_list(guardrails)))
    primary = primary if primary is not None else (requested[0] if metrics else None)
    if primary is None and requested:
        primary = next((m for m in requested if m not in guard), None)
    for name in [*requested, *guard, *([primary] if primary else [])]:
        if name not in available:
            raise ValueError(f"unknown metric {name!r}; observations have {available}")
    if primary in guard:
        raise ValueError(f"metric {primary!r} cannot be both primary and a guardrail")
    directions = dict(directions or {})
    for key, value in directions.items():
        if value not in DIRECTIONS:
            raise ValueError(f"direction of {key!r} must be one of {DIRECTIONS}, got {value!r}")
    margins = dict(margins or {})
    for key, value in margins.items():
        if not (_finite(value) and value > 0):
            raise ValueError(f"margin of {key!r} must be a positive number, got {value!r}")
    if isinstance(min_effect, Mapping):
        min_effects = dict(min_effect)
    elif min_effect is not None:
        min_effects = {primary: min_effect} if primary else {}
    else:
        min_effects = {}
    for key, value in min_effects.items():
        if not (_finite(value) and value > 0):
            raise ValueError(f"min_effect of {key!r} must be a positive number, got {value!r}")
    order = [primary] if primary else []
    order += [m for m in guard if m not in order]
    order += [m for m in requested if m not in order]
    roles = {
        m: "primary" if m == primary else "guardrail" if m in guard else "secondary" for m in order
    }
    return _MetricPlan(primary, guard, order, roles, directions, margins, min_effects)


def _metric_result(
    d: _Draft, n: dict[str, Any], p_adjusted: float, plan: _MetricPlan, alpha: float
) -> MetricResult:
    """The headline of one metric with its adjusted p-value and verdict."""
    m = d.metric
    direction = plan.directions.get(m, "increase")
    margin = plan.margins.get(m) if plan.roles[m] == "guardrail" else None
    verdict, why = decide_verdict(
        n["effect"],
        n["ci_low"],
        n["ci_high"],
        p_adjusted,
        alpha,
        direction,
        plan.min_effects.get(m),
        margin,
    )
    rel = d.relative
    return MetricResult(
        metric=m,
        role=plan.roles[m],
        direction=direction,
        **{name: n[name] for name in _ESTIMATE},
        p_adjusted=p_adjusted,
        relative_effect=rel.relative_effect if rel else float("nan"),
        relative_ci_low=rel.ci_low if rel else float("nan"),
        relative_ci_high=rel.ci_high if rel else float("nan"),
        method=_method_label(d) if d.methods else d.headline,
        method_reason=d.reason or "not analysed",
        n_pilot_sites=n["n_p"],
        n_control_sites=n["n_c"],
        verdict=verdict if not d.error else "inconclusive",
        verdict_reason=why if not d.error else f"not analysed: {d.error}",
        alpha=alpha,
        min_effect=plan.min_effects.get(m),
        margin=margin,
        methods=d.methods,
        diagnostics=d.diagnostics,
        relative=rel,
        error=d.error,
        forced_method_invalid=d.invalid,
    )
