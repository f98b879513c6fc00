"""Wave feedback beside the pilot's: counts, mean rating, CSAT, NPS and themes.

Reference: the definitions in the module docstring, recomputed here with plain Python loops
over the same rows (no pandas), so an error in the grouping or the filters shows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.rollout_feedback import compare_feedback


def _rows(seed: int = 3):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(120):
        group = "wave" if i % 3 else "pilot"
        audience = "staff" if i % 5 == 0 else "customer"
        rating = float(rng.integers(1, 6)) if rng.random() > 0.15 else math.nan
        score = (
            float(rng.integers(0, 11))
            if audience == "customer" and rng.random() > 0.2
            else math.nan
        )
        rows.append((i, group, audience, rating, score))
    tags = [
        (i, tag) for i in range(0, 120, 2) for tag in (("queue",) if i % 4 else ("queue", "price"))
    ]
    tags += [(i, "staff_friendly") for i in range(1, 120, 7)]
    return rows, tags


def _by_hand(rows, tags, group):
    mine = [r for r in rows if r[1] == group]
    customer = [r for r in mine if r[2] == "customer"]
    ratings = [r[3] for r in customer if not math.isnan(r[3])]
    scores = [r[4] for r in customer if not math.isnan(r[4])]
    staff = [r[3] for r in mine if r[2] == "staff" and not math.isnan(r[3])]
    ids = {r[0] for r in mine}
    counts: dict[str, int] = {}
    for response_id, tag in set(tags):
        if response_id in ids:
            counts[tag] = counts.get(tag, 0) + 1
    return {
        "n": len(mine),
        "n_customer": len(customer),
        "n_staff": len(mine) - len(customer),
        "rating_mean": sum(ratings) / len(ratings),
        "csat": sum(1 for x in ratings if x >= 4) / len(ratings),
        "nps": 100
        * (sum(1 for x in scores if x >= 9) - sum(1 for x in scores if x <= 6))
        / len(scores),
        "staff_mean": sum(staff) / len(staff),
        "top": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
    }


def test_each_figure_matches_a_computation_by_hand():
    rows, tags = _rows()
    frame = pd.DataFrame(rows, columns=["response_id", "group", "audience", "rating", "nps"])
    result = compare_feedback(frame, pd.DataFrame(tags, columns=["response_id", "tag"]), top=2)
    for name in ("wave", "pilot"):
        got = getattr(result, name)
        want = _by_hand(rows, tags, name)
        assert (got.n_responses, got.n_customer, got.n_staff) == (
            want["n"],
            want["n_customer"],
            want["n_staff"],
        )
        assert_allclose(got.rating_mean, want["rating_mean"], rtol=1e-12)
        assert_allclose(got.csat, want["csat"], rtol=1e-12)
        assert_allclose(got.nps, want["nps"], rtol=1e-12)
        assert_allclose(got.staff_rating_mean, want["staff_mean"], rtol=1e-12)
        assert list(got.themes) == want["top"][:2]
    assert_allclose(result.rating_difference, result.wave.rating_mean - result.pilot.rating_mean)
    assert_allclose(result.nps_difference, result.wave.nps - result.pilot.nps)
    assert result.error is None
    assert "responses from the wave's sites" in result.summary()
    assert result.to_dict()["wave"]["n_responses"] == result.wave.n_responses


def test_nps_of_a_small_known_set():
    # 2 promoters (9, 10), 1 passive (8), 2 detractors (0, 6): 100 * (2 - 2) / 5 = 0;
    # wave: 3 promoters, 1 detractor: 100 * (3 - 1) / 4 = 50
    frame = pd.DataFrame(
        {
            "response_id": range(9),
            "group": ["pilot"] * 5 + ["wave"] * 4,
            "audience": ["customer"] * 9,
            "rating": [5, 4, 3, 2, 1, 5, 5, 4, 1],
            "nps": [9, 10, 8, 0, 6, 9, 10, 10, 2],
        }
    )
    result = compare_feedback(frame)
    assert result.pilot.nps == 0 and result.wave.nps == 50
    assert result.pilot.csat == pytest.approx(2 / 5) and result.wave.csat == pytest.approx(3 / 4)
    assert result.nps_difference == 50


def test_no_wave_response_is_said_not_hidden():
    frame = pd.DataFrame(
        {
            "response_id": [1],
            "group": ["pilot"],
            "audience": ["customer"],
            "rating": [4],
            "nps": [9],
        }
    )
    result = compare_feedback(frame)
    assert result.error and result.wave.rating_mean is None and result.rating_difference is None
    assert "no response" in result.summary()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["nps"]), "lacks the column"),
        (lambda f: f.assign(group="control"), "unknown group"),
        (lambda f: f.assign(audience="guest"), "unknown audience"),
        (lambda f: f.assign(rating=7), "rating must lie in 1..5"),
        (lambda f: f.assign(nps=11), "nps must lie in 0..10"),
        (lambda f: f.assign(response_id=1), "unique"),
    ],
)
def test_bad_input_is_named(change, message):
    frame = pd.DataFrame(
        {
            "response_id": [1, 2],
            "group": ["wave", "pilot"],
            "audience": ["customer", "staff"],
            "rating": [4, 5],
            "nps": [9, math.nan],
        }
    )
    with pytest.raises(ValueError, match=message):
        compare_feedback(change(frame))
