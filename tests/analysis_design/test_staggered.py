"""Staggered rollouts: the imputation estimator against did2s, TWFE bias, bootstrap coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from numpy.testing import assert_allclose

from analysis.staggered import staggered_att

from .helpers import pyfixest_reference, staggered_panel


def _truth(panel: pd.DataFrame) -> tuple[float, pd.Series]:
    treated = panel[panel["adoption_date"].notna() & (panel["date"] >= panel["adoption_date"])]
    return treated["true_effect"].mean(), treated.groupby("adoption_date")["true_effect"].mean()


@pyfixest_reference
def test_point_estimates_equal_pyfixest_did2s():
    panel = staggered_panel(1)
    res = staggered_att(panel.drop(columns="true_effect"), n_boot=0)
    data = panel.copy()
    data["treat"] = data["adoption_date"].notna() & (data["date"] >= data["adoption_date"])
    data["day"] = (data["date"] - data["date"].min()).dt.days
    overall = pf.did2s(data, yname="value", first_stage="~ 0 | site_id + day",
                       second_stage="~ treat", treatment="treat", cluster="site_id")  # fmt: skip
    # pyfixest: did2s(first_stage="~ 0 | site + day", second_stage="~ treat") -- Gardner's
    # two-stage DiD with a pooled second stage is the BJS imputation estimator
    assert_allclose(res.effect, overall.coef()["treat"], rtol=1e-6)
    waves = []
    for k, wave in enumerate(sorted(data["adoption_date"].dropna().unique())):
        data[f"w{k}"] = (data["treat"] & (data["adoption_date"] == wave)).astype(float)
        waves.append(f"w{k}")
    per_wave = pf.did2s(data, yname="value", first_stage="~ 0 | site_id + day",
                        second_stage="~ " + " + ".join(waves), treatment="treat",
                        cluster="site_id")  # fmt: skip
    # pyfixest did2s with one treated-wave dummy per cohort in the second stage
    assert_allclose([c.effect for c in res.cohorts], per_wave.coef().to_numpy(), rtol=1e-6)


def test_noiseless_panel_recovers_the_effect_exactly_and_twfe_does_not():
    panel = staggered_panel(2, noise_sd=1e-9, slope=0.2)
    res = staggered_att(panel.drop(columns="true_effect"), n_boot=0)
    truth, by_wave = _truth(panel)
    # reference: the simulated truth (site + day effects + dynamic effect, no noise)
    assert_allclose(res.effect, truth, rtol=1e-6)
    assert_allclose([c.effect for c in res.cohorts], by_wave.to_numpy(), rtol=1e-6)
    assert abs(res.twfe_effect - truth) > 0.5
    first = res.event_time[0]
    assert first["day"] == 0
    assert_allclose(first["effect"], 1.0, rtol=1e-6)  # the simulated jump on adoption day


def test_imputation_is_unbiased_where_twfe_is_biased():
    # Seeded study: 3 waves of 10 sites + 10 never treated, effect 1 + 0.1 * days since adoption
    reps = 80
    imp, twfe = [], []
    for r in range(reps):
        panel = staggered_panel(1000 + r)
        truth, _ = _truth(panel)
        res = staggered_att(panel.drop(columns="true_effect"), n_boot=0)
        imp.append(res.effect - truth)
        twfe.append(res.twfe_effect - truth)
    imp, twfe = np.array(imp), np.array(twfe)
    mc_se = imp.std(ddof=1) / np.sqrt(reps)
    assert abs(imp.mean()) < 4 * mc_se
    assert abs(twfe.mean()) > 20 * twfe.std(ddof=1) / np.sqrt(reps)
    assert abs(twfe.mean()) > 0.5


def test_bootstrap_interval_coverage():
    # Seeded study of the site-clustered bootstrap (stratified by wave, scaled t interval)
    reps, covered = 60, 0
    for r in range(reps):
        panel = staggered_panel(2000 + r, n_sites=28, n_never=7, waves=(20, 35, 50))
        truth, _ = _truth(panel)
        res = staggered_att(panel.drop(columns="true_effect"), seed=r, n_boot=99)
        covered += res.ci_low <= truth <= res.ci_high
    assert covered / reps >= 0.85


def test_result_fields_and_seeding():
    panel = staggered_panel(3).drop(columns="true_effect")
    a = staggered_att(panel, seed=4, n_boot=49)
    b = staggered_att(panel, seed=4, n_boot=49)
    assert a == b
    assert a.n_treated_sites == 30 and a.n_never_treated == 10 and len(a.cohorts) == 3
    assert all(c.ci_low < c.effect < c.ci_high for c in a.cohorts)
    assert a.to_dict()["cohorts"][0]["adoption_date"] == "2024-01-21"
    assert "Plain TWFE" in a.summary()


def test_without_never_treated_sites_late_days_are_dropped():
    panel = staggered_panel(4, n_sites=30, n_never=0).drop(columns="true_effect")
    res = staggered_att(panel, n_boot=0)
    assert res.error is None
    assert any("could not be imputed" in w for w in res.warnings)
    assert any("no never-treated" in w for w in res.warnings)


def test_degenerate_and_mistaken_inputs():
    panel = staggered_panel(5).drop(columns="true_effect")
    never = panel.assign(adoption_date=pd.NaT)
    assert "no site-day is treated" in staggered_att(never, n_boot=0).error
    always = panel.assign(adoption_date=panel["date"].min())
    assert staggered_att(always, n_boot=0).error is not None
    bad = panel.copy()
    bad.loc[bad.index[:3], "adoption_date"] = pd.Timestamp("2024-02-01")
    with pytest.raises(ValueError, match="varies within site"):
        staggered_att(bad)
    with pytest.raises(ValueError, match="missing column"):
        staggered_att(panel.drop(columns="adoption_date"))
    with pytest.raises(ValueError, match="n_boot"):
        staggered_att(panel, n_boot=5)
