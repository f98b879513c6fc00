"""Pilot-site proposals, control selection and balance tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.selection import balance_table, propose_pilot_sites, select_controls

from .helpers import selection_world


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    return selection_world()


def _smd(p, c):
    # Austin (2009): (mean_p - mean_c) / sqrt((var_p + var_c) / 2), sample variances
    return (p.mean() - c.mean()) / np.sqrt((p.var(ddof=1) + c.var(ddof=1)) / 2)


def test_balance_table_matches_the_smd_formula(world):
    sites, _ = world
    pilots, controls = sites["site_id"][:10].tolist(), sites["site_id"][20:50].tolist()
    table = balance_table(sites, pilots, controls, ["size", "region"])
    rows = {r.variable: r for r in table.rows}
    p = sites.set_index("site_id").loc[pilots]
    c = sites.set_index("site_id").loc[controls]
    # hand computation of the standardized mean difference
    assert_allclose(rows["size"].smd, _smd(p["size"], c["size"]), rtol=1e-12)
    north_p = (p["region"] == "north").astype(float)
    north_c = (c["region"] == "north").astype(float)
    assert_allclose(rows["region=north"].smd, _smd(north_p, north_c), rtol=1e-12)
    assert rows["region=north"].flagged  # all 10 pilots are in the north
    assert table.max_abs_smd == max(abs(r.smd) for r in table.rows)
    assert "imbalanced" in table.summary()


def test_proposal_covers_strata_in_proportion_with_reasons(world):
    sites, history = world
    prop = propose_pilot_sites(
        sites, history, n=10, problem_metric="wait", max_volume_share=0.5, volume_col="orders"
    )
    assert prop.error is None and len(prop.site_ids) == 10
    # largest remainder over 32/24/16/8 sites: 4, 3, 2, 1
    alloc = {row["stratum"]: row["allocated"] for row in prop.strata}
    assert alloc == {"north": 4, "south": 3, "east": 2, "west": 1}
    chosen = sites.set_index("site_id").loc[list(prop.site_ids)]
    assert chosen["region"].value_counts().to_dict() == alloc
    means = history.groupby("site_id")["value"].mean()
    for sid in prop.site_ids:
        region = sites.set_index("site_id").at[sid, "region"]
        peers = means[sites["site_id"][sites["region"] == region]]
        # the most affected sites of each region are taken first
        assert means[sid] >= peers.sort_values(ascending=False).iloc[alloc[region] - 1]
        text = " ".join(prop.reasons[sid])
        assert f"wait {means[sid]:.3g}" in text and f"region {region}" in text
    assert any("regression to the mean" in w for w in prop.warnings)
    assert prop.to_dict()["site_ids"] == list(prop.site_ids)


def test_volume_cap_limits_the_risk(world):
    sites, history = world
    prop = propose_pilot_sites(
        sites, history, n=10, problem_metric="wait", max_volume_share=0.08, volume_col="orders"
    )
    share = sites.set_index("site_id").loc[list(prop.site_ids), "orders"].sum()
    assert share / sites["orders"].sum() <= 0.08 + 1e-12
    assert_allclose(prop.volume_share, share / sites["orders"].sum(), rtol=1e-12)
    if len(prop.site_ids) < 10:
        assert any("volume cap" in w for w in prop.warnings)


def test_proposal_without_problem_metric_is_seeded_random(world):
    sites, _ = world
    a = propose_pilot_sites(sites.drop(columns="orders"), n=8, seed=1)
    b = propose_pilot_sites(sites.drop(columns="orders"), n=8, seed=1)
    c = propose_pilot_sites(sites.drop(columns="orders"), n=8, seed=2)
    assert a.site_ids == b.site_ids != c.site_ids
    assert any("volume cap was not applied" in w for w in a.warnings)


def test_matched_controls_balance_better_than_random(world):
    sites, history = world
    rng = np.random.default_rng(0)
    pilots = rng.choice(sites["site_id"], 10, replace=False).tolist()
    sel = select_controls(sites, pilots, history, method="matched", n=10, match_on=["size"])
    assert len(set(sel.control_ids)) == 10 and not set(sel.control_ids) & set(pilots)
    assert set(sel.matches.values()) == set(pilots)  # 1:1
    random_smd = []
    for seed in range(20):
        others = sites["site_id"][~sites["site_id"].isin(pilots)]
        draw = np.random.default_rng(seed).choice(others, 10, replace=False).tolist()
        table = balance_table(
            sites.assign(**_level_trend(history, sites)), pilots, draw, list(sel.covariates)
        )
        random_smd.append(table.max_abs_smd)
    assert sel.balance.max_abs_smd < np.median(random_smd)
    for cid in sel.control_ids:
        assert sel.matches[cid] in sel.reasons[cid][0]


def _level_trend(history, sites):
    # level = site mean, trend = OLS slope per day (numpy polyfit as the reference)
    level, trend = {}, {}
    for sid, grp in history.groupby("site_id"):
        x = (grp["date"] - grp["date"].min()).dt.days.to_numpy(float)
        trend[sid] = np.polyfit(x, grp["value"].to_numpy(), 1)[0]
        level[sid] = grp["value"].mean()
    ids = sites["site_id"]
    return {"wait level": ids.map(level).to_numpy(), "wait trend": ids.map(trend).to_numpy()}


def test_balance_covariates_match_level_and_trend_reference(world):
    sites, history = world
    pilots = sites["site_id"][::8].tolist()
    sel = select_controls(sites, pilots, history, n=10)
    ref = balance_table(
        sites.assign(**_level_trend(history, sites)),
        pilots,
        list(sel.control_ids),
        ["wait level", "wait trend"],
    )
    assert_allclose([r.smd for r in sel.balance.rows], [r.smd for r in ref.rows], rtol=1e-9)


def test_rerandomization_keeps_the_best_draw(world):
    sites, history = world
    pilots = sites["site_id"][::9].tolist()
    one, best = (
        select_controls(
            sites,
            pilots,
            history,
            method="stratified_random",
            n=18,
            match_on=["region", "size"],
            rerandomize=draws,
            seed=5,
        )
        for draws in (1, 500)
    )
    # the first of the 500 draws is the single draw, so the best cannot be worse
    assert best.balance.max_abs_smd <= one.balance.max_abs_smd
    assert best.n_draws == 500
    # controls mirror the pilots' regions, twice over
    pilot_regions = sites.set_index("site_id").loc[pilots, "region"].value_counts()
    control_regions = sites.set_index("site_id").loc[list(best.control_ids), "region"]
    assert control_regions.value_counts().to_dict() == (2 * pilot_regions).to_dict()
    assert all("drawn at random within" in r[0] for r in best.reasons.values())


def test_caller_mistakes_raise_value_error(world):
    sites, history = world
    with pytest.raises(ValueError, match="stratify"):
        propose_pilot_sites(sites, stratify_by="country")
    with pytest.raises(ValueError, match="volume_col"):
        propose_pilot_sites(sites, volume_col="revenue")
    with pytest.raises(ValueError, match="problem_metric"):
        propose_pilot_sites(sites, history, problem_metric="queue")
    with pytest.raises(ValueError, match="only 80 sites"):
        propose_pilot_sites(sites, n=81)
    with pytest.raises(ValueError, match="unknown pilot"):
        select_controls(sites, ["nowhere"], history)
    with pytest.raises(ValueError, match="need history or match_on"):
        select_controls(sites, ["S001"])
    with pytest.raises(ValueError, match="candidates"):
        select_controls(sites, ["S001"], history, n=200)
    with pytest.raises(ValueError, match="both pilot and control"):
        balance_table(sites, ["S001"], ["S001"], ["size"])
