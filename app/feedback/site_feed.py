"""What staff see of their own site's feedback, and the staff forms they may answer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.core import clock
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
    """Pilots the site takes part in whose staff form is open."""
    pilots = db.session.scalars(
        select(Pilot).join(Assignment).where(Assignment.site_id == site_id).order_by(Pilot.id)
    ).all()
    return [p for p in pilots if form_is_open(p)]


def mentee_sites(site_ids: set[int]) -> list[Site]:
    """The sites mentored by the reader (see ``app.auth.permissions.mentee_site_ids``)."""
    if not site_ids:
        return []
    return list(
        db.session.scalars(select(Site).where(Site.id.in_(sorted(site_ids))).order_by(Site.code))
    )
