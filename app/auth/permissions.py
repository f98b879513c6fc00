"""Every access rule in one place.

Views use ``@require_role(...)`` for coarse rules and the ``get_*_or_404`` helpers to load
an object and check the current user may see (or edit) it, answering 404/403 here only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import or_, select

from app.core.queries import in_started_wave
from app.extensions import db, login_manager
from app.models import (
    ActionItem,
    Arm,
    Assignment,
    Job,
    MentorPair,
    Pilot,
    PilotStatus,
    PlanStatus,
    Report,
    Retrospective,
    Role,
    RolloutPlan,
    Site,
    Wave,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Roles that may design and run pilots.
PILOT_EDITORS = (Role.ADMIN, Role.CHANGE_LEAD)
#: Roles that see every pilot and every site.
ALL_SEEING = (Role.ADMIN, Role.CHANGE_LEAD, Role.ANALYST)


def require_role(*roles: Role) -> Callable[[F], F]:
    """Log-in required, and the user's role must be one of ``roles``."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def can_edit_pilot(user: Any, pilot: Pilot) -> bool:
    """Leads and admins edit a pilot, its feedback and rollout; an archived pilot is read-only."""
    return user.is_authenticated and user.role in PILOT_EDITORS and not pilot.is_archived


def can_archive_pilot(user: Any, pilot: Pilot) -> bool:
    """Leads and admins archive any pilot and bring an archived one back."""
    return user.is_authenticated and user.role in PILOT_EDITORS


def can_delete_pilot(user: Any, pilot: Pilot) -> bool:
    """A draft pilot may be deleted by an admin or by the change lead who owns it."""
    if not user.is_authenticated or pilot.status is not PilotStatus.DRAFT:
        return False
    return user.role is Role.ADMIN or (user.role is Role.CHANGE_LEAD and pilot.owner_id == user.id)


def can_view_pilot(user: Any, pilot: Pilot) -> bool:
    if not user.is_authenticated:
        return False
    if user.role in ALL_SEEING:
        return True
    return (
        user.role is Role.STAFF
        and user.site_id is not None
        and staff_site_in_pilot(user.site_id, pilot.id)
    )


def can_see_pilot_design(user: Any) -> bool:
    """Whether the user sees a pilot's design: its arms, controls, charts and deviations.

    Staff see their own site's part of a pilot only: which sites are controls, and how the
    pilot compares with them, is for the people who run and review it.
    """
    return user.is_authenticated and user.role in ALL_SEEING


def visible_site_ids(user: Any) -> set[int] | None:
    """The sites whose rows the user may see in a pilot's tables (None: every site)."""
    return None if can_see_pilot_design(user) else {user.site_id}


def staff_site_in_pilot(site_id: int, pilot_id: int) -> bool:
    found = db.session.scalar(
        select(Assignment.id).where(Assignment.pilot_id == pilot_id, Assignment.site_id == site_id)
    )
    return found is not None


def require_login() -> None:
    """Send anonymous visitors to the login page (and back afterwards)."""
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())


def get_pilot_or_404(pilot_id: int, *, for_edit: bool = False) -> Pilot:
    require_login()
    pilot = db.get_or_404(Pilot, pilot_id)
    allowed = (
        can_edit_pilot(current_user, pilot) if for_edit else can_view_pilot(current_user, pilot)
    )
    if not allowed:
        abort(403)
    return pilot


def can_view_site(user: Any, site: Site) -> bool:
    if not user.is_authenticated:
        return False
    if user.role in ALL_SEEING:
        return True
    return user.role is Role.STAFF and user.site_id == site.id


def get_site_or_404(site_id: int, *, for_edit: bool = False) -> Site:
    require_login()
    site = db.get_or_404(Site, site_id)
    if for_edit:
        allowed = current_user.is_authenticated and current_user.role in PILOT_EDITORS
    else:
        allowed = can_view_site(current_user, site)
    if not allowed:
        abort(403)
    return site


# ---------------------------------------------------------------- retrospectives

#: Roles that see every pilot's retros; staff see them only when the pilot allows it.
RETRO_READERS = (Role.ADMIN, Role.CHANGE_LEAD, Role.ANALYST)
#: Roles that run retros and edit their notes, decisions and actions.
RETRO_EDITORS = (Role.ADMIN, Role.CHANGE_LEAD)


def can_edit_retros(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role in RETRO_EDITORS


def can_view_retros(user, pilot: Pilot) -> bool:
    """Leads, admins and analysts read every retro; staff read those of a pilot in which their
    site is a *pilot* site, when the pilot shows retros to staff (control-site staff never:
    reading how the change is run would contaminate the control)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role in RETRO_READERS:
        return True
    if user.role is not Role.STAFF or user.site_id is None or not pilot.retros_visible_to_staff:
        return False
    found = db.session.scalar(
        select(Assignment.id).where(
            Assignment.pilot_id == pilot.id,
            Assignment.site_id == user.site_id,
            Assignment.arm == Arm.PILOT,  # control-site staff must not learn the new process
        )
    )
    return found is not None


def can_update_action(user, action: ActionItem) -> bool:
    """Editors update any action; an action's owner may update and close their own."""
    if not getattr(user, "is_authenticated", False):
        return False
    return can_edit_retros(user) or (action.owner_id is not None and action.owner_id == user.id)


def get_retro_pilot_or_404(pilot_id: int, *, for_edit: bool = False) -> Pilot:
    """The pilot whose retros the current user may read (and, with ``for_edit``, run)."""
    require_login()
    pilot = db.get_or_404(Pilot, pilot_id)
    if not can_view_retros(current_user, pilot):
        abort(403)
    if for_edit and (not can_edit_retros(current_user) or pilot.is_archived):
        abort(403)
    return pilot


def get_retro_or_404(retro_id: int, *, for_edit: bool = False) -> Retrospective:
    require_login()
    retro = db.get_or_404(Retrospective, retro_id)
    get_retro_pilot_or_404(retro.pilot_id, for_edit=for_edit)
    return retro


def get_action_or_404(action_id: int) -> ActionItem:
    """An action its owner may update even without retro rights; editors update any."""
    require_login()
    action = db.get_or_404(ActionItem, action_id)
    if not can_update_action(current_user, action):
        abort(403)
    return action


# ---------------------------------------------------------------- feedback


def get_staff_answer_target_or_404(pilot_id: int) -> tuple[Pilot, Site]:
    """The pilot whose staff form the logged-in staff member answers, and their site: a
    site of the pilot, or of a started wave of its rollout (which does not make the pilot's
    own pages theirs to see)."""
    require_login()
    pilot = db.get_or_404(Pilot, pilot_id)
    return pilot, require_staff_site_in(pilot)


def require_staff_site_in(pilot: Pilot) -> Site:
    """The logged-in staff member's site, which must take part in ``pilot`` or be in a
    started wave of its rollout (else 403)."""
    site = getattr(current_user, "site", None)
    if site is None or not (
        staff_site_in_pilot(site.id, pilot.id) or in_started_wave(pilot.id, site.id)
    ):
        abort(403)
    return site


def mentee_site_ids(user: Any) -> set[int]:
    """Sites that a staff member's own site (or the member in person) mentors in an active
    rollout plan: their staff follow those sites' customer feedback."""
    if not getattr(user, "is_authenticated", False) or user.role is not Role.STAFF:
        return set()
    mentors = [MentorPair.mentor_user_id == user.id]
    if user.site_id is not None:
        mentors.append(MentorPair.mentor_site_id == user.site_id)
    return set(
        db.session.scalars(
            select(MentorPair.mentee_site_id)
            .join(RolloutPlan, RolloutPlan.id == MentorPair.plan_id)
            .where(or_(*mentors), RolloutPlan.status == PlanStatus.ACTIVE)
        )
    )


def can_view_site_feedback(user: Any, site: Site) -> bool:
    """A site's customer feedback: everyone who sees all sites, the site's own staff, and the
    staff of the site that mentors it during an active rollout."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role in ALL_SEEING:
        return True
    if user.role is not Role.STAFF:
        return False
    return user.site_id == site.id or site.id in mentee_site_ids(user)


def get_feedback_site_or_404(site_id: int) -> Site:
    """A site whose customer feedback the current user may read (403 otherwise)."""
    require_login()
    site = db.get_or_404(Site, site_id)
    if not can_view_site_feedback(current_user, site):
        abort(403)
    return site


# ---------------------------------------------------------------- significance reports


def get_report_pilot_or_404(pilot_id: int) -> Pilot:
    """A pilot whose reports the current user may see: analysts, leads and admins only."""
    pilot = get_pilot_or_404(pilot_id)
    if current_user.role not in ALL_SEEING:
        abort(403)
    return pilot


def get_report_or_404(report_id: int) -> Report:
    require_login()
    report = db.get_or_404(Report, report_id)
    get_report_pilot_or_404(report.pilot_id)
    return report


def require_report_reviewer(report: Report) -> None:
    """Analysts review reports, but never one of a pilot they own (403)."""
    if current_user.role is not Role.ANALYST or report.pilot.owner_id == current_user.id:
        abort(403)


def can_review_report(user: Any, report: Report) -> bool:
    """Only analysts review, never the pilot's owner, never an exploration."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and user.role is Role.ANALYST
        and report.pilot.owner_id != user.id
        and not report.is_exploration
    )


# ---------------------------------------------------------------- rollout


def get_plan_or_404(plan_id: int, *, for_edit: bool = False) -> RolloutPlan:
    """A rollout plan: seen by analysts, leads and admins; edited by leads and admins."""
    require_login()
    plan = db.get_or_404(RolloutPlan, plan_id)
    if current_user.role not in (PILOT_EDITORS if for_edit else ALL_SEEING):
        abort(403)
    return plan


def can_view_plan_site(user: Any, site: Site) -> bool:
    """A site's rollout card: everyone who sees all plans, and the site's own staff."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.role in ALL_SEEING or (user.role is Role.STAFF and can_view_site(user, site))


def can_sign_off_gate(user: Any, wave: Wave) -> bool:
    """The role the plan names for the wave's gate (change lead by default), or an admin."""
    if not getattr(user, "is_authenticated", False):
        return False
    named = (wave.gate or {}).get("signoff_role") or Role.CHANGE_LEAD.value
    return user.role is Role.ADMIN or user.role.value == named


# ---------------------------------------------------------------- background jobs


def can_read_job(user: Any, job: Job) -> bool:
    """A job is followed by whoever started it, admins, and the change lead who owns its pilot."""
    if not getattr(user, "is_authenticated", False):
        return False
    if job.created_by_id is not None and job.created_by_id == user.id:
        return True
    if user.role is Role.ADMIN:
        return True
    if user.role is Role.CHANGE_LEAD and job.pilot_id is not None:
        pilot = db.session.get(Pilot, job.pilot_id)
        return pilot is not None and pilot.owner_id == user.id
    return False


def get_job_or_none(job_id: int) -> Job | None:
    """The job if the current user may read it; None otherwise (answered as one 404)."""
    job = db.session.get(Job, job_id)
    if job is None or not can_read_job(current_user, job):
        return None
    return job
