"""What staff see of their own site's feedback, and the staff forms they may answer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.core import clock
from app.core.queries import in_started_wave, rollout_site_open
from app.extensions import db
from app.feedback.questionnaires import form_is_open
from app.models import Assignment, Audience, FeedbackAnswer, FeedbackResponse, Pilot, Site


def recent_responses(site_id: int, *, days: int = 14, limit: int = 100) -> list[FeedbackResponse]:
    """Recent customer responses of one site, newest first.

    Staff answers are left out: at a small site an anonymous colleague's answer is easy to
    attribute, and attitude answers must stay safe to give honestly.
    """
    since = clock.utc_now() - timedelta(days=days)
    return list(
        db.session.scalars(
            select(FeedbackResponse)
            .where(
                FeedbackResponse.site_id == site_id,
                FeedbackResponse.audience == Audience.CUSTOMER,
                FeedbackResponse.submitted_at >= since,
            )
            .options(
                selectinload(FeedbackResponse.answers).selectinload(FeedbackAnswer.tags),
                selectinload(FeedbackResponse.form),
            )
            .order_by(FeedbackResponse.submitted_at.desc(), FeedbackResponse.id.desc())
            .limit(limit)
        )
    )


def open_pilots(site_id: int) -> list[Pilot]:
    """Pilots whose staff form the site's staff may answer now: those it takes part in while
    their form is open, and those whose rollout has started the site's wave."""
    in_pilot = select(Assignment.pilot_id).where(Assignment.site_id == site_id)
    pilots = db.session.scalars(
        select(Pilot)
        .where(or_(Pilot.id.in_(in_pilot), rollout_site_open(Pilot.id, site_id)))
        .order_by(Pilot.id)
    ).all()
    return [p for p in pilots if staff_form_open(p, site_id)]


def staff_form_open(pilot: Pilot, site_id: int) -> bool:
    """The pilot's staff form takes answers from this site: while the pilot collects
    feedback, or during the rollout once the site's wave has started."""
    return form_is_open(pilot) or in_started_wave(pilot.id, site_id)


def mentee_sites(site_ids: set[int]) -> list[Site]:
    """The sites mentored by the reader (see ``app.auth.permissions.mentee_site_ids``)."""
    if not site_ids:
        return []
    return list(
        db.session.scalars(select(Site).where(Site.id.in_(sorted(site_ids))).order_by(Site.code))
    )
