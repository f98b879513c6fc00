"""The demo's pilot that is rolling out ("digital queue tickets"): its approved report and its
staged rollout in progress, wave 2 live with its gate due this week."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np

from app.demo.approval import DemoDataError, approved_report, at, story_time
from app.demo.catalogue import ROLLOUT_METRICS
from app.demo.decided import PilotStory, assign, cast, decided_pilot
from app.demo.metrics import existing_or_new_metric
from app.extensions import db
from app.models import (
    Decision,
    Observation,
    Pilot,
    PlanStatus,
    Role,
    RolloutPlan,
    Site,
    User,
)
from app.rollout import gates
from app.rollout.plans import (
    GateSettings,
    PlanSettings,
    activate_plan,
    generate_plan,
    get_plan_site,
    move_site,
    set_checklist_item,
    wave_of_number,
)

#: Roughly when the rollout started, counted back from "today" (the day after the last day
#: with data); the exact day is the one that puts wave 2's gate :data:`GATE_IN_DAYS` after
#: today (see :func:`_plan_start`).
PLAN_START_DAYS_AGO = 87
#: Wave 2's gate is due this many days after today: within this week.
GATE_IN_DAYS = 3
#: The pilot ended this many days before the rollout's first go-live, and was decided ten
#: days after it ended.
PILOT_ENDED_DAYS_BEFORE_PLAN = 36
DECIDED_DAYS_AFTER_END = 10


def seed_rollout_demo(last_day: date, seed_value: int = 20261123) -> RolloutPlan:
    """A finished demo pilot ("digital queue tickets"), decided by its approved report, and
    its rollout in progress, every date counted back from ``last_day`` (the last day with data;
    "today" is the day after).

    (Long on purpose: it tells one story step by step, in the order it happened.)

    Call after ``app.demo.seed.seed`` built the sites and users. The pilot ran four weeks on 8
    sites against 16 controls and cut the counter queue by about 2 minutes; the analyst
    approved its report (roll out) ten days after the end; its rollout started about 13 weeks before
    today in 4 waves, randomised within readiness tiers with a 10 % holdback. Wave 1 was
    started, checked off, signed off, evaluated with the staggered estimator and passed; wave 2
    is live with its gate due this week. The staff user's site is one of the pilot's control
    sites, moved into wave 2 if the planner put it elsewhere, so the staff member's rollout
    card belongs to a pilot they can see. The caller commits (the report job commits its own).
    """
    rng = np.random.default_rng(seed_value)
    today = last_day + timedelta(days=1)
    who = cast()
    sites, lead, analyst, staff_site = who.sites, who.lead, who.analyst, who.staff_site
    queue, errors = (existing_or_new_metric(*spec) for spec in ROLLOUT_METRICS)
    plan_start = today - timedelta(days=PLAN_START_DAYS_AGO)
    end = plan_start - timedelta(days=PILOT_ENDED_DAYS_BEFORE_PLAN)
    start = end - timedelta(days=27)
    pre_start = start - timedelta(days=28)
    decided_on = end + timedelta(days=DECIDED_DAYS_AFTER_END)
    pilot = decided_pilot(
        PilotStory(
            name="Digital queue tickets",
            change="Customers take a digital ticket at the door and are called by SMS.",
            hypothesis="Digital tickets cut the counter queue by at least 1.5 minutes.",
            pre_start=pre_start,
            start=start,
            end=end,
            primary=queue,
            min_effect=1.5,
            primary_margin=0.75,
            guardrail=errors,
            created_days_before=7,
        ),
        lead,
    )
    by_region: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        if s is not staff_site:  # the staff user's site is a control site (see above)
            by_region[s.region].append(s)
    pilot_sites: list[Site] = []
    for region in sorted(by_region):
        members = by_region[region]
        pilot_sites += [members[i] for i in sorted(rng.permutation(len(members))[:2])]
    rest = [s for s in sites if s not in pilot_sites and s is not staff_site]
    controls = [rest[i] for i in sorted(rng.permutation(len(rest))[: 16 - bool(staff_site)])]
    if staff_site is not None:
        controls.append(staff_site)
    assign(pilot, pilot_sites, controls)
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
    approved_report(
        pilot,
        lead=lead,
        analyst=analyst,
        decided_on=decided_on,
        expected=Decision.ROLL_OUT,
        comment="Queue time down about 2 minutes at every kind of pilot site; errors flat.",
    )
    with story_time(at(decided_on + timedelta(days=3))):
        plan_start = _plan_start(pilot, lead, staff_site, plan_start, today)
        if plan_start <= decided_on:
            raise DemoDataError(f"the rollout would start ({plan_start}) before the decision")
        plan = _generate(pilot, lead, plan_start)
        _staff_site_in_wave_two(plan, staff_site, lead)
        due = wave_of_number(plan, 2).end_date
        if due != today + timedelta(days=GATE_IN_DAYS):
            raise DemoDataError(f"wave 2's gate is due on {due}, not this week")
    go_live = dict(pilot_go)
    for ws in plan.sites:
        if ws.go_live_date is not None:
            go_live[ws.site_id] = ws.go_live_date
    db.session.execute(
        Observation.__table__.insert(), rows_for(go_live, end + timedelta(days=1), last_day)
    )
    db.session.flush()
    _follow_waves(plan, lead, analyst, last_day)
    return plan


def _generate(pilot: Pilot, lead: User | None, plan_start: date) -> RolloutPlan:
    return generate_plan(
        pilot,
        by=lead,
        settings=PlanSettings(
            start=plan_start,
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


def _follow_waves(
    plan: RolloutPlan, lead: User | None, analyst: User | None, last_day: date
) -> None:
    """Start the waves due by ``last_day``; pass the finished ones' gates; evaluate the live
    one as of ``last_day``. Every step stamped with the day it happened."""
    today = last_day + timedelta(days=1)
    for wave in plan.waves:
        if wave.start_date > last_day:
            break
        # The lead activates the plan, then starts each wave on its day: its sites go live
        # and get their own customer and staff feedback links (the pilot is "rolling out").
        with story_time(at(wave.start_date, 8)):
            if plan.status is PlanStatus.DRAFT:
                activate_plan(plan, by=lead)
            gates.start_wave(plan, wave, by=lead)
        members = [ws for ws in plan.sites if ws.wave_id == wave.id]
        if wave.end_date > last_day:
            for ws in members:  # the live wave: ready to go live, first-week reviews to come
                for item in ws.checklist:
                    if item["key"] != "week1_review":
                        set_checklist_item(plan, ws, item["key"], True, by=lead)
            with story_time(at(today, 8)):
                gates.evaluate_gate(plan, wave, by=lead, as_of=last_day)
            break
        with story_time(at(wave.end_date, 16)):
            for ws in members:
                for item in ws.checklist:
                    set_checklist_item(plan, ws, item["key"], True, by=lead)
            gates.sign_off(plan, wave, by=analyst, note="Numbers checked.")
            result = gates.evaluate_gate(plan, wave, by=lead, as_of=wave.end_date)
            if result["outcome"] != "pass":
                raise DemoDataError(f"wave {wave.number}'s gate did not pass: {result['outcome']}")
            gates.decide(plan, wave, "go", reason=None, by=lead)
    db.session.flush()


def _staff_site_in_wave_two(plan: RolloutPlan, site: Site | None, lead: User | None) -> None:
    """Put the staff user's site in wave 2 (the live one) before any wave starts, as a change
    lead edits a draft plan."""
    wave_two = wave_of_number(plan, 2)
    if wave_two is None:
        raise DemoDataError("the rollout plan has no wave 2")
    if site is not None:
        ws = get_plan_site(plan, site.id)
        if ws is not None and ws.wave_id != wave_two.id:
            move_site(
                plan,
                ws,
                wave_two,
                reason="The store manager asked to go live with the second wave.",
                by=lead,
            )


def _plan_start(
    pilot: Pilot, lead: User | None, staff_site: Site | None, trial: date, today: date
) -> date:
    """The first go-live day that puts wave 2's gate :data:`GATE_IN_DAYS` after ``today``.

    Wave lengths depend on the sites in each wave, so a trial plan starting on ``trial`` is
    made in a savepoint and rolled back; the planner counts every date from the start, so the
    real plan starts as many days earlier or later as its wave 2 gate must move."""
    savepoint = db.session.begin_nested()
    try:
        plan = _generate(pilot, lead, trial)
        _staff_site_in_wave_two(plan, staff_site, lead)
        due = wave_of_number(plan, 2).end_date
    finally:
        savepoint.rollback()
    return trial + (today + timedelta(days=GATE_IN_DAYS) - due)
