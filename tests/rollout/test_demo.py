"""The second demo pilot: decided, rolling out, three waves passed their gates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import PilotStatus, PlanStatus, RolloutPlan, WaveStatus

pytestmark = pytest.mark.slow


def test_rollout_demo_has_passed_waves_and_a_live_one(app):
    from app.demo.seed import seed

    seed()  # the demo seed ends with seed_rollout_demo()
    db.session.commit()
    plan = db.session.scalar(select(RolloutPlan))
    statuses = [w.status for w in plan.waves]
    assert statuses[:3] == [WaveStatus.PASSED] * 3
    assert statuses[3] is WaveStatus.LIVE
    assert plan.status is PlanStatus.ACTIVE
    assert plan.pilot.status is PilotStatus.ROLLING_OUT
    for wave in plan.waves[:3]:
        primary = next(c for c in wave.gate_result["criteria"] if c["key"] == "primary")
        assert primary["metric"]["ci_low"] < -2.1 < primary["metric"]["ci_high"] + 0.2
        assert wave.gate["signoff"]["role"] == "analyst"
