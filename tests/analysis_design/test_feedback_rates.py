"""Feedback rates: clustered proportion comparisons, before/after, segments and NPS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from analysis.feedback import before_after, by_segment, nps, nps_difference, proportion_comparison

from .helpers import feedback_responses


@pytest.fixture
def responses() -> pd.DataFrame:
    return feedback_responses(np.random.default_rng(7), effect=0.08, with_period=True)


def _sm_cluster(y, x, groups):
    # statsmodels: OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True)
    codes = pd.factorize(np.asarray(groups))[0]
    return sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)


def test_clustered_difference_matches_statsmodels_lpm(responses):
    res = proportion_comparison(responses)
    y = (responses["value"] >= 4).astype(float).to_numpy()
    x = sm.add_constant((responses["arm"] == "pilot").astype(float).to_numpy())
    ref = _sm_cluster(y, x, responses["site_id"])
    assert res.error is None
    # statsmodels OLS cluster (CR1, t(G-1)) used as the reference
    assert_allclose(res.difference, ref.params[1], rtol=1e-10)
    assert_allclose(res.se, ref.bse[1], rtol=1e-10)
    assert_allclose(res.p_value, ref.pvalues[1], rtol=1e-8)
    assert_allclose([res.ci_low, res.ci_high], ref.conf_int()[1], rtol=1e-8)
    assert res.df == ref.df_resid_inference


def test_naive_z_test_matches_proportions_ztest_and_understates_uncertainty(responses):
    res = proportion_comparison(responses, alternative="larger")
    ok = responses["value"] >= 4
    pilot = responses["arm"] == "pilot"
    # statsmodels proportions_ztest on the raw counts, pilot first
    z, p = proportions_ztest(
        [ok[pilot].sum(), ok[~pilot].sum()], [pilot.sum(), (~pilot).sum()], alternative="larger"
    )
    assert_allclose([res.naive_z, res.naive_p_value], [z, p], rtol=1e-10)
    # Answers within a site are alike (site_sd > 0), so the clustered SE is larger.
    assert res.design_effect > 1.5
    assert res.se > res.naive_se


def test_success_rule_and_segment_filter(responses):
    res = proportion_comparison(responses, success=lambda v: v == 5, segment="60+")
    sub = responses[responses["segment"] == "60+"]
    y = (sub["value"] == 5).astype(float).to_numpy()
    x = sm.add_constant((sub["arm"] == "pilot").astype(float).to_numpy())
    ref = _sm_cluster(y, x, sub["site_id"])
    # statsmodels OLS cluster on the 60+ subset with the "value == 5" rule
    assert_allclose([res.difference, res.se], [ref.params[1], ref.bse[1]], rtol=1e-10)
    assert res.segment == "60+"
    assert res.n_pilot + res.n_control == len(sub)


def test_before_after_within_sites_matches_statsmodels_with_site_dummies(responses):
    res = before_after(responses)
    pilot = responses[responses["arm"] == "pilot"]
    both = pilot.groupby("site_id")["period"].nunique()
    pilot = pilot[pilot["site_id"].isin(both.index[both == 2])]
    y = (pilot["value"] >= 4).astype(float).to_numpy()
    post = (pilot["period"] == "post").astype(float).to_numpy()
    dummies = pd.get_dummies(pilot["site_id"]).to_numpy(dtype=float)
    ref = _sm_cluster(y, np.column_stack([post, dummies]), pilot["site_id"])
    # statsmodels OLS y ~ post + C(site) - 1, cluster by site, t(G-1)
    assert_allclose([res.change, res.se], [ref.params[0], ref.bse[0]], rtol=1e-8)
    assert_allclose(res.p_value, ref.pvalues[0], rtol=1e-6)
    assert res.n_sites == both.eq(2).sum()
    assert res.warnings


def test_by_segment_wald_matches_statsmodels(responses):
    res = by_segment(responses)
    assert [r.segment for r in res.segments] == ["under 60", "60+"]  # natural order
    for r in res.segments:
        alone = proportion_comparison(responses, segment=r.segment)
        assert_allclose(r.difference, alone.difference, rtol=1e-12)
    pilot = (responses["arm"] == "pilot").astype(float).to_numpy()
    young = (responses["segment"] == "under 60").astype(float).to_numpy()
    x = np.column_stack([np.ones(len(pilot)), pilot, young, pilot * young])
    y = (responses["value"] >= 4).astype(float).to_numpy()
    ref = _sm_cluster(y, x, responses["site_id"])
    wald = ref.wald_test(np.array([[0, 0, 0, 1.0]]), use_f=False, scalar=True)
    # statsmodels wald_test of the pilot x segment term with the cluster covariance
    assert_allclose(res.heterogeneity_wald, wald.statistic, rtol=1e-8)
    assert res.heterogeneity_df == 1


def test_clustered_test_keeps_alpha_where_naive_test_does_not():
    # Seeded A/A study: 12 vs 12 sites, strong between-site variation in the success share.
    rng = np.random.default_rng(2024)
    reps = 300
    clustered = naive = 0
    for _ in range(reps):
        data = feedback_responses(rng, 12, 12, per_site=(30, 60), site_sd=0.15)
        res = proportion_comparison(data)
        clustered += res.p_value < 0.05
        naive += res.naive_p_value < 0.05
    assert clustered / reps <= 0.08
    assert naive / reps >= 0.25


def test_degenerate_inputs_give_an_error_not_nan(responses):
    only_pilot = responses[responses["arm"] == "pilot"]
    assert "no responses from control" in proportion_comparison(only_pilot).error
    one_control = responses[(responses["arm"] == "pilot") | (responses["site_id"] == "S020")]
    assert "only one control site" in proportion_comparison(one_control).error
    all_good = responses.assign(value=5)
    assert "every response is a success" in proportion_comparison(all_good).error
    assert proportion_comparison(responses, segment="nobody").error is not None
    assert "before and after" in before_after(responses.assign(period="post")).error
    assert "one site" in nps([9, 10, 3], ["A", "A", "A"]).error
    assert nps([], []).error == "no scores"


def test_labels_are_read_as_stripped_lower_case_text_whatever_their_type(responses):
    # The arm and period labels are converted once per distinct value (not per row): a frame
    # spelling them with capitals and spaces, and numbering its sites, must give the numbers
    # of the plain frame, and a stray label must still be named.
    codes = {code: i for i, code in enumerate(sorted(responses["site_id"].unique()))}
    odd = responses.assign(
        arm=responses["arm"].map({"pilot": " Pilot", "control": "CONTROL "}),
        period=responses["period"].str.upper(),
        site_id=responses["site_id"].map(codes),
    )
    for fn, estimate in ((proportion_comparison, "difference"), (before_after, "change")):
        plain, spelled = fn(responses), fn(odd)
        assert spelled.error is None and plain.error is None
        got = [getattr(spelled, estimate), spelled.se, spelled.ci_low]
        assert_allclose(got, [getattr(plain, estimate), plain.se, plain.ci_low], rtol=1e-12)
    stray = odd.assign(period=odd["period"].where(odd.index % 7 != 0, "later"))
    with pytest.raises(ValueError, match=r"unknown period value\(s\) \['later'\]"):
        before_after(stray)


def test_caller_mistakes_raise_value_error(responses):
    with pytest.raises(ValueError, match="missing column"):
        proportion_comparison(responses.drop(columns="arm"))
    with pytest.raises(ValueError, match="unknown arm"):
        proportion_comparison(responses.assign(arm="treatment"))
    with pytest.raises(ValueError, match="alpha"):
        proportion_comparison(responses, alpha=5)
    with pytest.raises(ValueError, match="period"):
        before_after(responses.drop(columns="period"))
    with pytest.raises(ValueError, match="0..10"):
        nps([11, 3], ["A", "B"])
    with pytest.raises(ValueError, match="length"):
        nps([1, 2, 3], ["A", "B"])


def test_nps_delta_method_matches_cluster_robust_intercept():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 11, 400)
    sites = rng.integers(0, 15, 400).astype(str)
    res = nps(scores, sites)
    e = np.where(scores >= 9, 1.0, np.where(scores <= 6, -1.0, 0.0))
    ref = _sm_cluster(e, np.ones((len(e), 1)), sites)
    # statsmodels OLS e ~ 1 clustered by site (K=1, so CR1 equals the delta method), x100
    assert_allclose(res.nps, 100 * ref.params[0], rtol=1e-12)
    assert_allclose(res.se, 100 * ref.bse[0], rtol=1e-10)
    assert_allclose([res.ci_low, res.ci_high], 100 * ref.conf_int()[0], rtol=1e-8)
    assert_allclose(res.promoters + res.passives + res.detractors, 1.0, rtol=1e-12)


def test_nps_difference_is_a_t_test_on_the_two_clustered_scores():
    rng = np.random.default_rng(8)
    pilot = nps(rng.integers(3, 11, 300), rng.integers(0, 6, 300).astype(str))
    control = nps(rng.integers(0, 11, 500), rng.integers(0, 12, 500).astype(str))
    out = nps_difference(pilot, control, alpha=0.1)
    # reference: scipy.stats.t with the smaller arm's G - 1 = 5 df on sqrt(se_p^2 + se_c^2)
    se = np.sqrt(pilot.se**2 + control.se**2)
    diff = pilot.nps - control.nps
    assert out["df"] == 5
    assert_allclose(out["se"], se, rtol=1e-12)
    assert_allclose(out["p_value"], 2 * stats.t.sf(abs(diff) / se, 5), rtol=1e-10)
    half = stats.t.ppf(0.95, 5) * se
    assert_allclose([out["ci_low"], out["ci_high"]], [diff - half, diff + half], rtol=1e-10)
    # the 90 % interval excludes 0 exactly when p < 0.10
    assert (out["ci_low"] > 0 or out["ci_high"] < 0) == (out["p_value"] < 0.1)


def _nps_sites(rng, n_sites, concentration):
    # Site score mixes drawn from a Dirichlet around (detractor, passive, promoter) shares
    mean = np.array([0.25, 0.35, 0.40])
    scores, ids = [], []
    for s in range(n_sites):
        mix = rng.dirichlet(concentration * mean)
        n = int(rng.integers(10, 80))
        kind = rng.choice(3, size=n, p=mix)
        scores.append(np.choose(kind, [rng.integers(0, 7, n), rng.integers(7, 9, n), 10]))
        ids.append(np.full(n, f"S{s}"))
    return np.concatenate(scores), np.concatenate(ids), 100 * (mean[2] - mean[0])


def test_nps_interval_coverage_in_seeded_simulation():
    # Seeded study: 20 sites, heterogeneous score mixes; truth = 100 * (0.40 - 0.25) = 15.
    rng = np.random.default_rng(11)
    reps, covered, covered_naive = 400, 0, 0
    for _ in range(reps):
        scores, ids, truth = _nps_sites(rng, 20, concentration=8.0)
        res = nps(scores, ids)
        covered += res.ci_low <= truth <= res.ci_high
        e = np.where(scores >= 9, 1.0, np.where(scores <= 6, -1.0, 0.0))
        half = 1.96 * 100 * e.std(ddof=1) / np.sqrt(e.size)  # as if answers were independent
        covered_naive += abs(res.nps - truth) <= half
    assert 0.92 <= covered / reps <= 0.98
    assert covered_naive / reps < 0.85


def test_nps_bootstrap_is_seeded_and_close_to_delta():
    rng = np.random.default_rng(5)
    scores, ids, _ = _nps_sites(rng, 25, concentration=8.0)
    a = nps(scores, ids, method="bootstrap", seed=1)
    b = nps(scores, ids, method="bootstrap", seed=1)
    delta = nps(scores, ids)
    assert a == b
    assert a.ci_low < a.nps < a.ci_high
    # percentile-bootstrap and delta-method SEs agree to within bootstrap noise
    assert_allclose(a.se, delta.se, rtol=0.15)
    assert a.to_dict()["method"] == "bootstrap"


def test_within_site_change_equals_the_site_dummy_fit_on_unbalanced_sites():
    # the dummy regression before_after ran before: OLS y ~ post + C(site) - 1, CR1 by site
    # (statsmodels: OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": site}))
    from analysis.feedback import _cluster_ols, _within_site_change

    rng = np.random.default_rng(22)
    sizes = rng.integers(3, 60, size=40)
    site = np.repeat([f"S{i:02d}" for i in range(40)], sizes)
    post = np.concatenate([rng.permutation(np.arange(n) < rng.integers(1, n)) for n in sizes])
    base = np.repeat(rng.uniform(0.3, 0.9, size=40), sizes)
    y = (rng.uniform(size=len(site)) < base + 0.07 * post).astype(float)
    used = pd.DataFrame({"site_id": site})
    change, se, sites = _within_site_change(used, y, post.astype(float))
    dummies = pd.get_dummies(pd.Series(site)).to_numpy(dtype=float)
    fit = _cluster_ols(np.column_stack([post, dummies]), y, site)
    ref = _sm_cluster(y, np.column_stack([post, dummies]), site)
    assert sites == fit.n_clusters == 40
    assert_allclose([change, se], [fit.coef[0], np.sqrt(fit.vcov[0, 0])], rtol=1e-10)
    assert_allclose([change, se], [ref.params[0], ref.bse[0]], rtol=1e-8)
    with pytest.raises(ValueError, match="collinear"):
        _within_site_change(used, y, np.ones(len(y)))
