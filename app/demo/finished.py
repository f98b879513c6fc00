"""The demo's pilot that has just been decided ("kitchen display screens"): it ended three
weeks ago, its approved report recommends rolling out, and its rollout plan is a draft."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from app.demo.approval import approved_report
from app.demo.catalogue import FINISHED_METRICS
from app.demo.decided import PilotStory, assign, cast, datetime_at, decided_pilot
from app.demo.metrics import existing_or_new_metric
from app.extensions import db
from app.models import (
    Decision,
    Observation,
    Role,
    RolloutPlan,
)
from app.rollout.plans import GateSettings, PlanSettings, generate_plan

#: The pilot ended this many days before the day after the last day with data ("today").
ENDED_DAYS_AGO = 21
#: The analyst approved its report this many days after it ended.
DECIDED_DAYS_AFTER_END = 8
PRE_DAYS = 28
PILOT_DAYS = 28
#: Effect of the screens on the time to serve, in minutes (negative: faster).
SERVE_EFFECT = -1.8


def seed_finished_demo(last_day: date, seed_value: int = 20261124) -> RolloutPlan:
    """The decided pilot, its approved report and its draft rollout plan (the caller commits;
    the report job commits its own work).

    8 pilot sites (the staff user's site among them) against 16 controls, four weeks before and
    four weeks of the pilot; the screens cut the time to serve by about 1.8 minutes and leave
    returned dishes alone. The plan starts in two weeks, so nothing of it has started.
    """
    rng = np.random.default_rng(seed_value)
    today = last_day + timedelta(days=1)
    end = today - timedelta(days=ENDED_DAYS_AGO)
    start = end - timedelta(days=PILOT_DAYS - 1)
    pre_start = start - timedelta(days=PRE_DAYS)
    who = cast()
    lead, analyst, staff_site = who.lead, who.analyst, who.staff_site
    serve, returned = (existing_or_new_metric(*spec) for spec in FINISHED_METRICS)
    pilot = decided_pilot(
        PilotStory(
            name="Kitchen display screens",
            change="Order tickets appear on screens at each kitchen station, not on paper.",
            hypothesis="Screens cut the time from order to dish served by at least 1 minute.",
            pre_start=pre_start,
            start=start,
            end=end,
            primary=serve,
            min_effect=1.0,
            primary_margin=0.5,
            guardrail=returned,
            created_days_before=5,
        ),
        lead,
    )
    others = [s for s in who.sites if s is not staff_site]
    order = rng.permutation(len(others))
    pilot_sites = [others[i] for i in sorted(order[: 8 - bool(staff_site)])]
    if staff_site is not None:  # excluded from the draft plan: the staff card stays on wave 2
        pilot_sites.append(staff_site)
    controls = [others[i] for i in sorted(order[8:24])]
    assign(pilot, pilot_sites, controls)
    db.session.add(pilot)
    db.session.flush()
    _observations(rng, pilot_sites, controls, serve.id, returned.id, pre_start, start, end)
    approved_report(
        pilot,
        lead=lead,
        analyst=analyst,
        decided_on=end + timedelta(days=DECIDED_DAYS_AFTER_END),
        expected=Decision.ROLL_OUT,
        comment="Dishes reach the table about 2 minutes sooner; no more dishes sent back.",
    )
    plan_start = today + timedelta(days=14)
    plan = generate_plan(
        pilot,
        by=lead,
        settings=PlanSettings(
            start=plan_start,
            sites_per_week=6.0,
            wave_count=3,
            randomize=True,
            holdback_share=0.1,
            seed=11,
            min_days_live=14,
        ),
        name="Kitchen display screens: rollout",
        gate=GateSettings(min_days_live=14, signoff_role=Role.ANALYST.value),
    )
    plan.created_at = datetime_at(today - timedelta(days=5))
    db.session.flush()
    return plan


def _observations(rng, pilot_sites, controls, serve_id, returned_id, pre_start, start, end):
    """Daily time to serve and dishes returned at the pilot's sites, pre-period included."""
    days = [pre_start + timedelta(days=i) for i in range((end - pre_start).days + 1)]
    weekend = np.array([1.0 if d.weekday() >= 5 else 0.0 for d in days])
    treated_days = np.array([1.0 if d >= start else 0.0 for d in days])
    rows = []
    pilot_ids = {s.id for s in pilot_sites}
    for site in [*pilot_sites, *controls]:
        size = site.size_tier.weight
        serve = (
            14.0
            + 2.0 * (size - 1.5)
            + rng.normal(0, 1.0)
            + 1.5 * weekend
            + rng.normal(0, 0.8, len(days))
        )
        if site.id in pilot_ids:
            serve = serve + SERVE_EFFECT * treated_days
        returned = rng.poisson(0.9 * size, len(days))
        for i, day in enumerate(days):
            rows.append(
                {
                    "site_id": site.id,
                    "metric_id": serve_id,
                    "date": day,
                    "value": round(float(max(serve[i], 1.0)), 2),
                }
            )
            rows.append(
                {
                    "site_id": site.id,
                    "metric_id": returned_id,
                    "date": day,
                    "value": float(returned[i]),
                }
            )
    db.session.execute(Observation.__table__.insert(), rows)
    db.session.flush()
