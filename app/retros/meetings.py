"""Daily retrospectives: opening a day's retro, its notes, and action items until closed.

Workflows add and flush; the caller (view, CLI, API) commits once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from app.core import audit
from app.core.errors import ServiceError
from app.extensions import db
from app.models import (
    ActionItem,
    ActionStatus,
    Adjustment,
    Assignment,
    FeedbackResponse,
    Pilot,
    RetroFormat,
    RetroItem,
    Retrospective,
    Site,
    User,
)
from app.models.retro import FORMAT_CATEGORIES


class RetroError(ServiceError):
    """A request that breaks a rule of retros (shown to the user, never a 500)."""

    code = "retro"


# Access rules live with the others in app/auth/permissions.py.


def set_staff_visibility(pilot: Pilot, visible: bool, *, by: User | None) -> None:
    """Let staff of the pilot's sites read its retros (or stop them)."""
    if pilot.retros_visible_to_staff == visible:
        return
    audit.record_change(
        "pilot.retros_visibility",
        pilot,
        "retros_visible_to_staff",
        visible,
        by=by,
        pilot_id=pilot.id,
    )
    db.session.flush()


# ----------------------------------------------------------------- retros


def get_retro(pilot: Pilot, day: date) -> Retrospective | None:
    return db.session.scalar(
        select(Retrospective).where(Retrospective.pilot_id == pilot.id, Retrospective.date == day)
    )


def check_retro_date(pilot: Pilot, day: date, today: date) -> None:
    """A retro belongs to a running pilot's day: not before its start, not after tomorrow."""
    if pilot.start_date is None:
        raise RetroError(_l("The pilot has no start date yet."))
    if day < pilot.start_date:
        raise RetroError(_l("The pilot starts later than this date."))
    if (day - today).days > 1:
        raise RetroError(_l("A retro can be prepared at most one day ahead."))


def open_retro(
    pilot: Pilot,
    day: date,
    *,
    by: User | None,
    retro_format: RetroFormat = RetroFormat.WELL_PROBLEMS_IDEAS,
) -> tuple[Retrospective, bool]:
    """The pilot's retro for ``day``, created when missing: ``(retro, created)``.

    A second attempt (a double click, two leads at once) opens the existing retro; on a
    race the unique (pilot, date) constraint decides and the view reopens the winner's row.
    """
    existing = get_retro(pilot, day)
    if existing is not None:
        return existing, False
    retro = Retrospective(pilot=pilot, date=day, format=retro_format, facilitator=by)
    db.session.add(retro)
    db.session.flush()  # a concurrent twin raises IntegrityError: the view reopens the winner
    audit.record("retro.open", retro, by=by, pilot_id=pilot.id, after={"date": day.isoformat()})
    return retro, True


def update_details(
    retro: Retrospective,
    *,
    retro_format: RetroFormat,
    facilitator: User | None,
    attendees: str | None,
    summary: str | None,
) -> None:
    """Change facilitator, attendees, summary and (while the retro has no notes) the format."""
    if retro_format is not retro.format and retro.items:
        raise RetroError(_l("The format cannot change once the retro has notes."))
    retro.format = retro_format
    retro.facilitator = facilitator
    retro.attendees = (attendees or "").strip() or None
    retro.summary = (summary or "").strip() or None
    db.session.flush()


def categories(retro: Retrospective) -> tuple[str, ...]:
    return FORMAT_CATEGORIES[retro.format]


def add_item(
    retro: Retrospective,
    category: str,
    text: str,
    *,
    site_ids: Iterable[int] = (),
    response_ids: Iterable[int] = (),
) -> RetroItem:
    """A note in one of the format's columns, optionally linked to sites and feedback."""
    if category not in categories(retro):
        raise RetroError(_l("Choose one of the format's columns."))
    text = (text or "").strip()
    if not text:
        raise RetroError(_l("A note needs some text."))
    sites = pilot_sites_by_id(retro.pilot, site_ids)
    responses = pilot_responses_by_id(retro.pilot, response_ids)
    item = RetroItem(category=category, text=text, sites=sites, responses=responses)
    retro.items.append(item)
    db.session.add(item)
    db.session.flush()
    return item


def delete_item(item: RetroItem) -> None:
    db.session.delete(item)
    db.session.flush()


def pilot_sites_by_id(pilot: Pilot, site_ids: Iterable[int]) -> list[Site]:
    """Only sites that take part in the pilot; anything else is silently left out."""
    return _rows_by_id(
        site_ids,
        lambda wanted: (
            select(Site)
            .join(Assignment, Assignment.site_id == Site.id)
            .where(Assignment.pilot_id == pilot.id, Site.id.in_(wanted))
            .order_by(Site.code)
        ),
    )


def pilot_responses_by_id(pilot: Pilot, response_ids: Iterable[int]) -> list[FeedbackResponse]:
    return _rows_by_id(
        response_ids,
        lambda wanted: select(FeedbackResponse).where(
            FeedbackResponse.pilot_id == pilot.id, FeedbackResponse.id.in_(wanted)
        ),
    )


def _rows_by_id(ids: Iterable[int], query: Callable[[set[int]], Select]) -> list[Any]:
    """The rows ``query(wanted)`` selects for the ids asked for (none when none are asked)."""
    wanted = {int(i) for i in ids}
    if not wanted:
        return []
    return list(db.session.scalars(query(wanted)))


def retros_of(pilot: Pilot) -> list[Retrospective]:
    return list(
        db.session.scalars(
            select(Retrospective)
            .where(Retrospective.pilot_id == pilot.id)
            .options(selectinload(Retrospective.items), selectinload(Retrospective.facilitator))
            .order_by(Retrospective.date.desc())
        )
    )


def decision_counts(pilot: Pilot) -> dict[int, tuple[int, int]]:
    """``{retro_id: (actions decided, adjustments decided)}`` in two grouped queries."""
    counts: dict[int, list[int]] = {}
    for retro_id, n in db.session.execute(
        select(ActionItem.retro_id, func.count(ActionItem.id))
        .where(ActionItem.pilot_id == pilot.id, ActionItem.retro_id.is_not(None))
        .group_by(ActionItem.retro_id)
    ):
        counts.setdefault(retro_id, [0, 0])[0] = int(n)
    for retro_id, n in db.session.execute(
        select(Adjustment.retro_id, func.count(Adjustment.id))
        .where(Adjustment.pilot_id == pilot.id, Adjustment.retro_id.is_not(None))
        .group_by(Adjustment.retro_id)
    ):
        counts.setdefault(retro_id, [0, 0])[1] = int(n)
    return {k: (v[0], v[1]) for k, v in counts.items()}


def previous_retro(retro: Retrospective) -> Retrospective | None:
    return db.session.scalar(
        select(Retrospective)
        .where(Retrospective.pilot_id == retro.pilot_id, Retrospective.date < retro.date)
        .order_by(Retrospective.date.desc())
        .limit(1)
    )


def next_retro(retro: Retrospective) -> Retrospective | None:
    return db.session.scalar(
        select(Retrospective)
        .where(Retrospective.pilot_id == retro.pilot_id, Retrospective.date > retro.date)
        .order_by(Retrospective.date)
        .limit(1)
    )


def decisions_of(retro: Retrospective) -> tuple[list[Adjustment], list[ActionItem]]:
    """The adjustments and the action items decided in ``retro``."""
    adjustments = db.session.scalars(
        select(Adjustment).where(Adjustment.retro_id == retro.id).order_by(Adjustment.id)
    ).all()
    actions = db.session.scalars(
        select(ActionItem)
        .where(ActionItem.retro_id == retro.id)
        .options(selectinload(ActionItem.owner))
        .order_by(ActionItem.id)
    ).all()
    return list(adjustments), list(actions)


# ----------------------------------------------------------------- action items


def add_action(
    retro: Retrospective,
    title: str,
    *,
    owner: User | None,
    due_date: date | None,
    by: User | None,
) -> ActionItem:
    title = (title or "").strip()
    if not title:
        raise RetroError(_l("An action needs a title."))
    if due_date is not None and due_date < retro.date:
        raise RetroError(_l("The due date is before the retro."))
    action = ActionItem(
        pilot_id=retro.pilot_id,
        retro=retro,
        title=title,
        owner=owner,
        due_date=due_date,
        status=ActionStatus.OPEN,
        created_on=retro.date,
    )
    audit.add_and_record(
        "action.open", action, by=by, pilot_id=retro.pilot_id, after={"title": title}
    )
    return action


def update_action(
    action: ActionItem,
    *,
    status: ActionStatus,
    owner: User | None,
    due_date: date | None,
    by: User | None,
) -> None:
    """Change an open action's status (open / in progress), owner or due date."""
    if status.is_closed:
        raise RetroError(_l("Close an action with an outcome note."))
    if action.status.is_closed:
        action.closed_on = None  # reopening
        action.outcome = None
    action.owner = owner
    action.due_date = due_date
    audit.record_change("action.update", action, "status", status, by=by, pilot_id=action.pilot_id)
    db.session.flush()


def close_action(
    action: ActionItem,
    *,
    outcome: str,
    status: ActionStatus = ActionStatus.DONE,
    on: date,
    by: User | None,
) -> None:
    """Close (done or dropped) with a short outcome note; it stops being carried forward."""
    if not status.is_closed:
        raise RetroError(_l("Closing needs the status done or dropped."))
    outcome = (outcome or "").strip()
    if not outcome:
        raise RetroError(_l("Say briefly what came of the action."))
    if action.status.is_closed:
        raise RetroError(_l("The action is already closed."))
    action.status = status
    action.outcome = outcome
    action.closed_on = max(on, action.created_on)
    db.session.flush()
    audit.record(
        "action.close",
        action,
        by=by,
        pilot_id=action.pilot_id,
        after={"status": status.value, "outcome": outcome},
    )


@dataclass(frozen=True, slots=True)
class CarriedAction:
    """An action as seen on one day: its age and whether it is overdue."""

    action: ActionItem
    age_days: int
    overdue: bool
    days_overdue: int

    @property
    def closed_that_day(self) -> bool:
        return self.action.status.is_closed


def carried_actions(pilot: Pilot, day: date, *, include_new: bool = False) -> list[CarriedAction]:
    """Actions of ``pilot`` open on ``day``, overdue first, then oldest first.

    Carried forward = opened on an earlier day and not closed before ``day`` (one closed on
    ``day`` itself still shows, marked closed). ``include_new`` adds those opened on ``day``.
    """
    opened = ActionItem.created_on <= day if include_new else ActionItem.created_on < day
    rows = db.session.scalars(
        select(ActionItem)
        .where(
            ActionItem.pilot_id == pilot.id,
            opened,
            or_(ActionItem.closed_on.is_(None), ActionItem.closed_on >= day),
        )
        .options(selectinload(ActionItem.owner), selectinload(ActionItem.retro))
    ).all()
    return sort_carried(_carried(a, day) for a in rows)


def _carried(action: ActionItem, day: date) -> CarriedAction:
    overdue = (
        action.due_date is not None
        and action.due_date < day
        and (action.closed_on is None or action.closed_on > day)
    )
    days_overdue = (day - action.due_date).days if overdue and action.due_date else 0
    return CarriedAction(action, action.age_on(day), overdue, days_overdue)


def sort_carried(items: Iterable[CarriedAction]) -> list[CarriedAction]:
    return sorted(
        items,
        key=lambda c: (
            c.action.status.is_closed,
            not c.overdue,
            -c.days_overdue,
            c.action.due_date or date.max,
            c.action.created_on,
            c.action.id,
        ),
    )


def actions_of_user(
    user: User, today: date, *, include_closed: bool = False
) -> list[CarriedAction]:
    """``user``'s actions across pilots: open ones overdue first; closed ones last if asked."""
    query = (
        select(ActionItem)
        .where(ActionItem.owner_id == user.id)
        .options(selectinload(ActionItem.pilot), selectinload(ActionItem.retro))
    )
    if not include_closed:
        query = query.where(ActionItem.status.in_([ActionStatus.OPEN, ActionStatus.IN_PROGRESS]))
    rows = db.session.scalars(query).all()
    return sort_carried(_carried(a, today) for a in rows)


def assignable_users() -> list[User]:
    """Everyone with an active account may own an action."""
    return list(
        db.session.scalars(
            select(User).where(User.is_active_account).order_by(User.name, User.email)
        )
    )
