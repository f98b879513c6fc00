"""Seeded error-rate check of the headline method (the fast version of the bench study).

10 pilot vs 30 control sites, 28 + 28 days, site effects, weekday seasonality and AR(1) noise
with rho = 0.5 (``analysis.simulate.simulate_panel``). 200 A/A replications estimate the
false-positive rate and 200 replications with a true effect estimate interval coverage. With
200 draws the binomial SE is 1.5 percentage points at 5% and 95%, so the bands are about
three SEs wide: FPR in [1%, 9.5%] and coverage in [90.5%, 99.5%]. The full study
(``tests/bench/simulate_error_rates.py``, 2,000 replications) uses the tight bands.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analysis import compare
from analysis.simulate import simulate_panel

REPS = 200
TRUE_EFFECT = 3.0


def _naive_day_level_p(sim) -> float:
    obs = sim.observations
    pre = obs[obs["date"] < sim.start].groupby("site_id")["value"].mean()
    post = obs[obs["date"] >= sim.start]
    change = post["value"] - post["site_id"].map(pre)
    pilot = post["site_id"].map(sim.sites.set_index("site_id")["arm"]) == "pilot"
    # scipy.stats.ttest_ind(..., equal_var=False) on site-days, ignoring clustering
    return stats.ttest_ind(change[pilot], change[~pilot], equal_var=False).pvalue


def _replicate(effect: float, seed: int):
    sim = simulate_panel(10, 30, 28, 28, effect=effect, rho=0.5, seed=seed)
    result = compare(sim.observations, sim.sites, sim.start, n_permutations=1000, seed=seed)
    return sim, result.metrics["sales"]


def test_headline_false_positive_rate_and_coverage():
    rejections, naive, covered, methods = [], [], [], set()
    for rep in range(REPS):
        sim, null = _replicate(0.0, seed=10_000 + rep)
        rejections.append(null.p_value < 0.05)
        naive.append(_naive_day_level_p(sim) < 0.05)
        methods.add(null.method.split(":")[0])
        _, alt = _replicate(TRUE_EFFECT, seed=20_000 + rep)
        covered.append(alt.ci_low <= TRUE_EFFECT <= alt.ci_high)
    assert methods == {"ancova"}
    assert 0.01 <= np.mean(rejections) <= 0.095
    assert 0.905 <= np.mean(covered) <= 0.995
    # the naive day-level test over-rejects badly in the same data: the check has teeth
    assert np.mean(naive) > 0.15


def test_single_pilot_site_falls_back_to_permutation_and_keeps_alpha():
    rejections = []
    for rep in range(60):
        sim = simulate_panel(1, 30, 28, 28, rho=0.5, seed=30_000 + rep)
        result = compare(sim.observations, sim.sites, sim.start).metrics["sales"]
        assert result.method.startswith("permutation")
        rejections.append(result.p_value < 0.05)
    # exact test over 31 assignments: P(p < 0.05) = 1/31 = 3.2%; 60 draws, binomial SE 2.3%
    assert np.mean(rejections) <= 0.12
