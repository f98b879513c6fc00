"""Two-way fixed-effects OLS and the site x day DiD against pyfixest and statsmodels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from analysis.did import demean, did, fit_twfe
from tests.analysis.conftest import did_panel

pf = pytest.importorskip("pyfixest")
from pyfixest.demeaners import MapDemeaner  # noqa: E402

RTOL = 1e-6


def feols(formula: str, data: pd.DataFrame, vcov):
    """pyfixest fit with a tight demeaning tolerance (pyfixest's own warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(formula, data=data, vcov=vcov, demeaner=MapDemeaner(fixef_tol=1e-12))


@pytest.mark.parametrize("missing_share", [0.0, 0.25])
def test_did_matches_pyfixest_balanced_and_unbalanced(simulate, missing_share):
    panel = did_panel(simulate(8, 20, 21, 14, effect=2.0, missing_share=missing_share))
    ours = did(panel)
    # pyfixest: feols("value ~ treated | site_id + date", vcov={"CRV1": "site_id"})
    ref = feols("value ~ treated | site_id + date", panel, {"CRV1": "site_id"})
    assert_allclose(ours.effect, ref.coef()["treated"], rtol=RTOL)
    assert_allclose(ours.se, ref.se()["treated"], rtol=RTOL)
    assert_allclose(ours.p_value, ref.pvalue()["treated"], rtol=RTOL)
    ci = ref.confint().loc["treated"].to_numpy()
    assert_allclose([ours.ci_low, ours.ci_high], ci, rtol=RTOL)
    assert ours.n_obs == ref._N
    assert ours.df == ref._df_t == 27


def test_singletons_are_dropped_like_pyfixest(simulate):
    panel = did_panel(simulate(6, 12, 10, 10, effect=1.0, missing_share=0.1))
    # Sites 'S001' and 'S010' keep a single day each: singleton fixed-effect levels.
    lonely = panel[panel["site_id"].isin(["S001", "S010"])].groupby("site_id").head(1)
    panel = pd.concat([panel[~panel["site_id"].isin(["S001", "S010"])], lonely])
    ours = did(panel)
    # pyfixest: feols(..., fixef_rm="singleton") is the default
    ref = feols("value ~ treated | site_id + date", panel, {"CRV1": "site_id"})
    assert ours.n_singletons == 2
    assert ours.n_obs == ref._N == len(panel) - 2
    assert_allclose(ours.effect, ref.coef()["treated"], rtol=RTOL)
    assert_allclose(ours.se, ref.se()["treated"], rtol=RTOL)
    assert ours.n_sites == len(panel["site_id"].unique()) - 2


@pytest.mark.parametrize(("vcov", "cluster"), [("hetero", None), ({"CRV1": "region"}, "region")])
def test_fit_twfe_several_regressors_matches_pyfixest(simulate, vcov, cluster):
    panel = did_panel(simulate(10, 30, 14, 14, effect=1.5, missing_share=0.15))
    rng = np.random.default_rng(7)
    panel["x2"] = rng.normal(size=len(panel)) + 0.3 * panel["treated"]
    panel["region"] = panel["site_id"].str[-1].astype(int) % 4
    ours = fit_twfe(panel, "value", ["treated", "x2"], "site_id", "date", cluster=cluster)
    # pyfixest: feols("value ~ treated + x2 | site_id + date", vcov=vcov)
    ref = feols("value ~ treated + x2 | site_id + date", panel, vcov)
    for name in ("treated", "x2"):
        assert_allclose(ours.coef[name], ref.coef()[name], rtol=RTOL)
        assert_allclose(ours.se[name], ref.se()[name], rtol=RTOL)
        assert_allclose(ours.p_value(name), ref.pvalue()[name], rtol=1e-5)
    assert_allclose(ours.vcov, ref._vcov, rtol=1e-5)
    assert ours.df_resid == ref._df_t


def test_fit_twfe_coefficient_equals_dummy_variable_ols(simulate):
    panel = did_panel(simulate(4, 6, 7, 7, effect=1.0, missing_share=0.3))
    ours = fit_twfe(panel, "value", ["treated"], "site_id", "date")
    dummies = pd.get_dummies(panel[["site_id", "date"]].astype(str), drop_first=True, dtype=float)
    x = sm.add_constant(pd.concat([panel[["treated"]].astype(float), dummies], axis=1))
    # statsmodels: OLS(value ~ treated + site dummies + day dummies)
    ref = sm.OLS(panel["value"].astype(float), x).fit()
    assert_allclose(ours.coef["treated"], ref.params["treated"], rtol=1e-8)


def test_demean_projects_out_both_factors():
    rng = np.random.default_rng(0)
    unit = rng.integers(0, 30, 500)
    time = rng.integers(0, 20, 500)
    v = rng.normal(size=500)
    out, sweeps = demean(v, [unit, time])
    assert sweeps > 1  # unbalanced: alternating projections iterate
    for g in (unit, time):
        sums = np.bincount(g, weights=out[:, 0])
        assert np.abs(sums).max() < 1e-8


def test_balanced_panel_demeans_in_one_sweep(simulate):
    panel = did_panel(simulate(3, 3, 5, 5))
    fit = fit_twfe(panel, "value", ["treated"], "site_id", "date", cluster="site_id")
    assert fit.iterations <= 2


def test_ci_and_t_are_consistent(simulate):
    fit = fit_twfe(
        did_panel(simulate(5, 5, 5, 5, effect=2.0)),
        "value",
        ["treated"],
        "site_id",
        "date",
        cluster="site_id",
    )
    low, high = fit.ci("treated", 0.1)
    assert low < fit.coef["treated"] < high
    assert_allclose(fit.t("treated"), fit.coef["treated"] / fit.se["treated"], rtol=1e-12)
    assert fit.p_value("treated", "larger") < fit.p_value("treated")
    with pytest.raises(ValueError, match="unknown regressor"):
        fit.t("nope")


def test_collinear_regressor_is_a_value_error(simulate):
    panel = did_panel(simulate(3, 3, 5, 5))
    panel["pilot"] = panel["site_id"].isin(["S001", "S002", "S003"]).astype(float)
    with pytest.raises(ValueError, match="'pilot' is collinear with the fixed effects"):
        fit_twfe(panel, "value", ["pilot"], "site_id", "date")


def test_unknown_column_is_a_value_error(simulate):
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        fit_twfe(did_panel(simulate(3, 3, 5, 5)), "value", ["nope"], "site_id", "date")


def test_did_without_post_period_variation_reports_an_error(simulate):
    panel = did_panel(simulate(3, 3, 5, 5))
    panel["treated"] = 0
    result = did(panel)
    assert result.error is not None and "collinear" in result.error
    assert np.isnan(result.effect)
    assert result.to_dict()["effect"] is None
    assert "not estimated" in result.summary()


def test_did_single_site_is_an_error_not_a_crash(simulate):
    panel = did_panel(simulate(1, 0, 5, 5))
    result = did(panel)
    assert result.error is not None


def test_did_counts_arms(pilot):
    result = did(did_panel(pilot))
    assert (result.n_pilot_sites, result.n_control_sites, result.n_days) == (10, 30, 56)
    assert result.to_dict()["n_sites"] == 40
