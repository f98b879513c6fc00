"""Power and minimum detectable effect from history: analytic vs statsmodels, vs simulation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from analysis.power import (
    change_sd,
    days_for_power_by_se,
    minimum_detectable_effect,
    power,
    t_test_power,
)

from .helpers import pilot_frames


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    # 60 sites x 84 days of history, no pilot (AR(1) noise, weekday and site effects)
    obs, _, _, _ = pilot_frames(31, 0, 60, 84, 0, attributes=False)
    return obs


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
@pytest.mark.parametrize(("es", "n1", "n2"), [(0.8, 10, 30), (-0.5, 12, 12), (1.3, 5, 40)])
def test_formula_matches_statsmodels_ttestindpower(alternative, es, n1, n2):
    ours = t_test_power(es, n1, n2, 0.05, alternative)
    # statsmodels TTestIndPower().power(effect_size, nobs1, alpha, ratio, alternative)
    ref = TTestIndPower().power(es, n1, 0.05, ratio=n2 / n1, alternative=alternative)
    assert_allclose(ours, ref, rtol=1e-8)
    normal = t_test_power(es, n1, n2, 0.05, alternative, distribution="normal")
    # statsmodels NormalIndPower, the large-sample version
    ref_n = NormalIndPower().power(es, n1, 0.05, ratio=n2 / n1, alternative=alternative)
    assert_allclose(normal, ref_n, rtol=1e-8)


def test_change_sd_is_the_mean_cross_site_variance_of_window_changes(history):
    pre, post = 14, 7
    wide = history.pivot(index="site_id", columns="date", values="value").to_numpy()
    variances = []
    for s in range(pre, wide.shape[1] - post + 1):  # straightforward loop as the reference
        change = wide[:, s : s + post].mean(axis=1) - wide[:, s - pre : s].mean(axis=1)
        variances.append(change.var(ddof=1))
    assert_allclose(change_sd(history, pre, post), math.sqrt(np.mean(variances)), rtol=1e-12)


def test_analytic_power_equals_statsmodels_in_effect_size_units(history):
    res = power(history, 10, 30, 28, 28, effect=3.0)
    assert res.solved_for == "power" and res.error is None
    ref = TTestIndPower().power(3.0 / res.sd_change, 10, 0.05, ratio=3.0)
    # statsmodels TTestIndPower with effect_size = effect / sd_change
    assert_allclose(res.power, ref, rtol=1e-8)
    assert_allclose(res.se, res.sd_change * math.sqrt(1 / 10 + 1 / 30), rtol=1e-12)
    assert_allclose(res.relative_effect, 3.0 / res.baseline_mean, rtol=1e-12)


def test_solving_for_effect_and_n_pilot_agrees_with_statsmodels(history):
    mde = minimum_detectable_effect(history, 10, 30, 28, 28, power=0.8)
    es = TTestIndPower().solve_power(None, nobs1=10, alpha=0.05, power=0.8, ratio=3.0)
    # statsmodels solve_power for the effect size, times the site-change SD
    assert_allclose(mde.effect, es * mde.sd_change, rtol=1e-6)
    smaller = power(history, 10, 30, 28, 28, power=0.8, alternative="smaller")
    assert smaller.effect < 0

    need = power(history, None, 30, 28, 28, effect=0.8 * mde.effect, power=0.8)
    assert need.solved_for == "n_pilot"
    exact = need.n_pilot_exact
    # statsmodels power at the fractional solution reaches exactly the target
    ref = TTestIndPower().power(0.8 * mde.effect / need.sd_change, exact, 0.05, ratio=30 / exact)
    assert_allclose(ref, 0.8, rtol=1e-6)
    assert need.n_pilot == math.ceil(exact) and need.power >= 0.8


def test_simulation_agrees_with_analytic_within_monte_carlo_error(history):
    analytic = power(history, 10, 30, 28, 28, effect=2.0)
    sim = power(history, 10, 30, 28, 28, effect=2.0, method="simulation", n_sims=4000, seed=3)
    assert 0.3 < analytic.power < 0.9
    assert abs(sim.power - analytic.power) <= 4 * sim.mc_se
    # placebo pilots without an effect reject at about alpha: the history-based SD is honest
    null = power(history, 10, 30, 28, 28, effect=0.0, method="simulation", n_sims=4000, seed=4)
    assert abs(null.power - 0.05) <= 4 * math.sqrt(0.05 * 0.95 / 4000)


def test_simulation_solves_for_effect_and_n_pilot(history):
    analytic = power(history, 10, 30, 28, 28, power=0.8)
    sim = power(history, 10, 30, 28, 28, power=0.8, method="simulation", n_sims=2000)
    assert_allclose(sim.effect, analytic.effect, rtol=0.1)
    n_a = power(history, None, 30, 28, 28, effect=analytic.effect, power=0.8)
    n_s = power(
        history,
        None,
        30,
        28,
        28,
        effect=analytic.effect,
        power=0.8,
        method="simulation",
        n_sims=2000,
    )
    assert abs(n_s.n_pilot - n_a.n_pilot) <= 2
    again = power(history, 10, 30, 28, 28, power=0.8, method="simulation", n_sims=2000)
    assert again == sim  # seeded


def test_welch_placebo_test_is_close_to_pooled(history):
    pooled = power(history, 10, 30, 28, 28, effect=2.0, method="simulation", n_sims=3000)
    welch = power(
        history, 10, 30, 28, 28, effect=2.0, method="simulation", n_sims=3000, sim_test="welch"
    )
    assert welch.power <= pooled.power + 3 * pooled.mc_se
    assert abs(welch.power - pooled.power) < 0.1


def test_degenerate_history_gives_errors(history):
    short = history[history["date"] < history["date"].min() + pd.Timedelta(days=20)]
    assert "needs at least 56" in power(short, 10, 30, 28, 28, effect=1.0).error
    too_many = power(history, 40, 30, 28, 28, effect=1.0, method="simulation")
    assert "distinct sites" in too_many.error
    flat = history.assign(value=5.0)
    assert "do not vary" in power(flat, 10, 30, 28, 28, effect=1.0).error
    assert "not computed" in power(short, 10, 30, 28, 28, effect=1.0).summary()


def test_caller_mistakes_raise_value_error(history):
    with pytest.raises(ValueError, match="exactly one"):
        power(history, None, 30, 28, 28)
    with pytest.raises(ValueError, match="exactly one"):
        power(history, 10, 30, 28, 28, effect=1.0, power=0.8)
    with pytest.raises(ValueError, match="alternative"):
        power(history, 10, 30, 28, 28, effect=1.0, alternative="bigger")
    with pytest.raises(ValueError, match="unknown metric"):
        power(history, 10, 30, 28, 28, effect=1.0, metric="visits")
    with pytest.raises(ValueError, match="n_control"):
        power(history, 10, 1, 28, 28, effect=1.0)
    two = pd.concat([history, history.assign(metric="visits")])
    with pytest.raises(ValueError, match="several metrics"):
        power(two, 10, 30, 28, 28, effect=1.0)


def test_days_for_power_by_se_matches_statsmodels_one_sample_z_power():
    # se 0.9 after 28 days => a per-day sd of 0.9 * sqrt(28); effect 0.5, alpha 0.05, power 0.8
    days = days_for_power_by_se(0.9, 28, -0.5, alpha=0.05, target_power=0.8)
    # reference: statsmodels NormalIndPower with ratio=0 is the one-sample z test
    ref = NormalIndPower().solve_power(
        effect_size=0.5 / (0.9 * np.sqrt(28)), alpha=0.05, power=0.8, ratio=0
    )
    assert_allclose(days, ref, rtol=1e-3)  # statsmodels also counts the far tail
    with pytest.raises(ValueError):
        days_for_power_by_se(0.0, 28, 0.5)
