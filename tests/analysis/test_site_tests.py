"""Welch and rank tests on site-level changes against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.site_tests import rank_test, welch


def _data(n_pilot=9, n_control=25, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    values = np.r_[rng.normal(shift, 2.0, n_pilot), rng.normal(0, 1.0, n_control)]
    return values, np.arange(n_pilot + n_control) < n_pilot


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_welch_matches_scipy(alternative):
    y, z = _data()
    ours = welch(y, z, alternative=alternative, alpha=0.1)
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    # scipy.stats.ttest_ind(pilot, control, equal_var=False)
    ref = stats.ttest_ind(y[z], y[~z], equal_var=False, alternative=scipy_alt)
    assert_allclose(ours.p_value, ref.pvalue, rtol=1e-10)
    assert_allclose(ours.effect / ours.se, ref.statistic, rtol=1e-10)
    assert_allclose(ours.df, ref.df, rtol=1e-10)
    if alternative == "two-sided":
        ci = ref.confidence_interval(confidence_level=0.9)
        assert_allclose([ours.ci_low, ours.ci_high], [ci.low, ci.high], rtol=1e-10)


def test_welch_needs_two_sites_per_arm():
    y, z = _data(n_pilot=1)
    result = welch(y, z)
    assert "at least 2 pilot" in result.error and result.to_dict()["p_value"] is None


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_rank_test_matches_scipy(alternative):
    y, z = _data(seed=1)
    ours = rank_test(y, z, alternative=alternative)
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    # scipy.stats.mannwhitneyu(pilot, control)
    ref = stats.mannwhitneyu(y[z], y[~z], alternative=scipy_alt)
    assert_allclose(ours.p_value, ref.pvalue, rtol=1e-10)
    assert ours.u_statistic == ref.statistic


def test_hodges_lehmann_is_median_of_pairwise_differences():
    y, z = _data(seed=2)
    result = rank_test(y, z)
    # definition (Hodges & Lehmann 1963): median over all pilot-control pairs
    pairs = [a - b for a in y[z] for b in y[~z]]
    assert_allclose(result.effect, np.median(pairs), rtol=1e-12)


@pytest.mark.parametrize(("n_pilot", "n_control"), [(5, 7), (9, 25), (40, 80)])
def test_moses_interval_inverts_the_rank_test(n_pilot, n_control):
    y, z = _data(n_pilot, n_control, seed=3)
    result = rank_test(y, z, alpha=0.05)
    method = "exact" if n_pilot * n_control <= 2500 else "asymptotic"
    eps = 1e-7 * (result.ci_high - result.ci_low)

    def p_at(d):
        # scipy.stats.mannwhitneyu on pilot values shifted by d
        return stats.mannwhitneyu(y[z] - d, y[~z], method=method, use_continuity=False).pvalue

    assert p_at(result.ci_low + eps) > 0.05 and p_at(result.ci_high - eps) > 0.05
    assert p_at(result.ci_low - eps) <= 0.05 and p_at(result.ci_high + eps) <= 0.05
    assert result.ci_low < result.effect < result.ci_high


def test_constant_outcome_is_an_error():
    result = rank_test(np.ones(10), np.arange(10) < 4)
    assert result.error == "the site outcome does not vary"
    assert welch(np.ones(10), np.arange(10) < 4).error == "the site outcome does not vary"


def test_bad_alternative_raises():
    with pytest.raises(ValueError, match="alternative"):
        welch(np.arange(6.0), np.arange(6) < 3, alternative="up")
