"""Ordered categories keep their order (analysis/ordering.py): age bands, size tiers, numeric
bands sort as people read them, not alphabetically."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from analysis.feedback import by_segment
from analysis.ordering import category_key, natural_order
from analysis.segments import segment_effects


@pytest.mark.parametrize(
    "ordered",
    [
        ["under_18", "18_29", "30_59", "60_plus"],
        ["under_30", "30_59", "60+"],
        ["under 60", "60+"],
        ["<30", "30-44", "45-59", "60 or over"],
        ["small", "medium", "large"],
        ["Small", "Medium", "Large"],
        ["low", "medium", "high"],
        ["size <= 40", "40 < size <= 60", "size > 60"],
        ["x <= -0.5", "-0.5 < x <= -0.1", "x > -0.1"],
        ["2", "10", "100"],
        ["east", "North", "south"],  # no natural order: alphabetical, ignoring case
    ],
)
def test_natural_order(ordered):
    shuffled = ordered[:]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert natural_order(shuffled) == ordered


def test_missing_values_go_last():
    assert natural_order([None, "60+", "", float("nan"), "18_29"])[:2] == ["18_29", "60+"]
    assert category_key(None) > category_key("zzz")


def test_feedback_segments_come_in_age_order():
    rng = np.random.default_rng(3)
    rows = []
    for site in range(12):
        arm = "pilot" if site < 6 else "control"
        for segment in ("60+", "under_30", "30_59"):  # stored in another order
            for _ in range(15):
                rows.append((f"S{site}", arm, segment, int(rng.integers(1, 6))))
    responses = pd.DataFrame(rows, columns=["site_id", "arm", "segment", "value"])
    res = by_segment(responses)
    assert [r.segment for r in res.segments] == ["under_30", "30_59", "60+"]


def test_site_segments_come_in_size_order():
    rng = np.random.default_rng(4)
    tiers = ["large", "small", "medium"]
    sites = pd.DataFrame(
        {
            "site_id": [f"S{i:02d}" for i in range(24)],
            "arm": ["pilot" if i % 2 else "control" for i in range(24)],
            "size_tier": [tiers[i % 3] for i in range(24)],
        }
    )
    days = pd.date_range("2026-03-01", periods=20, freq="D")
    obs = pd.DataFrame(
        [(s, d, "sales", float(rng.normal(10, 1))) for s in sites["site_id"] for d in days],
        columns=["site_id", "date", "metric", "value"],
    )
    res = segment_effects(obs, sites, "2026-03-11", "sales", "size_tier", n_boot=0)
    assert [s.segment for s in res.segments] == ["small", "medium", "large"]
