"""ANCOVA on site means against statsmodels OLS with HC2 standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats

from analysis.ancova import ancova, bell_mccaffrey_df


def _site_means(n_pilot=8, n_control=20, effect=1.5, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_pilot + n_control
    pre = rng.normal(50, 10, n)
    arm = np.where(np.arange(n) < n_pilot, "pilot", "control")
    noise = rng.normal(0, 2, n) * np.where(arm == "pilot", 2.0, 1.0)  # unequal spread
    post = 5 + 0.9 * pre + effect * (arm == "pilot") + noise
    return pd.DataFrame({"arm": arm, "pre": pre, "post": post}, index=[f"s{i}" for i in range(n)])


def _reference(frame: pd.DataFrame):
    x = sm.add_constant(
        pd.DataFrame({"pilot": (frame["arm"] == "pilot").astype(float), "pre": frame["pre"]})
    )
    return sm.OLS(frame["post"], x).fit(cov_type="HC2")


def test_effect_and_hc2_se_match_statsmodels():
    frame = _site_means()
    ours = ancova(frame)
    # statsmodels: OLS(post ~ 1 + pilot + pre).fit(cov_type="HC2")
    ref = _reference(frame)
    assert_allclose(ours.effect, ref.params["pilot"], rtol=1e-10)
    assert_allclose(ours.se, ref.bse["pilot"], rtol=1e-10)
    assert_allclose(ours.pre_slope, ref.params["pre"], rtol=1e-10)
    assert_allclose(ours.r_squared, ref.rsquared, rtol=1e-10)
    assert ours.df_resid == int(ref.df_resid) == 25


def test_p_value_and_interval_use_bell_mccaffrey_df():
    frame = _site_means(seed=1)
    ours = ancova(frame, alpha=0.1)
    # scipy.stats.t with the Bell-McCaffrey df reported by the result
    t = ours.effect / ours.se
    assert_allclose(ours.p_value, 2 * stats.t.sf(abs(t), ours.df), rtol=1e-10)
    q = stats.t.ppf(0.95, ours.df)
    assert_allclose(
        [ours.ci_low, ours.ci_high],
        [ours.effect - q * ours.se, ours.effect + q * ours.se],
        rtol=1e-10,
    )
    assert 2 < ours.df < ours.df_resid


def test_bell_mccaffrey_df_reduces_to_equal_variance_satterthwaite():
    # hand formula: Welch-Satterthwaite df with equal variances,
    # (1/n1 + 1/n0)^2 / (1/(n1^2 (n1-1)) + 1/(n0^2 (n0-1)))  (Imbens & Kolesar 2016)
    for n1, n0 in [(10, 30), (6, 6), (4, 30)]:
        z = np.r_[np.ones(n1), np.zeros(n0)]
        x = np.column_stack([np.ones(n1 + n0), z])
        xtx_inv = np.linalg.inv(x.T @ x)
        leverage = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
        expected = (1 / n1 + 1 / n0) ** 2 / (1 / (n1**2 * (n1 - 1)) + 1 / (n0**2 * (n0 - 1)))
        assert_allclose(bell_mccaffrey_df(x, xtx_inv, leverage, 1), expected, rtol=1e-9)


def test_strata_dummies_match_statsmodels():
    frame = _site_means(seed=2)
    strata = pd.Series(np.tile(["a", "b", "c", "d"], 7), index=frame.index)
    ours = ancova(frame, strata=strata)
    dummies = pd.get_dummies(strata, drop_first=True, dtype=float)
    x = sm.add_constant(
        pd.concat(
            [(frame["arm"] == "pilot").astype(float).rename("pilot"), frame["pre"], dummies], axis=1
        )
    )
    # statsmodels: OLS(post ~ 1 + pilot + pre + C(stratum)).fit(cov_type="HC2")
    ref = sm.OLS(frame["post"], x).fit(cov_type="HC2")
    assert_allclose(ours.effect, ref.params["pilot"], rtol=1e-10)
    assert_allclose(ours.se, ref.bse["pilot"], rtol=1e-10)


def test_sites_missing_a_period_are_left_out():
    frame = _site_means()
    frame.iloc[0, frame.columns.get_loc("pre")] = np.nan
    result = ancova(frame)
    assert result.n_pilot == 7 and result.n_control == 20


def test_degenerate_inputs_give_errors():
    frame = _site_means()
    assert "needs pilot and control" in ancova(frame[frame["arm"] == "control"]).error
    constant = frame.assign(post=1.0)
    assert "same at every site" in ancova(constant).error
    flat_pre = frame.assign(pre=3.0)
    assert "collinear" in ancova(flat_pre).error
    tiny = frame.iloc[[0, 10, 11]]
    assert "too few sites" in ancova(tiny).error
    assert ancova(tiny).to_dict()["effect"] is None
