"""The shared t and normal pieces (analysis.inference) against scipy.stats called directly."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from analysis.inference import (
    ALTERNATIVES,
    check_alpha,
    normal_critical,
    normal_interval,
    normal_multiplier,
    t_critical,
    t_interval,
    t_multiplier,
    t_p_value,
    z_from_t,
)

SCIPY_ALTERNATIVE = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def test_alternatives_are_the_statsmodels_vocabulary():
    assert ALTERNATIVES == ("two-sided", "larger", "smaller")


@pytest.mark.parametrize("alpha", [0, 1, -0.05, 1.5])
def test_check_alpha_names_a_level_outside_zero_one(alpha):
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        check_alpha(alpha)
    check_alpha(0.05)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("shift", [0.6, -0.6])
def test_t_p_value_matches_scipy_one_sample_t_test(alternative, shift):
    x = np.random.default_rng(3).normal(shift, 1.0, 12)
    # scipy: stats.ttest_1samp(x, 0, alternative=...) -- statistic, df and p-value
    ref = stats.ttest_1samp(x, 0.0, alternative=SCIPY_ALTERNATIVE[alternative])
    ours = t_p_value(ref.statistic, ref.df, alternative)
    assert_allclose(ours, ref.pvalue, rtol=1e-12)


def test_t_p_value_two_sided_is_twice_the_smaller_one_sided():
    t, df = np.array([-2.5, -0.3, 0.0, 1.7]), np.array([4.0, 9.5, 20.0, 38.0])
    larger, smaller = t_p_value(t, df, "larger"), t_p_value(t, df, "smaller")
    # scipy: stats.t.sf(t, df) and stats.t.cdf(t, df)
    assert_allclose(larger, stats.t.sf(t, df), rtol=1e-12)
    assert_allclose(smaller, stats.t.cdf(t, df), rtol=1e-12)
    assert_allclose(larger + smaller, 1.0, rtol=1e-12)
    assert_allclose(t_p_value(t, df), 2 * np.minimum(larger, smaller), rtol=1e-12)


def test_t_p_value_rejects_an_unknown_alternative():
    with pytest.raises(ValueError, match="alternative must be two-sided, larger or smaller"):
        t_p_value(1.0, 10, "greater")


@pytest.mark.parametrize("df", [3, 15.5, 120])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_t_interval_matches_scipy_interval(df, alpha):
    # scipy: stats.t.interval(1 - alpha, df, loc=estimate, scale=se)
    ref = stats.t.interval(1 - alpha, df, loc=2.5, scale=0.8)
    assert_allclose(t_interval(2.5, 0.8, df, alpha), ref, rtol=1e-12)
    # the multiplier is exactly ppf(1 - alpha / 2): the estimators' intervals stay bit-for-bit
    assert_array_equal(t_multiplier(df, alpha), stats.t.ppf(1 - alpha / 2, df))


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_normal_interval_matches_scipy_interval(alpha):
    # scipy: stats.norm.interval(1 - alpha, loc=estimate, scale=se)
    ref = stats.norm.interval(1 - alpha, loc=-0.04, scale=0.015)
    assert_allclose(normal_interval(-0.04, 0.015, alpha), ref, rtol=1e-12)
    assert_array_equal(normal_multiplier(alpha), stats.norm.ppf(1 - alpha / 2))


def test_normal_multiplier_at_five_percent_is_the_textbook_1_96():
    # reference: Phi^-1(0.975) = sqrt(2) * erfinv(0.95) = 1.95996398454005423552...
    # (mpmath at 30 digits)
    assert_allclose(normal_multiplier(0.05), 1.959963984540054, rtol=1e-14)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("df", [4, 17.3, 200])
def test_t_critical_cuts_off_alpha(alternative, df):
    alpha = 0.05
    c = t_critical(df, alpha, alternative)
    tail = alpha / 2 if alternative == "two-sided" else alpha
    # scipy: stats.t.ppf(1 - tail, df) is the same quantile from the other side
    assert_allclose(c, stats.t.ppf(1 - tail, df), rtol=1e-12)
    # scipy: stats.t.sf(c, df) is the rejection probability of one tail
    assert_allclose(stats.t.sf(c, df), tail, rtol=1e-10)
    assert_array_equal(c, stats.t.isf(tail, df))


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_normal_critical_cuts_off_alpha(alternative):
    alpha = 0.1
    c = normal_critical(alpha, alternative)
    tail = alpha / 2 if alternative == "two-sided" else alpha
    # scipy: stats.norm.ppf(1 - tail)
    assert_allclose(c, stats.norm.ppf(1 - tail), rtol=1e-12)
    assert_array_equal(c, stats.norm.isf(tail))


def test_critical_values_reject_an_unknown_alternative():
    with pytest.raises(ValueError, match="alternative must be"):
        t_critical(10, 0.05, "less")
    with pytest.raises(ValueError, match="alternative must be"):
        normal_critical(0.05, "both")


def test_critical_values_take_arrays_of_degrees_of_freedom():
    df = np.array([3.0, 10.0, 57.25])
    # scipy: stats.t.isf(alpha / 2, df), element by element
    assert_allclose(t_critical(df, 0.05), [stats.t.isf(0.025, d) for d in df], rtol=1e-12)


def test_z_from_t_keeps_the_tail_probability_and_the_sign():
    t = np.array([-3.2, -1.0, 0.0, 0.4, 2.7])
    df = np.array([5.0, 12.0, 8.0, 30.0, 9.5])
    z = z_from_t(t, df)
    # scipy: stats.norm.sf(|z|) equals stats.t.sf(|t|, df)
    assert_allclose(stats.norm.sf(np.abs(z)), stats.t.sf(np.abs(t), df), rtol=1e-12)
    assert_array_equal(np.sign(z), np.sign(t))
    assert np.all(np.abs(z) <= np.abs(t))  # t has the heavier tails
    # with very many degrees of freedom t is already normal
    assert_allclose(z_from_t(np.array([1.5]), np.array([1e9])), [1.5], rtol=1e-8)
