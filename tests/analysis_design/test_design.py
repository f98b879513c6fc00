"""Pilot design: pool, exact-stratum matching, seeded assignment, balance and its fixes."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.pilot_design import _assign, _greedy_groups, design, design_balance, match_groups
from analysis.simulate import PROBLEM_METRIC, simulate_registry

MATCH = ("region", "digital_readiness", "staff_count")
LEVEL, TREND = f"{PROBLEM_METRIC} level", f"{PROBLEM_METRIC} trend"


def _apply(fix, kwargs: dict) -> dict:
    """The design arguments after a one-click fix."""
    new = dict(kwargs)
    if fix.code == "widen_pool":
        new.pop("pool_share", None)
        new.pop("threshold", None)
        new.update(fix.params)
    elif fix.code == "fewer_pilots":
        new["n_pilots"] = fix.params["n_pilots"]
    else:
        assert fix.code == "drop_match"
        new["match"] = tuple(a for a in new["match"] if a != fix.params["attribute"])
    return new


# registries of 60, 120 and 500 sites; equal or skewed regions; a normal or long-tailed
# problem metric (simulate_registry's problem_skew)
REGISTRIES = [
    (60, 6, 0.0, 0.0, 1),
    (60, 6, 1.5, 1.5, 1),
    (120, 10, 0.0, 0.0, 0),
    (120, 10, 0.8, 1.0, 3),
    (500, 20, 1.5, 1.5, 0),
    (500, 20, 0.8, 1.0, 2),
]


@pytest.mark.parametrize(("n_sites", "n_pilots", "region_skew", "problem_skew", "seed"), REGISTRIES)
def test_default_design_is_balanced_or_names_a_fix_that_balances(
    n_sites, n_pilots, region_skew, problem_skew, seed
):
    sites, history = simulate_registry(
        n_sites, region_skew=region_skew, problem_skew=problem_skew, seed=seed
    )
    kwargs = dict(n_pilots=n_pilots, problem_metric=PROBLEM_METRIC, match=MATCH, seed=seed)
    result = design(sites, history, **kwargs)
    names = {b.name for b in result.balance}
    assert {LEVEL, TREND, "digital_readiness", "staff_count"} <= names
    assert any(n.startswith("region=") for n in names)
    flagged = {b.name for b in result.balance if abs(b.smd) > 0.25}
    assert flagged == {u.name for u in result.unbalanced}
    for item in result.unbalanced:
        assert item.reason.code in ("pairs_not_close", "chance")
        assert item.fixes, f"{item.name} is unbalanced and no fix is offered"
        for fix in item.fixes:
            rerun = design(sites, history, **_apply(fix, kwargs))
            entry = next(b for b in rerun.balance if b.name == item.name)
            assert abs(entry.smd) <= 0.25, (item.name, fix)
            if fix.balances_all:
                assert all(abs(b.smd) <= 0.25 for b in rerun.balance), fix
    if n_sites == 500:
        # a large registry allows a balanced default design
        assert not result.unbalanced


def test_groups_never_cross_a_region_even_when_closer_across():
    sites, history = simulate_registry(120, region_skew=1.0, seed=5)
    for ratio in (1, 2):
        result = design(
            sites,
            history,
            n_pilots=8,
            problem_metric=PROBLEM_METRIC,
            match=("region",),
            ratio=ratio,
            seed=2,
        )
        region = sites.set_index("site_id")["region"]
        assert len(result.pairs) == 8
        assert all(len(g) == 1 + ratio for g in result.pairs)
        assert all(region[list(g)].nunique() == 1 for g in result.pairs)
        # exact matching: the region shares of the arms are equal
        assert all(b.smd == 0 for b in result.balance if b.name.startswith("region="))
    # two sites in different regions with identical history are never paired
    twin = history[history["site_id"] == "S001"].assign(site_id="TWIN")
    other = sorted(set(sites["region"]) - {region["S001"]})[0]
    sites2 = pd.concat(
        [sites, sites[sites["site_id"] == "S001"].assign(site_id="TWIN", region=other)]
    )
    result = design(
        sites2,
        pd.concat([history, twin]),
        n_pilots=30,
        problem_metric=PROBLEM_METRIC,
        match=("region",),
        pool_share=1.0,
    )
    assert not any({"S001", "TWIN"} <= set(g) for g in result.pairs)


def _brute_force(d2: np.ndarray, k: int, size: int) -> float:
    """Reference: the smallest total within-group squared distance over every choice of k
    disjoint groups (itertools enumeration)."""
    n = d2.shape[0]
    best = np.inf

    def cost(group):
        return sum(d2[a, b] for a, b in itertools.combinations(group, 2))

    def extend(remaining, groups_left, total):
        nonlocal best
        if groups_left == 0:
            best = min(best, total)
            return
        if len(remaining) < size * groups_left or total >= best:
            return
        first, rest = remaining[0], remaining[1:]
        for others in itertools.combinations(rest, size - 1):
            left = [r for r in rest if r not in others]
            extend(left, groups_left - 1, total + cost((first, *others)))
        extend(rest, groups_left, total)  # first left unused

    extend(list(range(n)), k, 0.0)
    return best


@pytest.mark.parametrize(("n", "k", "size"), [(8, 4, 2), (10, 3, 2), (9, 3, 3), (12, 3, 3)])
def test_matching_is_optimal_against_brute_force_enumeration(n, k, size):
    # Reference: exhaustive enumeration of every set of k disjoint groups (itertools brute
    # force); the integer program must reach the same minimum total squared distance.
    rng = np.random.default_rng(n * 100 + k * 10 + size)
    for _ in range(15):
        values = rng.standard_normal((n, 3))
        d2 = ((values[:, None] - values[None]) ** 2).sum(axis=2)
        groups = match_groups(values, k, size)
        assert len(groups) == k and len({s for g in groups for s in g}) == k * size
        got = sum(d2[a, b] for g in groups for a, b in itertools.combinations(g, 2))
        assert_allclose(got, _brute_force(d2, k, size), rtol=1e-9)


@pytest.mark.parametrize("size", [2, 3])
def test_matching_without_presolve_reaches_the_optimum_of_highs_with_presolve(size):
    # Reference: scipy.optimize.milp (HiGHS) with its default presolve on the same candidate
    # groups; _optimal_groups switches presolve off for speed and must reach the same minimum.
    from scipy import optimize, sparse

    from analysis.pilot_design import _candidate_groups, _costs, _optimal_groups

    rng = np.random.default_rng(20 + size)
    n, k = 240, 30 if size == 2 else 20
    values = rng.standard_normal((n, 3))
    strata = np.repeat(["a", "b", "c", "d"], n // 4)
    d2 = ((values[:, None] - values[None]) ** 2).sum(axis=2)
    d2 = np.where(strata[:, None] == strata[None, :], d2, np.inf)
    groups = _candidate_groups(d2, size)
    cost = _costs(d2, groups)
    rows = np.concatenate([groups.ravel(), np.full(len(groups), n)])
    cols = np.concatenate([np.repeat(np.arange(len(groups)), size), np.arange(len(groups))])
    a = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(n + 1, len(groups)))
    ref = optimize.milp(
        cost,
        constraints=optimize.LinearConstraint(
            a, np.append(np.zeros(n), k), np.append(np.ones(n), k)
        ),
        integrality=np.ones(len(groups)),
        bounds=optimize.Bounds(0, 1),
    )
    ours = _optimal_groups(d2, k, size)
    assert ours is not None and len(ours) == k
    assert_allclose(_costs(d2, np.array(ours)).sum(), ref.fun, rtol=1e-9)


def test_matching_respects_strata_and_beats_greedy_pairs():
    rng = np.random.default_rng(3)
    values = rng.standard_normal((30, 2))
    strata = np.repeat(["a", "b", "c"], 10)
    groups = match_groups(values, 9, 2, strata)
    assert all(len({strata[i] for i in g}) == 1 for g in groups)
    # the closest-pair-first greedy is never better than the optimum (same pairs, same cost)
    d2 = ((values[:, None] - values[None]) ** 2).sum(axis=2)
    d2 = np.where(strata[:, None] == strata[None, :], d2, np.inf)
    greedy = _greedy_groups(d2, 9, 2)
    cost = sum(d2[a, b] for a, b in groups)
    assert cost <= sum(d2[a, b] for a, b in greedy) + 1e-12


def test_assignment_is_seeded_and_fair_within_groups():
    sites, history = simulate_registry(120, seed=4)
    kwargs = dict(n_pilots=10, problem_metric=PROBLEM_METRIC, match=("region",))
    first = design(sites, history, seed=11, **kwargs)
    assert design(sites, history, seed=11, **kwargs) == first
    assert first.seed == 11
    other = design(sites, history, seed=12, **kwargs)
    # the matching does not use the seed; only who is the pilot inside a group does
    assert {frozenset(g) for g in other.pairs} == {frozenset(g) for g in first.pairs}
    # Fairness of the draw (the assignment step of design(), on fixed groups): over 2,000
    # seeds the first site of a pair is the pilot with probability 1/2 and each site of a
    # triplet with 1/3; binomial SDs 1.1 and 1.05 points, the band is +/- 4 SD.
    reg = SimpleNamespace(volume=None)
    groups = [["a", "b"], ["c", "d", "e"]]
    pilots = np.array(
        [
            [g[0] for g in _assign(reg, SimpleNamespace(seed=s, max_volume_share=None), groups, [])]
            for s in range(2000)
        ]
    )
    assert abs(np.mean(pilots[:, 0] == "a") - 1 / 2) <= 4 * np.sqrt(0.25 / 2000)
    for site in "cde":
        assert abs(np.mean(pilots[:, 1] == site) - 1 / 3) <= 4 * np.sqrt(2 / 9 / 2000)


def test_volume_cap_holds_for_every_possible_assignment():
    sites, history = simulate_registry(120, seed=8)
    total = sites["volume"].sum()
    free = design(sites, history, n_pilots=10, problem_metric=PROBLEM_METRIC)
    volume = sites.set_index("site_id")["volume"]
    worst_free = sum(volume[list(g)].max() for g in free.pairs) / total
    cap = 0.8 * worst_free
    capped = design(
        sites, history, n_pilots=10, problem_metric=PROBLEM_METRIC, max_volume_share=cap
    )
    worst = sum(volume[list(g)].max() for g in capped.pairs) / total
    assert worst <= cap + 1e-12
    assert capped.volume_share <= cap + 1e-12
    # reference: the pilots' volume summed with pandas over the registry's total
    assert_allclose(capped.volume_share, volume[list(capped.pilot_sites)].sum() / total, rtol=1e-12)
    assert any("left out of the pool" in w for w in capped.warnings)
    assert len(capped.pairs) == 10


def test_pool_rules_and_exclusions():
    sites, history = simulate_registry(60, seed=9)
    level = history[history["metric"] == PROBLEM_METRIC].groupby("site_id")["value"].mean()
    worst = list(level.sort_values(ascending=False).index)
    res = design(sites, history, n_pilots=3, problem_metric=PROBLEM_METRIC, pool_share=0.25)
    assert list(res.pool) == worst[:15]
    assert set(res.pilot_sites + res.control_sites) <= set(worst[:15])
    low = design(sites, history, n_pilots=3, problem_metric=PROBLEM_METRIC, problem="low")
    assert list(low.pool) == worst[::-1][:30]
    cut = float(level.quantile(0.8))
    res = design(
        sites,
        history,
        n_pilots=2,
        problem_metric=PROBLEM_METRIC,
        threshold=cut,
        exclude=[worst[0]],
    )
    assert set(res.pool) == set(level.index[level >= cut]) - {worst[0]}
    assert res.pool_rule == {"threshold": cut, "exclude": [worst[0]]}


def test_pool_too_small_says_so_and_the_fixes_supply_the_groups():
    sites, history = simulate_registry(60, seed=2)
    kwargs = dict(n_pilots=12, problem_metric=PROBLEM_METRIC, match=("region",), pool_share=0.3)
    res = design(sites, history, **kwargs)
    assert res.shortfall is not None
    assert res.shortfall.reason.code == "pool_too_small"
    assert res.shortfall.needed == 24 and res.shortfall.available < 24
    assert len(res.pairs) == res.shortfall.available // 2
    assert any("pool" in w for w in res.warnings)
    codes = {f.code for f in res.shortfall.fixes}
    assert {"widen_pool", "fewer_pilots"} <= codes
    for fix in res.shortfall.fixes:
        rerun = design(sites, history, **_apply(fix, kwargs))
        assert rerun.shortfall is None
        assert len(rerun.pairs) == rerun.n_pilots_requested


def test_balance_matches_a_hand_computation():
    sites, history = simulate_registry(120, seed=6)
    res = design(sites, history, n_pilots=10, problem_metric=PROBLEM_METRIC, match=MATCH)
    rows = history[history["metric"] == PROBLEM_METRIC].copy()
    rows["day"] = (rows["date"] - rows["date"].min()).dt.days
    per_site = rows.groupby("site_id")
    level = per_site["value"].mean()
    trend = per_site.apply(lambda g: np.polyfit(g["day"], g["value"], 1)[0], include_groups=False)
    frame = sites.set_index("site_id").assign(**{LEVEL: level, TREND: trend})
    p, c = list(res.pilot_sites), list(res.control_sites)
    for entry in res.balance:
        if "=" in entry.name:
            attr, _, value = entry.name.partition("=")
            x = (frame[attr] == value).astype(float)
        else:
            x = frame[entry.name].astype(float)
        # reference: SMD = (mean_p - mean_c) / sqrt((var_p + var_c) / 2) (Austin 2009), numpy
        # polyfit for the trend
        smd = (x[p].mean() - x[c].mean()) / np.sqrt((x[p].var(ddof=1) + x[c].var(ddof=1)) / 2)
        assert_allclose([entry.pilot, entry.control], [x[p].mean(), x[c].mean()], rtol=1e-9)
        assert_allclose(entry.smd, 0.0 if np.isnan(smd) else smd, rtol=1e-9, atol=1e-12)
    again = design_balance(sites, history, p, c, problem_metric=PROBLEM_METRIC, match=MATCH)
    assert again == res.balance


def test_result_json_keys_and_summary():
    sites, history = simulate_registry(60, seed=1)
    res = design(sites, history, n_pilots=4, problem_metric=PROBLEM_METRIC, match=("region",))
    data = json.loads(json.dumps(res.to_dict()))
    for key in ("pilot_sites", "control_sites", "pairs", "seed", "balance", "warnings"):
        assert key in data
    assert {"name", "pilot", "control", "smd"} <= set(data["balance"][0])
    assert all(isinstance(g, list) and g[0] in data["pilot_sites"] for g in data["pairs"])
    frame = res.sites_frame()
    assert list(frame.columns) == ["site_id", "arm", "pair"]
    assert (frame.groupby("pair")["arm"].apply(lambda a: (a == "pilot").sum()) == 1).all()
    assert "Pilot design for wait_minutes" in res.summary()


def test_caller_mistakes_raise_value_error():
    sites, history = simulate_registry(40, seed=1)
    ok = dict(n_pilots=3, problem_metric=PROBLEM_METRIC)
    with pytest.raises(ValueError, match="unknown metric"):
        design(sites, history, n_pilots=3, problem_metric="nope")
    with pytest.raises(ValueError, match="to match on"):
        design(sites, history, match=("colour",), **ok)
    with pytest.raises(ValueError, match="not both"):
        design(sites, history, pool_share=0.5, threshold=10.0, **ok)
    with pytest.raises(ValueError, match="ratio"):
        design(sites, history, ratio=3, **ok)
    with pytest.raises(ValueError, match="exclude"):
        design(sites, history, exclude=["S999"], **ok)
    with pytest.raises(ValueError, match="n_pilots"):
        design(sites, history, n_pilots=0, problem_metric=PROBLEM_METRIC)
    with pytest.raises(ValueError, match="volume"):
        design(sites.drop(columns="volume"), history, max_volume_share=0.1, **ok)
    with pytest.raises(ValueError, match="problem"):
        design(sites, history, problem="worse", **ok)
