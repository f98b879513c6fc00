"""Randomization inference against brute-force enumeration and its own definition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.permutation import count_assignments, permutation_test


def _brute_force_p(y, z, strata=None):
    """Reference: enumerate every within-stratum assignment with itertools."""
    labels = np.zeros(len(y), int) if strata is None else np.asarray(strata)
    groups = [np.flatnonzero(labels == s) for s in np.unique(labels)]

    def stat(assign):
        diffs, weights = [], []
        for g in groups:
            diffs.append(y[g][assign[g]].mean() - y[g][~assign[g]].mean())
            weights.append(len(g))
        return np.average(diffs, weights=weights)

    observed = stat(z)
    choices = [itertools.combinations(g, int(z[g].sum())) for g in groups]
    hits = total = 0
    for combo in itertools.product(*choices):
        assign = np.zeros(len(y), bool)
        for chosen in combo:
            assign[list(chosen)] = True
        hits += abs(stat(assign)) >= abs(observed) - 1e-12
        total += 1
    return observed, hits / total, total


def test_exact_p_value_equals_brute_force():
    rng = np.random.default_rng(3)
    y = rng.normal(size=11)
    z = np.arange(11) < 4
    result = permutation_test(y, z)
    observed, p, total = _brute_force_p(y, z)
    # itertools enumeration of all C(11, 4) = 330 assignments
    assert result.exact and result.n_assignments == total == math.comb(11, 4)
    assert_allclose(result.effect, observed, rtol=1e-12)
    assert_allclose(result.p_value, p, rtol=1e-12)


def test_stratified_exact_p_value_equals_brute_force():
    rng = np.random.default_rng(4)
    y = rng.normal(size=12) + np.repeat([0.0, 3.0], 6)
    strata = np.repeat(["a", "b"], 6)
    z = np.array([1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0], bool)
    result = permutation_test(y, z, strata=strata)
    observed, p, total = _brute_force_p(y, z, strata)
    # itertools enumeration: C(6, 2) * C(6, 2) = 225 within-stratum assignments
    assert result.n_assignments == total == 225
    assert_allclose(result.effect, observed, rtol=1e-12)
    assert_allclose(result.p_value, p, rtol=1e-12)
    assert result.n_strata == 2


def test_random_draws_agree_with_exact_within_monte_carlo_error():
    rng = np.random.default_rng(5)
    y = rng.normal(size=14) + 0.8 * (np.arange(14) < 5)
    z = np.arange(14) < 5
    exact = permutation_test(y, z)
    drawn = permutation_test(y, z, exact_limit=10, n_permutations=20_000, seed=1)
    assert exact.exact and not drawn.exact
    # binomial Monte Carlo SE of a p-value estimated from 20,000 draws
    mc_se = math.sqrt(exact.p_value * (1 - exact.p_value) / 20_000)
    assert abs(drawn.p_value - exact.p_value) < 4 * mc_se + 1e-4
    assert drawn.min_p == pytest.approx(1 / 20_001)


def test_draws_are_seeded():
    rng = np.random.default_rng(6)
    y, z = rng.normal(size=40), np.arange(40) < 10
    a = permutation_test(y, z, seed=11)
    b = permutation_test(y, z, seed=11)
    c = permutation_test(y, z, seed=12)
    assert a.p_value == b.p_value and np.array_equal(a.distribution, b.distribution)
    assert not np.array_equal(a.distribution, c.distribution)
    assert a.n_assignments == 10_000 and a.n_possible == math.comb(40, 10)


def test_one_sided_p_values():
    rng = np.random.default_rng(8)
    y = rng.normal(size=10) + 2 * (np.arange(10) < 4)
    z = np.arange(10) < 4
    larger = permutation_test(y, z, alternative="larger")
    smaller = permutation_test(y, z, alternative="smaller")
    # definition: share of assignments with statistic >= (<=) the observed one
    dist = larger.distribution
    assert_allclose(larger.p_value, np.mean(dist >= larger.effect - 1e-12), rtol=1e-12)
    assert_allclose(smaller.p_value, np.mean(dist <= smaller.effect + 1e-12), rtol=1e-12)
    assert larger.p_two_sided == smaller.p_two_sided


def test_interval_inverts_the_test():
    rng = np.random.default_rng(9)
    y = rng.normal(size=16) + 1.0 * (np.arange(16) < 6)
    z = np.arange(16) < 6
    result = permutation_test(y, z, alpha=0.1)
    width = result.ci_high - result.ci_low
    # definition: shifting pilot outcomes by d inside the interval is not rejected
    for d, rejected in [
        (result.ci_low + 0.01 * width, False),
        (result.ci_high - 0.01 * width, False),
        (result.ci_low - 0.05 * width, True),
        (result.ci_high + 0.05 * width, True),
    ]:
        shifted = permutation_test(y - d * z, z)
        assert bool(shifted.p_value <= 0.1) is rejected, d


def test_single_pilot_site_is_exact_with_attainable_minimum():
    rng = np.random.default_rng(10)
    y = rng.normal(size=31)
    z = np.zeros(31, bool)
    z[0] = True
    result = permutation_test(y, z)
    assert result.exact and result.n_assignments == 31
    assert result.min_p == pytest.approx(1 / 31)
    # rank of the pilot site's |deviation| among all 31 one-site assignments
    dev = np.array([y[i] - np.delete(y, i).mean() for i in range(31)])
    assert_allclose(result.p_value, np.mean(np.abs(dev) >= abs(dev[0]) - 1e-12), rtol=1e-12)


def test_false_positive_rate_is_at_most_alpha_for_exact_test():
    """Exact randomization test: P(p <= 0.05) <= 0.05 over all assignments of one data set."""
    rng = np.random.default_rng(11)
    y = rng.standard_t(3, size=9)
    rejections = []
    for combo in itertools.combinations(range(9), 3):
        z = np.zeros(9, bool)
        z[list(combo)] = True
        rejections.append(permutation_test(y, z).p_value <= 0.05)
    assert np.mean(rejections) <= 0.05 + 1e-12


def test_normal_approximation_for_large_samples():
    rng = np.random.default_rng(12)
    y = rng.normal(size=200) + 0.25 * (np.arange(200) < 100)
    z = np.arange(200) < 100
    result = permutation_test(y, z, n_permutations=20_000, seed=3)
    # scipy.stats.ttest_ind(..., equal_var=True): close to the randomization p for n = 200
    ref = stats.ttest_ind(y[z], y[~z]).pvalue
    assert_allclose(result.p_value, ref, atol=0.02)


def test_degenerate_inputs_report_errors():
    assert permutation_test(np.ones(6), np.arange(6) < 3).error == "the site outcome is constant"
    assert "pilot and one control" in permutation_test(np.ones(4), np.ones(4, bool)).error
    strata = np.array(["a", "a", "b", "b"])
    result = permutation_test(np.arange(4.0), np.array([1, 1, 0, 0], bool), strata=strata)
    assert "no stratum" in result.error
    assert result.to_dict()["p_value"] is None


def test_caller_mistakes_raise():
    with pytest.raises(ValueError, match="alternative"):
        permutation_test(np.arange(4.0), np.arange(4) < 2, alternative="bigger")
    with pytest.raises(ValueError, match="at least 1000"):
        permutation_test(np.arange(4.0), np.arange(4) < 2, n_permutations=10)


def test_count_assignments():
    z = np.array([1, 0, 0, 1, 1, 0, 0], bool)
    assert count_assignments(z) == math.comb(7, 3)
    assert count_assignments(z, np.array(list("aaabbbb"))) == math.comb(3, 1) * math.comb(4, 2)


def test_to_dict_thins_the_distribution():
    rng = np.random.default_rng(13)
    result = permutation_test(rng.normal(size=40), np.arange(40) < 10)
    d = result.to_dict()
    assert len(d["distribution"]) == 500 and d["distribution_thinned"]
    assert d["distribution"] == sorted(d["distribution"])
    assert "random assignments" in result.summary()
