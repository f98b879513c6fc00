"""Rollout routes: editors change plans, analysts read, staff see their own site's card.

The staff user's site (``world.site``) mentors ``world.other_site`` in the active plan: its
staff read that site's feedback, not the feedback of a site it does not mentor."""

from __future__ import annotations

from datetime import date, timedelta

from analysis.planning import PlanSettings
from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    Decision,
    MentorPair,
    Pilot,
    PilotStatus,
    PlanStatus,
    Site,
)
from tests.access.rules import ALL_SEEING, EDITORS, LOGGED_IN, get, post


def _east_site(code: str, name: str, **scores) -> Site:
    return Site(code=code, name=name, region="East", staff_count=20, **scores)


def setup(world) -> None:
    """A decided pilot whose plan includes the staff user's site (``world.site``)."""
    from app.rollout.plans import generate_plan

    start = date(2026, 10, 1)
    mentor = _east_site("RW-MENTOR", "Mentor site", management_score=80, digital_readiness=70)
    extra = _east_site("RW-EXTRA", "Extra site", management_score=30, digital_readiness=20)
    db.session.add_all([mentor, extra])
    pilot = Pilot(
        name="Rollout access pilot",
        status=PilotStatus.DECIDED,
        decision=Decision.ROLL_OUT,
        pre_start=start - timedelta(days=28),
        start_date=start,
        end_date=start + timedelta(days=27),
    )
    pilot.assignments.append(Assignment(site=mentor, arm=Arm.PILOT))
    db.session.add(pilot)
    db.session.flush()
    plan = generate_plan(
        pilot,
        by=None,
        settings=PlanSettings(start=date(2027, 1, 4), sites_per_week=4, wave_count=2),
        scope=[world.site, world.other_site, extra],
    )
    db.session.flush()
    pair = next((p for p in plan.mentor_pairs if p.mentee_site_id == world.other_site.id), None)
    if pair is None:
        pair = MentorPair(plan=plan, mentee_site=world.other_site)
        db.session.add(pair)
    pair.mentor_site, pair.mentor_user = world.site, None
    plan.status = PlanStatus.ACTIVE
    db.session.flush()
    world.extra_site = extra
    world.rollout_pilot = pilot
    world.plan = plan
    world.own_site = world.site
    world.foreign_site = world.other_site


def _plan(w) -> str:
    return f"/rollout/{w.plan.id}"


RULES = {
    "rollout.index": [
        get(lambda w: f"/rollout/pilots/{w.rollout_pilot.id}", ALL_SEEING),
        get(lambda w: f"/rollout/pilots/{w.pilot.id}", ALL_SEEING),
    ],
    "rollout.new": [
        get(lambda w: f"/rollout/pilots/{w.rollout_pilot.id}/new", EDITORS),
        post(
            lambda w: f"/rollout/pilots/{w.rollout_pilot.id}/new",
            EDITORS,
            data=lambda w: {"sites_per_week": "0"},
        ),
    ],
    "rollout.plan": get(_plan, ALL_SEEING),
    "rollout.print_view": get(lambda w: _plan(w) + "/print", ALL_SEEING),
    "rollout.export": [
        get(lambda w: _plan(w) + "/export.csv", ALL_SEEING),
        get(lambda w: _plan(w) + "/export.xlsx", ALL_SEEING),
        get(lambda w: _plan(w) + "/export.ics", ALL_SEEING),
    ],
    "rollout.activate": post(lambda w: _plan(w) + "/activate", EDITORS, data=lambda w: {}),
    "rollout.complete": post(lambda w: _plan(w) + "/complete", EDITORS, data=lambda w: {}),
    "rollout.wave_sheets": get(
        lambda w: _plan(w) + "/waves/1/qr-sheets", EDITORS, ok=frozenset({200, 302})
    ),
    "feedback.site_feed_of": [
        get(lambda w: f"/feedback/staff/sites/{w.other_site.id}", LOGGED_IN),
        get(lambda w: f"/feedback/staff/sites/{w.extra_site.id}", ALL_SEEING),
        get(lambda w: f"/feedback/staff/sites/{w.site.id}", LOGGED_IN),
    ],
    "rollout.cancel": post(lambda w: _plan(w) + "/cancel", EDITORS, data=lambda w: {}),
    "rollout.site_card": [
        get(lambda w: _plan(w) + f"/sites/{w.own_site.id}", LOGGED_IN),
        get(lambda w: _plan(w) + f"/sites/{w.foreign_site.id}", ALL_SEEING),
    ],
    "rollout.my_site": get(lambda w: "/rollout/my-site", LOGGED_IN, ok=frozenset({200, 302})),
    "rollout.move_site": post(
        lambda w: _plan(w) + f"/sites/{w.foreign_site.id}/move",
        EDITORS,
        data=lambda w: {"target": "holdback", "reason": "access matrix"},
    ),
    "rollout.swap_mentor": post(
        lambda w: _plan(w) + f"/sites/{w.foreign_site.id}/mentor",
        EDITORS,
        data=lambda w: {"mentor": "", "reason": "access matrix"},
    ),
    "rollout.checklist": post(
        lambda w: _plan(w) + f"/sites/{w.own_site.id}/checklist",
        EDITORS,
        data=lambda w: {"key": "training", "done": "1"},
    ),
    "rollout.wave": get(lambda w: _plan(w) + "/waves/1", ALL_SEEING),
    "rollout.wave_dates": post(
        lambda w: _plan(w) + "/waves/1/dates",
        EDITORS,
        data=lambda w: {"start_date": "2027-01-04", "end_date": "2026-01-01", "reason": "x"},
    ),
    "rollout.evaluate": post(lambda w: _plan(w) + "/waves/1/evaluate", EDITORS, data=lambda w: {}),
    "rollout.decision": post(
        lambda w: _plan(w) + "/waves/1/decision", EDITORS, data=lambda w: {"action": "hold"}
    ),
    "rollout.signoff": post(lambda w: _plan(w) + "/waves/1/signoff", ALL_SEEING, data=lambda w: {}),
}
