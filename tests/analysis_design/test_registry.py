"""The seeded registry generator used to test pilot designs."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis.simulate import PROBLEM_METRIC, simulate_registry

COLUMNS = [
    "site_id",
    "region",
    "size_tier",
    "staff_count",
    "digital_readiness",
    "management_score",
    "senior_share",
    "volume",
]


def test_registry_columns_sizes_and_seeding():
    sites, history = simulate_registry(60, n_regions=3, region_skew=1.0, days=42, seed=3)
    assert list(sites.columns) == COLUMNS
    assert sites["site_id"].is_unique and len(sites) == 60
    assert list(history.columns) == ["site_id", "date", "metric", "value"]
    assert set(history["metric"]) == {PROBLEM_METRIC, "order_errors"}
    assert history.groupby("metric").size().eq(60 * 42).all()
    # region shares proportional to exp(-k): 60 - 3 = 57 sites shared 0.665 / 0.245 / 0.090,
    # plus one each (largest remainder): 39, 15, 6
    assert sorted(sites["region"].value_counts().tolist()) == [6, 15, 39]
    again = simulate_registry(60, n_regions=3, region_skew=1.0, days=42, seed=3)
    assert again[0].equals(sites) and again[1].equals(history)


def test_longer_registries_extend_the_same_chains():
    _, short = simulate_registry(30, days=28, seed=5)
    _, long = simulate_registry(30, days=84, seed=5)
    first = long[long["date"] <= short["date"].max()]
    # reference: the 28-day history itself
    assert_allclose(
        first.sort_values(["metric", "site_id", "date"])["value"].to_numpy(),
        short.sort_values(["metric", "site_id", "date"])["value"].to_numpy(),
        rtol=0,
    )


def test_problem_metric_has_site_levels_trends_and_skew():
    skews = []
    for problem_skew in (0.0, 1.5):
        _, history = simulate_registry(500, problem_skew=problem_skew, seed=7, days=56)
        wait = history[history["metric"] == PROBLEM_METRIC].copy()
        wait["day"] = (wait["date"] - wait["date"].min()).dt.days
        level = wait.groupby("site_id")["value"].mean()
        slope = wait.groupby("site_id").apply(
            lambda g: np.polyfit(g["day"], g["value"], 1)[0], include_groups=False
        )
        assert level.std() > 2.0  # levels vary by site
        assert slope.std() > 0.02  # and so do trends (SD 0.03 per day plus noise)
        skews.append(float(((level - level.mean()) ** 3).mean() / level.std() ** 3))
    assert skews[1] > skews[0] + 0.5  # a longer right tail of problem sites


def test_registry_arguments_are_checked():
    with pytest.raises(ValueError, match="regions"):
        simulate_registry(10, n_regions=0)
    with pytest.raises(ValueError, match="days"):
        simulate_registry(10, days=1)
    with pytest.raises(ValueError, match="skew"):
        simulate_registry(10, region_skew=-1)
