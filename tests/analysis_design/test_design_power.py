"""Power of the chosen design by placebo pilots on the history, and the advice when short."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.power import TTestIndPower

from analysis import design, simulate_registry
from analysis.design_power import design_power
from analysis.power import change_sd
from analysis.simulate import PROBLEM_METRIC


@pytest.fixture(scope="module")
def registry():
    """120 sites with 56 days of history (the wizard's default 4 + 4 weeks fit exactly)."""
    return simulate_registry(120, seed=3, days=56)


@pytest.fixture(scope="module")
def plan(registry):
    sites, history = registry
    return design(sites, history, n_pilots=10, problem_metric=PROBLEM_METRIC, match=("region",))


def test_56_days_of_history_and_4_plus_4_weeks_give_a_number(registry, plan):
    # issue 19: "history covers 56 days ... needs at least 57" must not happen again
    sites, history = registry
    # 55 days: the post-period kept, the pre-period shortened to 27 days; 30 days: too few
    # for 7 + 28, so both are shrunk in proportion (15 + 15)
    used = {56: (28, 28), 55: (27, 28), 30: (15, 15)}
    for days in (56, 55, 30):
        short = history[history["date"] < history["date"].min() + pd.Timedelta(days=days)]
        for kwargs in (dict(design=plan, registry=sites), dict(n_pilot=10, n_control=10)):
            res = design_power(
                short, metric=PROBLEM_METRIC, pre_days=28, post_days=28, n_sims=1000, **kwargs
            )
            assert res.error is None, res.error
            assert np.isfinite(res.mde) and res.mde > 0
            assert "could not" not in res.summary()
            codes = [a.code for a in res.advice]
            if days < 56:
                assert (res.pre_days_used, res.post_days_used) == used[days]
                more = next(a for a in res.advice if a.code == "more_history")
                assert more.params["days"] == 56 - days and more.params["needed_days"] == 56
            else:
                assert "more_history" not in codes
                assert (res.pre_days_used, res.post_days_used) == used[days]


def test_a_history_too_short_for_any_window_still_returns_advice(registry, plan):
    sites, history = registry
    one_day = history[history["date"] == history["date"].min()]
    res = design_power(one_day, plan, metric=PROBLEM_METRIC, registry=sites, n_sims=500)
    assert res.error is not None
    assert res.advice[0].code == "more_history" and res.advice[0].params["days"] == 55


def test_unpaired_minimum_detectable_effect_matches_the_analytic_formula():
    # Reference: statsmodels TTestIndPower (noncentral t, G - 2 df) with the effect size
    # scaled by analysis.power.change_sd (the same sliding windows). Long history: 200 days,
    # 14 + 14 day windows, so placebo pilots come from 173 windows. The simulation uses Welch's
    # test on random sites; tolerance 8 % (Monte Carlo with 4,000 placebo pilots, Welch vs
    # pooled df).
    sites, history = simulate_registry(80, seed=11, days=200, trend_sd=0.0)
    wait = history[history["metric"] == PROBLEM_METRIC]
    res = design_power(wait, n_pilot=10, n_control=20, pre_days=14, post_days=14, seed=2)
    sd = change_sd(wait, 14, 14)
    size = TTestIndPower().solve_power(nobs1=10, ratio=2.0, alpha=0.05, power=0.8)
    assert_allclose(res.mde, size * sd, rtol=0.08)
    # placebo pilots without effect: the test's size, near alpha (the draws share windows,
    # so a loose band)
    assert 0.02 <= res.placebo_rejection <= 0.08


def test_min_effect_power_and_the_more_sites_advice(registry):
    sites, history = registry
    wait = history[history["metric"] == PROBLEM_METRIC]
    small = design_power(wait, n_pilot=6, n_control=6, min_effect=1.0, n_sims=2000, seed=1)
    assert small.power_at_min_effect < 0.8
    more = next(a for a in small.advice if a.code == "more_sites")
    n = more.params["n_pilot"]
    assert n > 6 and more.params["extra_sites"] == 2 * (n - 6)
    # applying the advice reaches (about) the target: the extrapolation scales the simulated
    # spread by sqrt(6 / n); Monte Carlo and the change of df leave a few points of slack
    bigger = design_power(wait, n_pilot=n, n_control=n, min_effect=1.0, n_sims=2000, seed=1)
    assert bigger.power_at_min_effect >= 0.72
    assert not any(a.code == "more_sites" for a in bigger.advice) or bigger.mde > 1.0


def test_paired_groups_are_formed_out_of_sample_by_the_design_rule(registry, plan):
    sites, history = registry
    long_sites, long_history = simulate_registry(120, seed=3, days=112)
    res = design_power(
        long_history,
        plan,
        metric=PROBLEM_METRIC,
        registry=long_sites,
        pre_days=28,
        post_days=28,
        n_sims=2000,
    )
    assert res.paired and res.n_windows == 112 - 56 + 1
    assert res.error is None and np.isfinite(res.mde)
    assert 0.0 <= res.placebo_rejection <= 0.1
    without = design_power(long_history, plan, metric=PROBLEM_METRIC, n_sims=500)
    assert any("registry=" in w for w in without.warnings)


def test_design_power_mistakes_raise_value_error(registry, plan):
    _, history = registry
    with pytest.raises(ValueError, match="n_pilot and n_control"):
        design_power(history, metric=PROBLEM_METRIC)
    with pytest.raises(ValueError, match="several metrics"):
        design_power(history, n_pilot=4, n_control=4)
    with pytest.raises(ValueError, match="unknown metric"):
        design_power(history, n_pilot=4, n_control=4, metric="nope")
    with pytest.raises(ValueError, match="alternative"):
        design_power(history, plan, metric=PROBLEM_METRIC, alternative="up")
    with pytest.raises(ValueError, match="pre_days"):
        design_power(history, plan, metric=PROBLEM_METRIC, pre_days=0)
