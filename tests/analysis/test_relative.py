"""Relative effect and its delta-method interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose
from scipy import stats

from analysis.relative import relative_effect


def _site_means(seed=0, n_pilot=8, n_control=20, lift=5.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_pilot + n_control
    pre = rng.normal(100, 10, n)
    arm = np.where(np.arange(n) < n_pilot, "pilot", "control")
    post = pre + 2 + lift * (arm == "pilot") + rng.normal(0, 3, n)
    return pd.DataFrame({"arm": arm, "pre": pre, "post": post})


def test_ratio_matches_hand_computation():
    frame = _site_means()
    result = relative_effect(frame)
    pilot, control = frame[frame["arm"] == "pilot"], frame[frame["arm"] == "control"]
    # hand computation: counterfactual = pilot pre mean + control mean change
    counterfactual = pilot["pre"].mean() + (control["post"] - control["pre"]).mean()
    assert_allclose(result.counterfactual, counterfactual, rtol=1e-12)
    assert_allclose(result.relative_effect, pilot["post"].mean() / counterfactual - 1, rtol=1e-12)


def test_delta_method_se_matches_numerical_gradient():
    frame = _site_means(seed=1)
    result = relative_effect(frame, alpha=0.1)
    pilot, control = frame[frame["arm"] == "pilot"], frame[frame["arm"] == "control"]
    change = (control["post"] - control["pre"]).to_numpy()
    theta = np.array([pilot["pre"].mean(), pilot["post"].mean(), change.mean()])
    cov = np.zeros((3, 3))
    cov[:2, :2] = np.cov(pilot["pre"], pilot["post"]) / len(pilot)
    cov[2, 2] = change.var(ddof=1) / len(change)

    def ratio(t):
        return t[1] / (t[0] + t[2]) - 1

    # reference: first-order delta method with a central finite-difference gradient
    h = 1e-5
    grad = np.array([(ratio(theta + h * e) - ratio(theta - h * e)) / (2 * h) for e in np.eye(3)])
    se = float(np.sqrt(grad @ cov @ grad))
    assert_allclose(result.se, se, rtol=1e-6)
    q = stats.norm.ppf(0.95)
    assert_allclose(
        [result.ci_low, result.ci_high],
        [result.relative_effect - q * se, result.relative_effect + q * se],
        rtol=1e-6,
    )


def test_headline_effect_is_divided_by_the_counterfactual():
    frame = _site_means(seed=2)
    base = relative_effect(frame)
    other = relative_effect(frame, effect=4.0, effect_se=1.0)
    assert_allclose(other.relative_effect, 4.0 / base.counterfactual, rtol=1e-12)
    assert other.se > 1.0 / base.counterfactual * 0.9


def test_counterfactual_near_zero_is_not_reported():
    frame = _site_means(seed=3)
    frame[["pre", "post"]] -= 102.0
    result = relative_effect(frame)
    assert result.error and "not clearly away from zero" in result.error
    assert result.to_dict()["relative_effect"] is None


def test_no_control_sites_is_an_error():
    frame = _site_means()
    assert relative_effect(frame[frame["arm"] == "pilot"]).error is not None


def test_coverage_in_seeded_simulation():
    """95% delta-method intervals cover the true ratio in about 95% of 400 replications."""
    true_ratio = 5.0 / 102.0  # lift 5 on a counterfactual level 100 + 2 (see _site_means)
    covered = [
        (r := relative_effect(_site_means(seed=s, n_pilot=15, n_control=30))).ci_low
        <= true_ratio
        <= r.ci_high
        for s in range(400)
    ]
    # binomial SE at 95% with 400 draws is 1.1%; allow about 3 SE
    assert 0.915 <= np.mean(covered) <= 0.985
