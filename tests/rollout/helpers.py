"""Building decided pilots, plans and simulated rollout data for the rollout tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from analysis.planning import PlanSettings
from app.extensions import db
from app.models import Decision, Observation, PilotStatus, SizeTier
from app.rollout.plans import generate_plan

PLAN_START = date(2027, 1, 4)  # a Monday


def decided_pilot(make_pilot, make_site, n_scope: int = 12, **pilot_kw):
    """A pilot decided "roll out" with 3 pilot and 3 control sites, plus ``n_scope`` others."""
    pilot_sites = [
        make_site(region=r, management_score=m, digital_readiness=d, size_tier=SizeTier.MEDIUM)
        for r, m, d in (("East", 80, 70), ("South", 70, 60), ("East", 60, 50))
    ]
    pilot = make_pilot(n_pilot=3, n_control=3, sites=pilot_sites, **pilot_kw)
    pilot.decision = Decision.ROLL_OUT
    pilot.status = PilotStatus.DECIDED
    rng = np.random.default_rng(7)
    others = [
        make_site(
            region=("East", "South")[i % 2],
            management_score=float(rng.uniform(30, 95)),
            digital_readiness=float(rng.uniform(20, 95)),
            size_tier=(SizeTier.SMALL, SizeTier.MEDIUM, SizeTier.LARGE)[i % 3],
        )
        for i in range(n_scope)
    ]
    db.session.flush()
    return pilot, others


def make_plan(pilot, scope=None, **settings):
    values = {"start": PLAN_START, "sites_per_week": 4.0, "wave_count": 3, "min_days_live": 14}
    values.update(settings)
    plan = generate_plan(pilot, by=None, settings=PlanSettings(**values), scope=scope)
    db.session.flush()
    return plan


def simulate_rollout_data(
    plan, metric, *, effect: float, first: date, last: date, seed: int = 1, noise: float = 0.5
) -> None:
    """Daily values for every plan site: site + day effects, noise, and ``effect`` from go-live."""
    rng = np.random.default_rng(seed)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    day_effect = rng.normal(0, 0.8, len(days))
    rows = []
    for ws in plan.sites:
        level = 10 + rng.normal(0, 2)
        for i, day in enumerate(days):
            treated = ws.go_live_date is not None and day >= ws.go_live_date
            value = level + day_effect[i] + rng.normal(0, noise) + (effect if treated else 0.0)
            rows.append(
                {"site_id": ws.site_id, "metric_id": metric.id, "date": day, "value": float(value)}
            )
    db.session.execute(Observation.__table__.insert(), rows)
    db.session.flush()
