"""``compare``: headline choice, verdicts, degenerate metrics and the output contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis import ComparisonReport, MetricResult, compare
from analysis.compare import choose_method, decide_verdict
from analysis.multiple import adjust_family

HEADLINE_KEYS = {
    "effect", "se", "relative_effect", "ci_low", "ci_high", "p_value", "p_adjusted", "method",
    "n_pilot_sites", "n_control_sites", "verdict", "methods", "diagnostics",
}  # fmt: skip


def compare_simulated(sim, **options) -> ComparisonReport:
    """``compare`` on a simulated pilot's observations, sites and start."""
    return compare(sim.observations, sim.sites, sim.start, **options)


# --- the auto rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("design", "expected", "because"),
    [
        ((1, 30, 28, 1.0), "permutation", "clustered standard errors are meaningless"),
        ((4, 30, 28, 1.0), "permutation", ""),  # few pilot sites
        ((30, 5, 28, 1.0), "permutation", ""),  # few control sites
        ((10, 30, 28, 1.0), "ancova", "stable pre-period"),
        ((25, 30, 3, 1.0), "did", ""),  # short pre-period
        ((10, 30, 3, 1.0), "permutation", ""),  # short pre-period, few sites
        ((25, 30, 28, 0.5), "did", ""),  # patchy: half the sites lack pre data
    ],
)
def test_auto_rule(design, expected, because):
    method, reason = choose_method(*design)
    assert method == expected and because in reason


# --- verdicts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((2.0, 1.0, 3.0, 0.01, 0.05), "better"),
        ((-2.0, -3.0, -1.0, 0.01, 0.05), "worse"),
        ((-2.0, -3.0, -1.0, 0.01, 0.05, "decrease"), "better"),
        ((2.0, 1.0, 3.0, 0.08, 0.05), "inconclusive"),  # adjusted p not significant
        ((0.1, -0.5, 0.7, 0.7, 0.05, "increase", 1.0), "equivalent"),
        ((0.1, -0.5, 1.7, 0.7, 0.05, "increase", 1.0), "inconclusive"),
        ((-0.5, -1.5, 0.5, 0.3, 0.05, "increase", None, 2.0), "equivalent"),  # non-inferior
        ((-0.5, -2.5, 0.5, 0.3, 0.05, "increase", None, 2.0), "inconclusive"),
        ((0.5, -0.5, 2.5, 0.3, 0.05, "decrease", None, 2.0), "inconclusive"),
        ((float("nan"), 1.0, 3.0, 0.01, 0.05), "inconclusive"),
    ],
)
def test_verdicts(args, expected):
    assert decide_verdict(*args)[0] == expected


def test_verdict_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        decide_verdict(1.0, 0.5, 1.5, 0.01, 0.05, "up")


# --- compare --------------------------------------------------------------------------------


def test_default_design_uses_ancova_and_reports_every_method(pilot):
    report = compare(pilot.observations, pilot.sites, pilot.start)
    assert isinstance(report, ComparisonReport)
    result = report.metrics["sales"]
    assert isinstance(result, MetricResult)
    assert result.method.startswith("ancova") and "stable pre-period" in result.method_reason
    assert set(result.methods) == {"did", "ancova", "welch", "permutation", "rank"}
    ancova = result.methods["ancova"]
    assert (result.effect, result.se, result.ci_low, result.p_value) == (
        ancova.effect,
        ancova.se,
        ancova.ci_low,
        ancova.p_value,
    )
    assert (result.n_pilot_sites, result.n_control_sites) == (10, 30)
    assert result.verdict == "better"  # true effect 3 with SE about 0.8 (seeded)
    assert result.relative_ci_low < result.relative_effect < result.relative_ci_high
    # all estimators target the same effect: site-mean DiD == panel DiD on a balanced panel
    assert_allclose(result.methods["did"].effect, result.methods["welch"].effect, rtol=1e-9)
    assert_allclose(result.methods["permutation"].effect, result.methods["welch"].effect)


def test_single_pilot_site_falls_back_to_permutation(simulate):
    sim = simulate(1, 30, 28, 28, effect=0.0)
    result = compare(sim.observations, sim.sites, sim.start).metrics["sales"]
    assert result.method.startswith("permutation") and "exact over all 31" in result.method
    assert "clustered standard errors are meaningless" in result.method_reason
    assert any("single pilot site" in w for w in result.diagnostics.warnings)
    assert result.methods["welch"].error is not None
    assert result.methods["permutation"].min_p == pytest.approx(1 / 31)


def test_explicit_invalid_method_with_single_pilot_is_reported_but_not_the_headline(simulate):
    # issue 19: a forced method the engine calls invalid keeps its numbers in methods, the
    # headline and verdict come from the valid method, and the text says why
    sim = simulate(1, 30, 28, 28)
    result = compare(sim.observations, sim.sites, sim.start, method="did").metrics["sales"]
    assert result.method.startswith("permutation")
    assert result.methods["did"].error is None
    assert result.forced_method_invalid.code == "single_pilot_site"
    assert any("meaningless" in w for w in result.diagnostics.warnings)
    few = simulate(4, 30, 28, 28)
    result = compare(few.observations, few.sites, few.start, method="welch").metrics["sales"]
    assert result.method.startswith("permutation")
    assert result.forced_method_invalid.code == "few_sites_per_arm"
    assert result.forced_method_invalid.params["n_pilot"] == 4
    # ANCOVA kept alpha with 4 vs 30 sites (4.6 %, docs/analysis.md): a valid forced choice
    ancova = compare(few.observations, few.sites, few.start, method="ancova").metrics["sales"]
    assert ancova.method.startswith("ancova") and ancova.forced_method_invalid is None


def test_few_pilot_sites_use_permutation(simulate):
    sim = simulate(4, 30, 28, 28)
    result = compare(sim.observations, sim.sites, sim.start, seed=3).metrics["sales"]
    assert result.method.startswith("permutation")
    assert "4 pilot and 30 control" in result.method_reason


def test_explicit_method_sets_the_headline(pilot):
    for method in ("did", "ancova", "welch", "permutation"):
        result = compare(pilot.observations, pilot.sites, pilot.start, method=method)
        r = result.metrics["sales"]
        assert r.method.startswith(method) and r.effect == r.methods[method].effect


def test_roles_order_and_multiplicity(simulate):
    sim = simulate(10, 30, 14, 14, effect={"a": 2.0}, metrics=["a", "b", "c", "d"])
    report = compare_simulated(sim, primary="c", guardrails=["a"], metrics=["b", "d", "a", "c"])
    assert list(report.metrics) == ["c", "a", "b", "d"]
    assert [m.role for m in report.metrics.values()] == [
        "primary",
        "guardrail",
        "secondary",
        "secondary",
    ]
    raw = {k: m.p_value for k, m in report.metrics.items()}
    # Holm over {c, a}, BH over {b, d} (analysis.multiple, checked by hand in test_multiple)
    expected = adjust_family(raw, "c", ["a"])
    for key, m in report.metrics.items():
        assert_allclose(m.p_adjusted, expected[key], rtol=1e-12)


def test_direction_decrease_turns_a_rise_into_worse(simulate):
    sim = simulate(10, 30, 28, 28, effect=4.0, metrics=["wait"])
    result = compare(sim.observations, sim.sites, sim.start, directions={"wait": "decrease"})
    assert result.metrics["wait"].verdict == "worse"


def test_guardrail_margin_gives_equivalent(simulate):
    sim = simulate(10, 30, 28, 28, effect={"sales": 3.0}, metrics=["sales", "wait"], noise_sd=2)
    report = compare_simulated(sim, primary="sales", guardrails=["wait"], margins={"wait": 5.0})
    assert report.metrics["wait"].verdict == "equivalent"
    assert report.metrics["wait"].margin == 5.0


def test_min_effect_scalar_applies_to_primary(pilot):
    report = compare(pilot.observations, pilot.sites, pilot.start, min_effect=1.0)
    assert report.metrics["sales"].min_effect == 1.0
    assert report.parameters["min_effect"] == {"sales": 1.0}


def test_constant_metric_is_an_error_not_a_nan_verdict(pilot):
    obs = pd.concat([pilot.observations, pilot.observations.assign(metric="flat", value=7.0)])
    report = compare(obs, pilot.sites, pilot.start)
    flat = report.metrics["flat"]
    assert flat.error and "constant" in flat.error
    assert flat.verdict == "inconclusive" and "not analysed" in flat.verdict_reason
    assert flat.to_dict()["effect"] is None
    assert report.metrics["sales"].error is None


def test_metric_without_post_data_is_an_error(pilot):
    extra = pilot.observations[pilot.observations["date"] < pilot.start].assign(metric="old")
    report = compare(pd.concat([pilot.observations, extra]), pilot.sites, pilot.start)
    assert "no post-period data" in report.metrics["old"].error


def test_metric_without_pre_data_compares_post_means(pilot):
    post = pilot.observations[pilot.observations["date"] >= pilot.start].assign(metric="csat")
    report = compare(
        pd.concat([pilot.observations, post]), pilot.sites, pilot.start, primary="csat"
    )
    csat = report.metrics["csat"]
    assert csat.error is None and csat.method.startswith("permutation")
    assert csat.methods["did"].error and csat.methods["ancova"].error
    assert any("No pre-period data" in w for w in csat.diagnostics.warnings)


def test_strata_are_respected(pilot):
    sites = pilot.sites.copy()
    sites["block"] = np.where(np.arange(len(sites)) % 2, "x", "y")
    report = compare(pilot.observations, sites, pilot.start, strata="block", method="permutation")
    assert report.metrics["sales"].methods["permutation"].n_strata == 2
    assert not any(r.variable.startswith("block") for r in report.balance.rows)


def test_sites_missing_a_period_are_dropped_with_a_warning(pilot):
    obs = pilot.observations
    obs = obs[~((obs["site_id"] == "S040") & (obs["date"] < pilot.start))]
    result = compare(obs, pilot.sites, pilot.start).metrics["sales"]
    assert result.n_control_sites == 29 and result.diagnostics.n_sites_dropped == 1
    assert any("balanced subsample" in w for w in result.diagnostics.warnings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": ["nope"]}, "unknown metric 'nope'"),
        ({"method": "magic"}, "method must be one of"),
        ({"primary": "sales", "guardrails": ["sales"]}, "both primary and a guardrail"),
        ({"directions": {"sales": "up"}}, "direction of 'sales'"),
        ({"margins": {"sales": -1}}, "margin of 'sales'"),
        ({"strata": "nope"}, "strata column"),
        ({"alpha": 1.5}, "alpha"),
        ({"n_permutations": 10}, "at least 1000"),
    ],
)
def test_caller_mistakes_raise(pilot, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(pilot.observations, pilot.sites, pilot.start, **kwargs)


def test_to_dict_is_the_documented_json_contract(pilot):
    report = compare(pilot.observations, pilot.sites, pilot.start, guardrails=None)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) >= {"metrics", "parameters", "warnings"}
    sales = data["metrics"]["sales"]
    assert HEADLINE_KEYS <= set(sales)
    for name in ("did", "ancova", "welch", "permutation", "rank"):
        assert {"effect", "se", "ci_low", "ci_high", "p_value"} <= set(sales["methods"][name])
    assert {"pretrend", "balance", "warnings", "completeness"} <= set(sales["diagnostics"])
    assert data["parameters"]["start"] == "2024-03-04"


def test_summary_is_readable(pilot):
    text = compare(pilot.observations, pilot.sites, pilot.start).summary()
    assert "sales [primary" in text and "BETTER" in text and "Pre-trend test" in text
