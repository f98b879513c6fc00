"""Wave gates: the judgement rules, and evaluation on simulated waves with a known effect."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import MetricRole, PilotMetric, Role, WaveStatus
from app.rollout import gates
from app.rollout.plans import RolloutError, set_checklist_item, wave_of_number
from tests.rollout.helpers import PLAN_START, decided_pilot, make_plan, simulate_rollout_data


@pytest.mark.parametrize(
    ("effect", "low", "high", "direction", "expected"),
    [
        (-3.0, -3.5, -2.5, "decrease", "pass"),  # wait time down: better
        (0.2, -0.3, 0.7, "decrease", "pass"),  # not worse than +1 minute
        (0.8, -0.4, 2.0, "decrease", "hold"),  # might be worse than the margin
        (3.0, 2.5, 3.5, "decrease", "fail"),  # clearly worse than the margin
        (-3.0, -3.5, -2.5, "increase", "fail"),  # a drop in an increase-is-better metric
        (float("nan"), float("nan"), float("nan"), "increase", "hold"),
    ],
)
def test_primary_metric_non_inferiority(effect, low, high, direction, expected):
    assert gates.judge_primary(effect, low, high, direction, margin=1.0) == expected


@pytest.mark.parametrize(
    ("effect", "low", "high", "expected"),
    [
        (-0.5, -1.5, 0.5, "pass"),  # within the margin
        (-2.0, -4.0, 0.5, "hold"),  # worse than the margin, not significant
        (-2.0, -3.0, -1.0, "fail"),  # breached
    ],
)
def test_guardrail_breach(effect, low, high, expected):
    assert gates.judge_guardrail(effect, low, high, "increase", margin=1.0) == expected


def test_gate_outcome_is_the_worst_criterion():
    assert gates.combine(["pass", "pass"]) == "pass"
    assert gates.combine(["pass", "hold"]) == "hold"
    assert gates.combine(["hold", "fail", "pass"]) == "fail"


def _setup(make_pilot, make_site, make_metric, effect, guardrail_effect=None):
    pilot, _ = decided_pilot(make_pilot, make_site, n_scope=24)
    primary = pilot.primary_metric  # decrease is better (the factory's default)
    for link in pilot.metric_links:
        link.margin = 1.0
    guard = None
    if guardrail_effect is not None:
        guard = make_metric()
        guard.better_direction = guard.better_direction.INCREASE
        pilot.metric_links.append(
            PilotMetric(metric=guard, role=MetricRole.GUARDRAIL, margin=0.5, position=1)
        )
    db.session.flush()
    plan = make_plan(
        pilot, wave_count=3, sites_per_week=6.0, holdback_share=0.2, seed=2, randomize=True
    )
    first, last = PLAN_START - timedelta(days=56), PLAN_START + timedelta(days=40)
    simulate_rollout_data(plan, primary, effect=effect, first=first, last=last)
    if guard is not None:
        simulate_rollout_data(plan, guard, effect=guardrail_effect, first=first, last=last, seed=9)
    wave = wave_of_number(plan, 1)
    gates.decide(plan, wave, "start", reason=None, by=None)
    for ws in plan.sites:
        if ws.wave is wave:
            for item in ws.checklist:
                set_checklist_item(plan, ws, item["key"], True, by=None)
    return plan, wave, wave.end_date


def _criterion(result, key):
    return next(c for c in result["criteria"] if c["key"] == key)


def test_a_wave_that_cuts_waiting_time_passes_once_signed_off(
    make_pilot, make_site, make_metric, make_user
):
    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due)
    primary = _criterion(result, "primary")
    assert primary["status"] == "pass"
    # known effect -3 within the interval, estimated from the wave's sites only
    assert primary["metric"]["ci_low"] < -3.0 < primary["metric"]["ci_high"]
    assert primary["metric"]["effect"] == pytest.approx(-3.0, abs=0.4)
    assert primary["metric"]["n_controls"] > 0
    assert _criterion(result, "signoff")["status"] == "hold"
    assert result["outcome"] == "hold"
    lead = make_user(Role.CHANGE_LEAD)
    gates.sign_off(plan, wave, by=lead)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due)
    assert result["outcome"] == "pass"
    gates.decide(plan, wave, "go", reason=None, by=lead)
    assert wave.status is WaveStatus.PASSED
    gates.decide(plan, wave_of_number(plan, 2), "start", reason=None, by=lead)


def test_a_wave_that_makes_waiting_worse_fails(make_pilot, make_site, make_metric):
    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=+3.0)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due)
    assert _criterion(result, "primary")["status"] == "fail"
    assert result["outcome"] == "fail"
    with pytest.raises(RolloutError):
        gates.decide(plan, wave, "go", reason=None, by=None)
    with pytest.raises(RolloutError, match="reason"):
        gates.decide(plan, wave, "stop", reason="", by=None)
    gates.decide(plan, wave, "stop", reason="wait times up 3 minutes", by=None)
    assert wave.status is WaveStatus.FAILED and wave.decision_reason


def test_a_breached_guardrail_fails_the_gate(make_pilot, make_site, make_metric):
    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=-3.0, guardrail_effect=-3)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due)
    assert _criterion(result, "primary")["status"] == "pass"
    assert _criterion(result, "guardrail")["status"] == "fail"
    assert result["outcome"] == "fail"


def test_too_few_days_live_holds_the_gate(make_pilot, make_site, make_metric):
    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due - timedelta(days=5))
    assert _criterion(result, "min_days_live")["status"] == "hold"
    assert result["outcome"] == "hold"


def test_the_next_wave_waits_for_the_gate_and_holds_need_reasons(
    make_pilot, make_site, make_metric
):
    plan, wave, _due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    with pytest.raises(RolloutError, match="pass its gate"):
        gates.decide(plan, wave_of_number(plan, 2), "start", reason=None, by=None)
    with pytest.raises(RolloutError):
        gates.decide(plan, wave, "hold", reason=" ", by=None)
    gates.decide(plan, wave, "hold", reason="POS outage", by=None)
    assert wave.status is WaveStatus.HELD
    gates.decide(plan, wave, "resume", reason="fixed", by=None)
    assert wave.status is WaveStatus.LIVE


def test_only_the_named_role_signs_off(make_pilot, make_site, make_metric, make_user):
    plan, wave, _due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    wave.gate = {**wave.gate, "signoff_role": "analyst"}
    with pytest.raises(RolloutError, match="role"):
        gates.sign_off(plan, wave, by=make_user(Role.CHANGE_LEAD))
    gates.sign_off(plan, wave, by=make_user(Role.ANALYST))
    assert wave.gate["signoff"]["role"] == "analyst"


def test_a_planned_wave_cannot_be_evaluated(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    with pytest.raises(RolloutError, match="not started"):
        gates.evaluate_gate(plan, wave_of_number(plan, 1), by=None)
