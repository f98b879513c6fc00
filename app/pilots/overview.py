"""What the dashboard shows: pilots with status, dates and site counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from app.core import clock
from app.extensions import db
from app.models import Arm, Assignment, Pilot, Role, User


@dataclass(frozen=True, slots=True)
class PilotRow:
    pilot: Pilot
    n_pilot_sites: int
    n_control_sites: int
    day_number: int | None


def pilot_overview(
    user: User, today: date | None = None, *, archived: bool = False
) -> list[PilotRow]:
    """Pilots the user may see, newest first, with their site counts in one query.

    Archived pilots are left out unless ``archived`` (then they are listed with the others).
    """
    today = today or clock.today()
    counts = (
        select(
            Assignment.pilot_id,
            func.sum(case((Assignment.arm == Arm.PILOT, 1), else_=0)).label("n_pilot"),
            func.sum(case((Assignment.arm == Arm.CONTROL, 1), else_=0)).label("n_control"),
        )
        .group_by(Assignment.pilot_id)
        .subquery()
    )
    query = (
        select(Pilot, counts.c.n_pilot, counts.c.n_control)
        .outerjoin(counts, counts.c.pilot_id == Pilot.id)
        .order_by(Pilot.created_at.desc(), Pilot.id.desc())
    )
    if not archived:
        query = query.where(Pilot.archived_at.is_(None))
    if user.role is Role.STAFF:
        mine = select(Assignment.pilot_id).where(Assignment.site_id == user.site_id)
        query = query.where(Pilot.id.in_(mine))
    return [
        PilotRow(pilot, int(n_pilot or 0), int(n_control or 0), _running_day(pilot, today))
        for pilot, n_pilot, n_control in db.session.execute(query)
    ]


def _running_day(pilot: Pilot, today: date) -> int | None:
    """Day of the pilot while it is within its planned dates; None before and after."""
    if pilot.end_date is not None and today > pilot.end_date:
        return None
    return pilot.day_number(today)
