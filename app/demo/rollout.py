"""The demo's second pilot ("digital queue tickets") and its staged rollout in progress."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    AssignmentMethod,
    Decision,
    Direction,
    Metric,
    MetricKind,
    MetricRole,
    Observation,
    Pilot,
    PilotMetric,
    PilotStatus,
    Role,
    RolloutPlan,
    Site,
    User,
)
from app.rollout import gates
from app.rollout.plans import GateSettings, PlanSettings, generate_plan, set_checklist_item


def seed_rollout_demo(
    last_day: date = date(2026, 11, 22), seed_value: int = 20261123
) -> RolloutPlan:
    """A second, finished demo pilot ("digital queue tickets") and its rollout in progress.

    (Long on purpose: it tells one story step by step, in the order it happened.)

    Call after ``app.demo.seed.seed`` (it uses the demo sites and users). The pilot ran from
    30 March to 26 April 2026 on 8 sites against 16 controls and cut the counter queue by about
    2 minutes; its rollout started on 1 June in 4 waves, randomised within readiness tiers with
    a 10 % holdback. Waves whose gate was due by ``last_day`` were started, checked off,
    signed off, evaluated with the staggered estimator and passed; the current wave is live.
    The caller commits.
    """
    rng = np.random.default_rng(seed_value)
    sites = list(db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code)))
    lead = db.session.scalar(select(User).where(User.role == Role.CHANGE_LEAD).order_by(User.id))
    analyst = db.session.scalar(select(User).where(User.role == Role.ANALYST).order_by(User.id))
    queue = db.session.scalar(select(Metric).where(Metric.key == "counter_queue_min"))
    if queue is None:
        queue = Metric(
            key="counter_queue_min",
            name="Counter queue time",
            name_zh="柜台排队时间",
            unit="min",
            kind=MetricKind.CONTINUOUS,
            better_direction=Direction.DECREASE,
        )
        db.session.add(queue)
    errors = db.session.scalar(select(Metric).where(Metric.key == "order_errors"))
    if errors is None:
        errors = Metric(
            key="order_errors",
            name="Order errors",
            name_zh="点单错误",
            unit="errors",
            kind=MetricKind.COUNT,
            better_direction=Direction.DECREASE,
        )
        db.session.add(errors)
    pre_start, start, end = date(2026, 3, 2), date(2026, 3, 30), date(2026, 4, 26)
    pilot = Pilot(
        name="Digital queue tickets",
        change_description="Customers take a digital ticket at the door and are called by SMS.",
        hypothesis="Digital tickets cut the counter queue by at least 1.5 minutes.",
        owner=lead,
        status=PilotStatus.DECIDED,
        pre_start=pre_start,
        start_date=start,
        end_date=end,
        alpha=0.05,
        min_effect=1.5,
        wizard_step=5,
        design_locked_at=datetime_at(start),
        decision=Decision.ROLL_OUT,
        decision_note="Queue time down about 2 minutes at every kind of pilot site; errors flat.",
        decided_at=datetime_at(date(2026, 5, 6)),
    )
    pilot.metric_links.append(
        PilotMetric(metric=queue, role=MetricRole.PRIMARY, min_effect=1.5, margin=0.75)
    )
    pilot.metric_links.append(
        PilotMetric(metric=errors, role=MetricRole.GUARDRAIL, margin=0.5, position=1)
    )
    by_region: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        by_region[s.region].append(s)
    pilot_sites: list[Site] = []
    for region in sorted(by_region):
        members = by_region[region]
        pilot_sites += [members[i] for i in sorted(rng.permutation(len(members))[:2])]
    rest = [s for s in sites if s not in pilot_sites]
    controls = [rest[i] for i in sorted(rng.permutation(len(rest))[:16])]
    for s in pilot_sites:
        pilot.assignments.append(
            Assignment(
                site=s, arm=Arm.PILOT, method=AssignmentMethod.RANDOM_STRATIFIED, stratum=s.region
            )
        )
    for s in controls:
        pilot.assignments.append(
            Assignment(
                site=s, arm=Arm.CONTROL, method=AssignmentMethod.RANDOM_STRATIFIED, stratum=s.region
            )
        )
    db.session.add(pilot)
    db.session.flush()

    days = [pre_start + timedelta(days=i) for i in range((last_day - pre_start).days + 1)]
    day_fx = rng.normal(0, 0.6, len(days)) + np.array(
        [1.2 if d.weekday() >= 5 else 0 for d in days]
    )
    level = {s.id: 7.5 + 2.0 * (s.size_tier.weight - 1.5) + rng.normal(0, 1.0) for s in sites}
    error_rate = {s.id: 0.8 * s.size_tier.weight for s in sites}
    pilot_ids = {s.id for s in pilot_sites}

    def rows_for(site_go_live: dict[int, date | None], first: date, last: date) -> list[dict]:
        out = []
        for i, day in enumerate(days):
            if day < first or day > last:
                continue
            for s in sites:
                go = site_go_live.get(s.id)
                treated = go is not None and day >= go
                value = level[s.id] + day_fx[i] + rng.normal(0, 0.7) - (2.1 if treated else 0.0)
                out.append(
                    {
                        "site_id": s.id,
                        "metric_id": queue.id,
                        "date": day,
                        "value": round(float(max(value, 0.5)), 2),
                    }
                )
                out.append(
                    {
                        "site_id": s.id,
                        "metric_id": errors.id,
                        "date": day,
                        "value": float(rng.poisson(error_rate[s.id])),
                    }
                )
        return out

    pilot_go = {sid: start for sid in pilot_ids}
    db.session.execute(Observation.__table__.insert(), rows_for(pilot_go, pre_start, end))
    db.session.flush()
    plan = generate_plan(
        pilot,
        by=lead,
        settings=PlanSettings(
            start=date(2026, 6, 1),
            sites_per_week=4.0,
            wave_count=4,
            randomize=True,
            holdback_share=0.1,
            seed=7,
            min_days_live=14,
        ),
        name="Digital queue tickets: national rollout",
        gate=GateSettings(min_days_live=14, signoff_role=Role.ANALYST.value),
    )
    go_live = dict(pilot_go)
    for ws in plan.sites:
        if ws.go_live_date is not None:
            go_live[ws.site_id] = ws.go_live_date
    db.session.execute(
        Observation.__table__.insert(), rows_for(go_live, end + timedelta(days=1), last_day)
    )
    db.session.flush()
    for wave in plan.waves:
        if wave.start_date > last_day:
            break
        gates.decide(plan, wave, "start", reason=None, by=lead)
        if wave.end_date > last_day:
            gates.evaluate_gate(plan, wave, by=lead, as_of=last_day)
            break
        for ws in plan.sites:
            if ws.wave_id == wave.id:
                for item in ws.checklist:
                    set_checklist_item(plan, ws, item["key"], True, by=lead)
        gates.sign_off(plan, wave, by=analyst, note="Numbers checked.")
        result = gates.evaluate_gate(plan, wave, by=lead, as_of=wave.end_date)
        if result["outcome"] != "pass":
            gates.decide(plan, wave, "hold", reason="Gate not passed: waiting for data.", by=lead)
            break
        gates.decide(plan, wave, "go", reason=None, by=lead)
    db.session.flush()
    return plan


def datetime_at(day: date):
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(9, 0), tzinfo=UTC)
