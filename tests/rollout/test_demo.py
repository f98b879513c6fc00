"""The demo pilot that is rolling out: wave 1 passed its gate, wave 2 is live."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import PilotStatus, PlanStatus, RolloutPlan, WaveStatus

pytestmark = pytest.mark.slow


def test_rollout_demo_has_a_passed_wave_and_a_live_one(app):
    from app.demo.seed import seed

    seed()  # the demo seed runs seed_rollout_demo()
    db.session.commit()
    plan = db.session.scalar(select(RolloutPlan).where(RolloutPlan.status == PlanStatus.ACTIVE))
    statuses = [w.status for w in plan.waves]
    assert statuses == [WaveStatus.PASSED, WaveStatus.LIVE, WaveStatus.PLANNED, WaveStatus.PLANNED]
    assert plan.pilot.status is PilotStatus.ROLLING_OUT
    for wave in plan.waves[:1]:
        primary = next(c for c in wave.gate_result["criteria"] if c["key"] == "primary")
        assert primary["metric"]["ci_low"] < -2.1 < primary["metric"]["ci_high"] + 0.2
        assert wave.gate["signoff"]["role"] == "analyst"
