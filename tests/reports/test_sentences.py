"""Plain-language sentences and the pre-registered recommendation rule."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from app.core import numbers as fmt
from app.reports import sentences as say
from app.reports import snapshots as service

WAIT = {"name": "Average wait", "name_zh": "平均等待时间", "unit": "min", "kind": "continuous"}


def result(**kw) -> dict:
    base = {
        "metric": "avg_wait_min",
        "role": "primary",
        "direction": "decrease",
        "effect": -3.1,
        "se": 0.55,
        "ci_low": -4.2,
        "ci_high": -2.0,
        "p_value": 0.002,
        "p_adjusted": 0.002,
        "relative_effect": -0.19,
        "method": "permutation: randomization inference",
        "n_pilot_sites": 10,
        "n_control_sites": 30,
        "verdict": "better",
        "alpha": 0.05,
        "min_effect": 2.0,
        "margin": None,
        "error": None,
        "methods": {"permutation": {"n_assignments": 10000, "exact": False}},
    }
    base.update(kw)
    return base


@pytest.fixture
def en(app):
    with app.test_request_context():
        yield


def test_the_issue_example_sentence(en):
    assert say.headline_sentence(result(), WAIT, "en") == (
        "Average wait fell by 3.1 min (−19%; 95 % interval −4.2 to −2.0) at the 10 pilot sites "
        "compared with the 30 control sites; this is very unlikely to be chance (p = 0.002 from "
        "10,000 random reassignments of the 10 pilot sites among the 40)."
    )


def test_sentence_wording_follows_sign_evidence_and_method(en):
    rose = say.headline_sentence(
        result(
            effect=0.5,
            ci_low=-0.1,
            ci_high=1.1,
            p_value=0.09,
            p_adjusted=0.18,
            relative_effect=0.04,
            verdict="inconclusive",
            method="ancova: x",
        ),
        WAIT,
        "en",
    )
    assert rose.startswith("Average wait rose by 0.50 min (+4.0%; 95 % interval −0.10 to 1.10)")
    assert "this could still be chance" in rose
    assert "comparison of site averages adjusted for the pre-period" in rose
    assert "adjusted p = 0.18 after adjusting" in rose
    tiny = say.headline_sentence(result(p_value=0.0001, p_adjusted=0.0002), WAIT, "en")
    assert "p < 0.001" in tiny
    failed = say.headline_sentence(result(error="no post-period data"), WAIT, "en")
    assert failed == "Average wait could not be analysed: no post-period data"


def test_rates_are_in_percentage_points_and_guardrails_mention_the_margin(en):
    meta = {"name": "Satisfaction", "unit": "", "kind": "proportion"}
    text = say.headline_sentence(
        result(
            metric="sat",
            role="guardrail",
            direction="increase",
            effect=-0.004,
            ci_low=-0.012,
            ci_high=0.004,
            p_value=0.3,
            p_adjusted=0.6,
            relative_effect=-0.005,
            verdict="equivalent",
            margin=0.03,
            method="did: x",
        ),
        meta,
        "en",
    )
    assert "fell by 0.40 percentage points (−0.5%; 95 % interval −1.20 to 0.40)" in text
    assert "Harm larger than the pre-registered margin of 3.00 percentage points is ruled out." in (
        text
    )
    assert "consistent with chance" in text


def test_number_formatting(en):
    assert fmt.num(-2.0, 1) == "−2.0"
    assert fmt.num(-0.001, 2) == "0.00"
    assert fmt.num(1234.5, 0) == "1,234"
    assert fmt.num(None) == "—"
    assert fmt.num(float("nan")) == "—"
    assert fmt.decimals_for(1.1) == 1 and fmt.decimals_for(0.34) == 2 and fmt.decimals_for(12) == 0
    assert fmt.p_text(0.0004) == "< 0.001" and fmt.p_text(0.0123) == "0.01"


def _comp(primary: dict, *guards: dict) -> dict:
    metrics = {"avg_wait_min": primary}
    for i, g in enumerate(guards):
        metrics[f"g{i}"] = {"metric": f"g{i}", "role": "guardrail", **g}
    return {"metrics": metrics, "parameters": {"primary": "avg_wait_min"}}


PILOT = SimpleNamespace(alpha=0.05, start_date=pd.Timestamp("2026-10-01").date())
SAFE = {
    "direction": "increase",
    "ci_low": -0.5,
    "ci_high": 0.5,
    "margin": 3.0,
    "verdict": "equivalent",
}


def _recommend(comp: dict) -> dict:
    obs = pd.DataFrame({"site_id": [], "date": pd.to_datetime([]), "metric": [], "value": []})
    sites = pd.DataFrame({"site_id": [], "arm": []})
    return service.recommend(comp, PILOT, obs, sites)


def test_rule_roll_out_when_primary_better_and_guardrails_within_margin():
    rec = _recommend(_comp(result(), SAFE))
    assert rec["decision"] == "roll_out"
    assert rec["guardrails"] == {"g0": "cleared"}


def test_rule_stop_on_worse_primary_breached_guardrail_or_too_small_effect():
    assert _recommend(_comp(result(verdict="worse")))["decision"] == "stop"
    harm = {**SAFE, "ci_low": -6.0, "ci_high": -4.0, "verdict": "worse"}
    rec = _recommend(_comp(result(), harm))
    assert rec["decision"] == "stop" and rec["breached"] == ["g0"]
    small = result(effect=-0.8, ci_low=-1.2, ci_high=-0.4)  # all below the 2-minute minimum
    assert _recommend(_comp(small))["reasons"] == ["too_small"]


def test_rule_extend_when_unclear_with_weeks_for_80_percent_power():
    rec = _recommend(
        _comp(
            result(
                effect=-1.5,
                ci_low=-3.2,
                ci_high=0.2,
                p_adjusted=0.08,
                verdict="inconclusive",
                se=0.85,
            )
        )
    )
    assert rec["decision"] == "extend"
    ext = rec["extension"]
    assert ext["method"] == "not_computable"  # no data at all: nothing to scale from
    unclear_guard = {**SAFE, "ci_low": -4.0, "ci_high": 1.0, "verdict": "inconclusive"}
    rec = _recommend(_comp(result(), unclear_guard))
    assert rec["decision"] == "extend" and rec["reasons"] == ["guardrail_unclear"]


def test_extension_weeks_from_the_standard_error(app):
    start = pd.Timestamp("2026-10-01")
    days = pd.date_range(start, periods=14)
    obs = pd.DataFrame({"site_id": "A", "date": days, "metric": "avg_wait_min", "value": 1.0})
    sites = pd.DataFrame({"site_id": ["A", "B"], "arm": ["pilot", "control"]})
    ext = service.extension_power(
        SimpleNamespace(alpha=0.05, start_date=start.date()),
        result(se=1.0, min_effect=2.0),
        obs,
        sites,
    )
    # (1.96 + 0.84)^2 * (1 / 2)^2 = 1.96 -> 14 days * 1.96 = 27.5 days -> 2 more weeks
    assert ext["method"] == "se_scaling" and ext["weeks"] == 2
    with app.test_request_context():
        text = say.extension_text(ext, {"avg_wait_min": WAIT}, {"avg_wait_min": result()}, "en")
    assert text.startswith("About 2 more weeks give 80 % power for 2.0 min on Average wait")
