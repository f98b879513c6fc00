"""The analysis follows the design: pairs, within-pair permutation, pair fixed effects."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose
from scipy import stats

from analysis import compare, design, simulate_registry
from analysis.paired import paired_effect
from analysis.permutation import permutation_test
from analysis.simulate import PROBLEM_METRIC

# Four pairs; the site changes (post minus pre mean) of the pilot and control of each pair.
PILOT_CHANGE = np.array([4.0, 2.0, 5.0, 1.0])
CONTROL_CHANGE = np.array([1.0, 1.0, 3.0, 1.5])  # paired differences 3, 1, 2, -0.5

# Every assignment the design could have drawn: which site of each pair is the pilot, written
# out as the sign of each pair's difference (+1: as drawn, -1: swapped). 2^4 = 16 rows.
SIGNS = [
    (+1, +1, +1, +1), (+1, +1, +1, -1), (+1, +1, -1, +1), (+1, +1, -1, -1),
    (+1, -1, +1, +1), (+1, -1, +1, -1), (+1, -1, -1, +1), (+1, -1, -1, -1),
    (-1, +1, +1, +1), (-1, +1, +1, -1), (-1, +1, -1, +1), (-1, +1, -1, -1),
    (-1, -1, +1, +1), (-1, -1, +1, -1), (-1, -1, -1, +1), (-1, -1, -1, -1),
]  # fmt: skip


def _four_pair_panel() -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Observations whose site changes are exactly PILOT_CHANGE / CONTROL_CHANGE (a weekly
    pattern shared by all sites cancels in every change)."""
    dates = pd.date_range("2024-03-01", periods=28, freq="D")
    start = dates[14]
    day = np.sin(np.arange(28))
    rows, sites = [], []
    for k in range(4):
        for arm, change in (("pilot", PILOT_CHANGE[k]), ("control", CONTROL_CHANGE[k])):
            sid = f"{arm[0].upper()}{k + 1}"
            values = 10.0 + k + day + np.where(dates >= start, change, 0.0)
            rows += [(sid, d, "m", v) for d, v in zip(dates, values, strict=True)]
            sites.append((sid, arm, k + 1))
    obs = pd.DataFrame(rows, columns=["site_id", "date", "metric", "value"])
    return obs, pd.DataFrame(sites, columns=["site_id", "arm", "pair"]), start


def test_paired_permutation_p_value_equals_hand_enumeration_of_16_assignments():
    diffs = PILOT_CHANGE - CONTROL_CHANGE
    observed = diffs.mean()
    # reference: the 16 assignments written out above; two-sided p = share of assignments
    # whose mean paired difference is at least as far from 0 as the observed one
    stats_ = np.array([np.mean(np.array(s) * diffs) for s in SIGNS])
    p_hand = np.mean(np.abs(stats_) >= abs(observed) - 1e-12)
    assert p_hand == 4 / 16  # (3, 1, 2, -0.5): all +, swapped 4th, and their mirror images
    p_larger = np.mean(stats_ >= observed - 1e-12)
    values = np.concatenate([PILOT_CHANGE, CONTROL_CHANGE])
    is_pilot = np.repeat([True, False], 4)
    pair = np.tile(np.arange(4), 2)
    res = permutation_test(values, is_pilot, strata=pair)
    assert res.exact and res.n_assignments == 16
    assert_allclose([res.effect, res.p_value], [observed, p_hand], rtol=1e-12)
    larger = permutation_test(values, is_pilot, strata=pair, alternative="larger")
    assert_allclose(larger.p_value, p_larger, rtol=1e-12)
    # the same through compare(): the site changes come from the panel, pairs from SITES
    obs, sites, start = _four_pair_panel()
    report = compare(obs, sites, start, pairs="pair", n_permutations=1000)
    perm = report.metrics["m"].methods["permutation"]
    assert perm.exact and perm.n_assignments == 16
    assert_allclose([perm.effect, perm.p_value], [observed, p_hand], rtol=1e-9)
    # 4 pairs are too few for a t reference: the headline is the within-pair permutation
    assert report.metrics["m"].method.startswith("permutation")
    assert report.parameters["pairs"] == 4


def test_triplet_permutation_enumerates_which_of_three_was_the_pilot():
    rng = np.random.default_rng(5)
    y = rng.normal(size=(4, 3))  # 4 triplets, the first site of each is the pilot
    values, is_pilot = y.ravel(), np.tile([True, False, False], 4)
    group = np.repeat(np.arange(4), 3)
    res = permutation_test(values, is_pilot, strata=group)

    # reference: itertools enumeration of the 3^4 = 81 choices of pilot, statistic = mean of
    # (pilot - mean of the other two)
    def stat(choice):
        return np.mean([y[g, c] - (y[g].sum() - y[g, c]) / 2 for g, c in enumerate(choice)])

    dist = np.array([stat(c) for c in itertools.product(range(3), repeat=4)])
    observed = stat((0, 0, 0, 0))
    assert res.n_assignments == 81
    assert_allclose(res.effect, observed, rtol=1e-12)
    assert_allclose(res.p_value, np.mean(np.abs(dist) >= abs(observed) - 1e-12), rtol=1e-12)


def test_paired_permutation_is_exact_up_to_16_pairs_then_monte_carlo():
    rng = np.random.default_rng(1)
    for n_pairs, exact in ((16, True), (17, False)):
        d = rng.normal(size=n_pairs)
        values = np.concatenate([d, np.zeros(n_pairs)])
        z = np.repeat([True, False], n_pairs)
        g = np.tile(np.arange(n_pairs), 2)
        obs = pd.DataFrame(
            [
                (f"S{i}", day, "m", v * (day >= 5) + (i % 3))
                for i, v in enumerate(values)
                for day in range(10)
            ],
            columns=["site_id", "date", "metric", "value"],
        )
        obs["date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(obs["date"], unit="D")
        sites = pd.DataFrame(
            {
                "site_id": [f"S{i}" for i in range(2 * n_pairs)],
                "arm": np.where(z, "pilot", "control"),
                "pair": g,
            }
        )
        res = compare(obs, sites, "2024-01-06", pairs="pair", n_permutations=2000)
        perm = res.metrics["m"].methods["permutation"]
        assert perm.exact is exact
        assert perm.n_assignments == (2**n_pairs if exact else 2000)


def test_pair_fixed_effects_equal_statsmodels_ols_with_pair_dummies():
    rng = np.random.default_rng(7)
    for size in (2, 3):
        n_groups = 9
        group = np.repeat(np.arange(n_groups), size)
        pilot = np.tile(np.arange(size) == 0, n_groups)
        y = rng.normal(size=group.size) + 0.8 * group % 3 + 0.5 * pilot
        res = paired_effect(y, pilot, group)
        frame = pd.DataFrame({"y": y, "pilot": pilot.astype(float), "pair": group})
        fit = smf.ols("y ~ pilot + C(pair)", data=frame).fit(
            cov_type="cluster", cov_kwds={"groups": frame["pair"], "use_correction": False}
        )
        # statsmodels OLS with pair dummies, CR0 clustered by pair times sqrt(G / (G - 1))
        # (pyfixest's CRV1 with the pair effects nested in the clusters: K = 1)
        se_ref = fit.bse["pilot"] * np.sqrt(n_groups / (n_groups - 1))
        assert_allclose(res.effect, fit.params["pilot"], rtol=1e-10)
        assert_allclose(res.se, se_ref, rtol=1e-10)
        assert res.df == n_groups - 1
        t_ref = fit.params["pilot"] / se_ref
        assert_allclose(res.p_value, 2 * stats.t.sf(abs(t_ref), n_groups - 1), rtol=1e-10)
        if size == 2:
            # with pairs it is the paired t-test: scipy.stats.ttest_rel
            ref = stats.ttest_rel(y[pilot], y[~pilot])
            assert_allclose(res.p_value, ref.pvalue, rtol=1e-10)
            low, high = ref.confidence_interval()
            assert_allclose([res.ci_low, res.ci_high], [low, high], rtol=1e-10)


def test_compare_follows_a_designed_pilot():
    sites, history = simulate_registry(120, seed=3, days=84)
    start = history["date"].min() + pd.Timedelta(days=56)
    plan = design(
        sites,
        history[history["date"] < start],
        n_pilots=10,
        problem_metric=PROBLEM_METRIC,
        match=("region",),
        seed=5,
    )
    frame = plan.sites_frame()
    obs = history[history["site_id"].isin(frame["site_id"])]
    obs = obs[obs["metric"] == PROBLEM_METRIC]
    by_column = compare(obs, frame, start, pairs="pair").metrics[PROBLEM_METRIC]
    by_list = compare(obs, frame.drop(columns="pair"), start, pairs=plan.pairs)
    assert by_column.method.startswith("paired")
    paired = by_column.methods["paired"]
    assert paired == by_list.metrics[PROBLEM_METRIC].methods["paired"]
    assert_allclose(by_column.effect, paired.effect, rtol=1e-12)
    # reference: the mean paired difference of site changes computed with pandas
    pre = obs[obs["date"] < start].groupby("site_id")["value"].mean()
    post = obs[obs["date"] >= start].groupby("site_id")["value"].mean()
    change = post - pre
    diffs = [change[g[0]] - change[g[1]] for g in plan.pairs]
    assert_allclose(paired.effect, np.mean(diffs), rtol=1e-10)
    assert paired.n_pairs == 10 and by_column.methods["permutation"].n_assignments == 1024


def test_pairs_are_checked():
    obs, sites, start = _four_pair_panel()
    with pytest.raises(ValueError, match="exactly one pilot"):
        compare(obs, sites.assign(pair=[1, 1, 1, 1, 2, 2, 3, 3]), start, pairs="pair")
    with pytest.raises(ValueError, match="unknown site"):
        compare(obs, sites, start, pairs=[["P1", "C1"], ["P2", "X9"]])
    with pytest.raises(ValueError, match="more than one pair"):
        compare(obs, sites, start, pairs=[["P1", "C1"], ["P1", "C2"]])
    with pytest.raises(ValueError, match="not in sites"):
        compare(obs, sites, start, pairs="group")
    with pytest.raises(ValueError, match="needs pairs"):
        compare(obs, sites.drop(columns="pair"), start, method="paired")
    with pytest.raises(ValueError, match="strata or pairs"):
        compare(obs, sites.assign(s=1), start, pairs="pair", strata="s")


def test_forced_invalid_method_never_makes_the_verdict():
    # One pilot site against 10 controls with a large shift: the clustered DiD (forced) says
    # p < 0.05, but with one pilot site its SE is meaningless; the permutation test over the
    # 11 possible pilots cannot go below p = 1/11, so the verdict stays inconclusive.
    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-01", periods=40, freq="D")
    start = dates[20]
    rows = []
    for i in range(11):
        level = 50 + 5 * rng.standard_normal()
        shift = 4.0 if i == 0 else 0.0
        for d in dates:
            rows.append((f"S{i}", d, "m", level + rng.normal() + shift * (d >= start)))
    obs = pd.DataFrame(rows, columns=["site_id", "date", "metric", "value"])
    sites = pd.DataFrame(
        {"site_id": [f"S{i}" for i in range(11)], "arm": ["pilot"] + ["control"] * 10}
    )
    res = compare(obs, sites, start, method="did").metrics["m"]
    assert res.methods["did"].p_value < 0.05  # the forced method's numbers are still there
    assert res.method.startswith("permutation")
    assert res.p_value >= 1 / 11 - 1e-12
    assert res.verdict == "inconclusive"
    problem = res.forced_method_invalid
    assert problem.code == "single_pilot_site"
    assert problem.params == {"requested": "did", "used": "permutation"}
    assert problem.text in res.diagnostics.warnings
    assert "note: The did estimator was requested" in res.summary()
    assert res.to_dict()["forced_method_invalid"]["code"] == "single_pilot_site"
    # a valid forced method is used as asked
    ok = compare(obs, sites, start, method="permutation").metrics["m"]
    assert ok.forced_method_invalid is None and ok.method.startswith("permutation")
