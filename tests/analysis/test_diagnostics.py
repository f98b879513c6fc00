"""Balance, pre-trend event study, regression to the mean and completeness."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.data import validate
from analysis.diagnostics import (
    WEAK_EVIDENCE,
    balance,
    completeness,
    pretrend,
    regression_to_mean,
)

pf = pytest.importorskip("pyfixest")


def _panel(sim) -> pd.DataFrame:
    obs, sites = validate(sim.observations, sim.sites, sim.start)
    panel = obs[obs["metric"] == "sales"].copy()
    panel["arm"] = panel["site_id"].map(sites.set_index("site_id")["arm"])
    return panel


def test_smd_hand_computation():
    sites = pd.DataFrame(
        {
            "site_id": list("abcdef"),
            "arm": ["pilot"] * 3 + ["control"] * 3,
            "size": [1.0, 2.0, 3.0, 2.0, 4.0, 6.0],
            "region": ["n", "n", "s", "s", "s", "s"],
        }
    )
    result = balance(sites)
    rows = {r.variable: r for r in result.rows}
    # hand computation: (2 - 4) / sqrt((1 + 4) / 2) = -1.2649
    assert_allclose(rows["size"].smd, -2 / np.sqrt(2.5), rtol=1e-12)
    # region=n shares 2/3 vs 0: var 1/3 and 0 -> 0.6667 / sqrt(1/6) = 1.633
    assert_allclose(rows["region=n"].smd, (2 / 3) / np.sqrt((1 / 3) / 2), rtol=1e-12)
    assert rows["size"].flagged and "size" in result.flagged
    assert "SMD" in result.summary()


def test_pre_period_means_join_the_balance_table():
    sites = pd.DataFrame(
        {"site_id": ["a", "b", "c", "d"], "arm": ["pilot", "pilot", "control", "control"]}
    )
    pre = pd.Series([10.0, 10.2, 10.1, 9.9], index=["a", "b", "c", "d"])
    result = balance(sites, {"sales": pre})
    row = result.rows[-1]
    assert row.variable == "pre:sales" and row.kind == "pre-period mean"
    # hand computation: (10.1 - 10.0) / sqrt((0.02 + 0.02) / 2)
    assert_allclose(row.smd, 0.1 / np.sqrt(0.02), rtol=1e-9)


def test_event_study_matches_pyfixest(simulate):
    sim = simulate(10, 30, 28, 21, effect=2.0, missing_share=0.1)
    panel = _panel(sim)
    result = pretrend(panel, sim.start)
    week = np.floor((panel["date"] - sim.start).dt.days / 7).astype(int)
    names = []
    for k in sorted(set(week) - {-1}):
        name = f"w{k + 10}"
        panel[name] = ((panel["arm"] == "pilot") & (week == k)).astype(float)
        names.append(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pyfixest: feols("value ~ w0 + ... | site_id + date", vcov={"CRV1": "site_id"})
        ref = pf.feols(
            f"value ~ {' + '.join(names)} | site_id + date", data=panel, vcov={"CRV1": "site_id"}
        )
        leads = [i for i, n in enumerate(names) if int(n[1:]) - 10 <= -2]
        r = np.eye(len(names))[leads]
        wald = ref.wald_test(R=r, distribution="chi2")
    estimates = {p.week: p for p in result.points}
    for name in names:
        k = int(name[1:]) - 10
        assert_allclose(estimates[k].effect, ref.coef()[name], rtol=1e-6)
        assert_allclose(estimates[k].se, ref.se()[name], rtol=1e-6)
    assert estimates[-1].effect == 0.0
    assert result.n_leads == len(leads) == 3
    # pyfixest: wald_test(R, distribution="chi2"); F reference with (q, G - 1) df from scipy
    assert_allclose(result.p_value_chi2, wald["pvalue"], rtol=1e-5)
    assert_allclose(result.wald_f * result.n_leads, ref._wald_statistic, rtol=1e-5)
    assert_allclose(result.p_value, stats.f.sf(ref._wald_statistic / 3, 3, 39), rtol=1e-5)


def test_pretrend_flags_a_diverging_pre_period(simulate):
    sim = simulate(10, 30, 28, 14)
    obs = sim.observations.copy()
    days_to_start = (obs["date"] - sim.start).dt.days
    pilot = obs["site_id"].isin(sim.sites.loc[sim.sites["arm"] == "pilot", "site_id"])
    obs.loc[pilot & (days_to_start < 0), "value"] += 0.5 * days_to_start  # pilots catching up
    panel = _panel(type(sim)(obs, sim.sites, sim.start, sim.end, sim.effects))
    result = pretrend(panel, sim.start)
    assert result.passed is False and result.p_value < 1e-3


def test_pretrend_parallel_panel_passes_with_note(simulate):
    sim = simulate(10, 30, 28, 14)
    result = pretrend(_panel(sim), sim.start)
    assert result.passed is True and result.note == WEAK_EVIDENCE
    assert "no evidence" in result.summary()


def test_pretrend_needs_two_pre_weeks(simulate):
    sim = simulate(5, 5, 6, 14)
    result = pretrend(_panel(sim), sim.start)
    assert result.error and "two pre-period weeks" in result.error


def test_pretrend_single_pilot_site(simulate):
    sim = simulate(1, 10, 21, 14)
    result = pretrend(_panel(sim), sim.start)
    assert "meaningless" in result.error
    assert len(result.points) > 1  # the estimates are still shown


def test_regression_to_mean_warning(simulate):
    far = simulate(10, 30, 28, 14, shift=15.0)
    obs, sites = validate(far.observations, far.sites, far.start)
    pre = obs[obs["date"] < far.start].groupby("site_id")["value"].mean()
    warning = regression_to_mean(pre, sites, "sales")
    assert warning and "above the control sites" in warning
    near = pre.copy()
    near[:] = np.tile([1.0, 2.0], len(pre) // 2)
    assert regression_to_mean(near, sites, "sales") is None


def test_completeness_hand_count():
    obs = pd.DataFrame(
        {
            "site_id": ["p1", "p1", "p1", "c1", "c1", "c2"],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-03", "2024-01-02"]
            ),
            "metric": "m",
            "value": 1.0,
        }
    )
    sites = pd.DataFrame(
        {"site_id": ["p1", "p2", "c1", "c2"], "arm": ["pilot", "pilot", "control", "control"]}
    )
    result = completeness(obs, sites, "2024-01-02")
    rows = {(r.arm, r.period): r for r in result.rows}
    # hand count: pre = 1 day, post = 2 days; 2 sites per arm
    assert (rows[("pilot", "pre")].expected, rows[("pilot", "pre")].observed) == (2, 1)
    assert (rows[("pilot", "post")].expected, rows[("pilot", "post")].observed) == (4, 2)
    assert (rows[("control", "post")].observed, rows[("control", "pre")].observed) == (2, 1)
    assert_allclose(result.missing_share("m", "pilot"), 1 - 3 / 6, rtol=1e-12)
    assert "missing" in result.summary()
