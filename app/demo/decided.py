"""What the demo's two decided pilots share: who plays in them, the pilot as its lead set it
up (a primary metric and a guardrail, dated from the story), and its stratified random
assignment. ``finished.py`` (kitchen display screens) and ``rollout.py`` (digital queue
tickets) tell the rest of their stories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from app.demo.approval import at
from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    AssignmentMethod,
    Metric,
    MetricRole,
    Pilot,
    PilotMetric,
    PilotStatus,
    Role,
    Site,
    User,
)


@dataclass(frozen=True, slots=True)
class Cast:
    """The demo's active sites (by code) and its first lead, analyst and staff member."""

    sites: list[Site]
    lead: User | None
    analyst: User | None
    staff: User | None

    @property
    def staff_site(self) -> Site | None:
        return self.staff.site if self.staff is not None else None


def cast() -> Cast:
    """Who plays in the decided pilots' stories (seeded by ``app.demo.seed``)."""

    def first(role: Role) -> User | None:
        return db.session.scalar(select(User).where(User.role == role).order_by(User.id))

    sites = list(db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code)))
    return Cast(sites, first(Role.CHANGE_LEAD), first(Role.ANALYST), first(Role.STAFF))


def datetime_at(day: date):
    """09:00 UTC on ``day``."""
    return at(day, 9)


@dataclass(frozen=True, slots=True)
class PilotStory:
    """A decided pilot's set-up: what changed, its dates and its two metrics."""

    name: str
    change: str
    hypothesis: str
    pre_start: date
    start: date
    end: date
    primary: Metric
    min_effect: float
    primary_margin: float
    guardrail: Metric
    created_days_before: int
    """The lead created the pilot this many days before its pre-period."""


def decided_pilot(story: PilotStory, lead: User | None) -> Pilot:
    """The pilot as it stood when it ended: design locked at the start, in analysis (the
    analyst's approval decides it)."""
    pilot = Pilot(
        name=story.name,
        change_description=story.change,
        hypothesis=story.hypothesis,
        owner=lead,
        status=PilotStatus.ANALYSING,
        pre_start=story.pre_start,
        start_date=story.start,
        end_date=story.end,
        alpha=0.05,
        min_effect=story.min_effect,
        wizard_step=5,
        design_locked_at=datetime_at(story.start),
        created_at=datetime_at(story.pre_start - timedelta(days=story.created_days_before)),
    )
    pilot.metric_links.append(
        PilotMetric(
            metric=story.primary,
            role=MetricRole.PRIMARY,
            min_effect=story.min_effect,
            margin=story.primary_margin,
        )
    )
    pilot.metric_links.append(
        PilotMetric(metric=story.guardrail, role=MetricRole.GUARDRAIL, margin=0.5, position=1)
    )
    return pilot


def assign(pilot: Pilot, pilot_sites: Iterable[Site], controls: Iterable[Site]) -> None:
    """Pilot and control sites, randomised within regions."""
    for arm, arm_sites in ((Arm.PILOT, pilot_sites), (Arm.CONTROL, controls)):
        for s in arm_sites:
            pilot.assignments.append(
                Assignment(
                    site=s, arm=arm, method=AssignmentMethod.RANDOM_STRATIFIED, stratum=s.region
                )
            )
