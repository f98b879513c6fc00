"""Pilot design workflows: the wizard's steps, pre-registration and deviations.

A pilot's **design** is what the significance report must be able to trust: the hypothesis,
the arms (pilot and control sites), the metrics with their roles, margins and minimum
effects, alpha and the dates. ``start_pilot`` freezes it (``design_locked_at``) and stores
the pre-registered design in an audit event. After that, ``save_design`` only accepts a
change with a written reason, and records it as an ``AuditEvent`` with
``is_deviation=True`` carrying the changed parts before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core import clock
from app.core.audit import record
from app.core.errors import ServiceError
from app.core.labels import WIZARD_STEP_LABELS, unit_label
from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    AssignmentMethod,
    AuditEvent,
    Direction,
    Metric,
    MetricKind,
    MetricRole,
    Pilot,
    PilotMetric,
    PilotStatus,
    Site,
    User,
)
from app.models.metric import key_from_name

WIZARD_STEPS = tuple(WIZARD_STEP_LABELS.items())
LAST_STEP = len(WIZARD_STEPS)
#: Fewest sites per arm for any comparison (site-level inference needs variance).
MIN_SITES_PER_ARM = 2
#: A pre-period shorter than this gives little to adjust for or check pre-trends on.
RECOMMENDED_PRE_DAYS = 14
#: The pre-period the dates step proposes.
DEFAULT_PRE_DAYS = 28


_signals = Namespace()
#: Sent with the pilot when it starts, inside the starting transaction. Areas that prepare
#: something for a running pilot listen (the feedback area opens its forms and QR links), so
#: that starting a pilot does not need to know them.
pilot_started = _signals.signal("pilot-started")


class ReasonRequired(ServiceError):
    """A change to a started pilot's design was submitted without a written reason."""

    code = "reason_required"

    def __init__(self) -> None:
        super().__init__(_("Give a reason for the change."), "reason")


class DesignError(ServiceError):
    """A design change that cannot be made (the message is for the user)."""

    code = "design"


# ---------------------------------------------------------------- the design snapshot


def design_snapshot(pilot: Pilot) -> dict[str, Any]:
    """The pre-registered parts of a pilot, in plain JSON."""
    metrics = [
        {
            "metric": link.metric.key,
            "role": link.role.value,
            "margin": link.margin,
            "min_effect": link.min_effect,
        }
        for link in sorted(pilot.metric_links, key=lambda lk: (lk.position, lk.metric.key))
    ]
    return {
        "hypothesis": pilot.hypothesis,
        "pre_start": _iso(pilot.pre_start),
        "start_date": _iso(pilot.start_date),
        "end_date": _iso(pilot.end_date),
        "alpha": pilot.alpha,
        "min_effect": pilot.min_effect,
        "metrics": metrics,
        "pilot_sites": sorted(a.site.code for a in pilot.assignments if a.arm is Arm.PILOT),
        "control_sites": sorted(a.site.code for a in pilot.assignments if a.arm is Arm.CONTROL),
        "pairs": pilot.pairs,
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def save_design(
    pilot: Pilot,
    change: Callable[[], None],
    *,
    by: User | None,
    reason: str | None = None,
    action: str = "pilot.design_changed",
) -> AuditEvent | None:
    """Apply ``change`` to the pilot's design and audit it.

    On a started (locked) pilot a change needs a written ``reason`` and is recorded as a
    deviation from the pre-registered design; without a reason ``ReasonRequired`` is raised
    (the caller rolls back). A change that leaves the design as it was records nothing.
    """
    before = design_snapshot(pilot)
    change()
    db.session.flush()
    db.session.refresh(pilot)
    after = design_snapshot(pilot)
    if before == after:
        return None
    old, new = _diff(before, after)
    if pilot.is_locked:
        if not (reason or "").strip():
            raise ReasonRequired
        return record(
            "pilot.deviation",
            pilot,
            by=by,
            before=old,
            after=new,
            reason=reason.strip(),
            pilot_id=pilot.id,
            is_deviation=True,
        )
    return record(action, pilot, by=by, before=old, after=new, pilot_id=pilot.id)


# ---------------------------------------------------------------- wizard steps


def create_pilot(data: dict[str, Any], *, by: User) -> Pilot:
    pilot = Pilot(
        name=data["name"].strip(),
        change_description=(data.get("change_description") or "").strip() or None,
        hypothesis=(data.get("hypothesis") or "").strip() or None,
        owner_id=data.get("owner_id") or by.id,
        status=PilotStatus.DRAFT,
        wizard_step=2,
    )
    db.session.add(pilot)
    db.session.flush()
    record("pilot.created", pilot, by=by, after={"name": pilot.name}, pilot_id=pilot.id)
    return pilot


def update_description(pilot: Pilot, data: dict[str, Any]) -> None:
    pilot.name = data["name"].strip()
    pilot.change_description = (data.get("change_description") or "").strip() or None
    pilot.hypothesis = (data.get("hypothesis") or "").strip() or None
    pilot.owner_id = data.get("owner_id") or pilot.owner_id


@dataclass
class MetricChoice:
    metric: Metric
    role: MetricRole | None
    margin: float | None = None
    min_effect: float | None = None
    direction: Direction | None = None


def all_metrics() -> list[Metric]:
    """Every metric a pilot can measure, by key."""
    return list(db.session.scalars(select(Metric).order_by(Metric.key)))


def set_metrics(
    pilot: Pilot,
    choices: Iterable[MetricChoice],
    *,
    alpha: float,
    min_effect: float | None,
    by: User | None = None,
) -> None:
    """Replace the pilot's metric roles. Exactly one primary metric; margins for guardrails."""
    chosen = [c for c in choices if c.role is not None]
    primaries = [c for c in chosen if c.role is MetricRole.PRIMARY]
    if len(primaries) != 1:
        raise DesignError(_("Choose exactly one primary metric."))
    for c in chosen:
        if c.role is MetricRole.GUARDRAIL and (c.margin is None or c.margin < 0):
            raise DesignError(
                _(
                    "Give the guardrail %(metric)s a non-inferiority margin (how much worse it "
                    "may get, in %(unit)s).",
                    metric=c.metric.name,
                    unit=unit_label(c.metric.unit) or _("its units"),
                )
            )
    if not 0 < alpha < 0.5:
        raise DesignError(_("Alpha must lie between 0 and 0.5."))
    if min_effect is not None and min_effect <= 0:
        raise DesignError(_("The minimum effect is a size: give a positive number."))
    for c in chosen:
        if c.direction is not None and c.direction is not c.metric.better_direction:
            locked_elsewhere = db.session.scalar(
                select(Pilot.id)
                .join(PilotMetric, PilotMetric.pilot_id == Pilot.id)
                .where(
                    PilotMetric.metric_id == c.metric.id,
                    Pilot.design_locked_at.is_not(None),
                    Pilot.id != pilot.id,
                )
            )
            if locked_elsewhere:
                raise DesignError(
                    _(
                        "The better direction of %(metric)s cannot change: a started pilot "
                        "relies on it.",
                        metric=c.metric.name,
                    )
                )
            before = c.metric.better_direction.value
            c.metric.better_direction = c.direction
            record(
                "metric.direction_changed",
                c.metric,
                by=by,
                before={"better_direction": before},
                after={"better_direction": c.direction.value},
                pilot_id=pilot.id,
            )
    existing = {link.metric_id: link for link in pilot.metric_links}
    keep = set()
    order = {MetricRole.PRIMARY: 0, MetricRole.GUARDRAIL: 1, MetricRole.SECONDARY: 2}
    for position, c in enumerate(sorted(chosen, key=lambda c: (order[c.role], c.metric.key))):
        link = existing.get(c.metric.id)
        if link is None:
            link = PilotMetric(metric=c.metric, role=c.role)
            pilot.metric_links.append(link)
        link.role = c.role
        link.margin = c.margin if c.role is MetricRole.GUARDRAIL else None
        link.min_effect = c.min_effect if c.role is not MetricRole.GUARDRAIL else None
        link.position = position
        keep.add(c.metric.id)
    for metric_id, link in existing.items():
        if metric_id not in keep:
            pilot.metric_links.remove(link)
    primary = primaries[0]
    pilot.alpha = alpha
    pilot.min_effect = min_effect if min_effect is not None else primary.min_effect
    if primary.min_effect is None and pilot.min_effect is not None:
        for link in pilot.metric_links:
            if link.role is MetricRole.PRIMARY:
                link.min_effect = pilot.min_effect


def define_metric(data: dict[str, Any], *, by: User | None, pilot: Pilot) -> Metric:
    """A metric the lead defines in the wizard: a ``Metric`` row like any other, its key
    made from the name (unique), usable by imports, the API, reports and rollout gates."""
    name = " ".join(data["name"].split())
    same = db.session.scalar(select(Metric).where(func.lower(Metric.name) == name.lower()))
    if same is not None:
        raise DesignError(_("A metric named %(name)s exists already.", name=same.name), "name")
    taken = set(db.session.scalars(select(Metric.key)))
    metric = Metric(
        key=key_from_name(name, taken),
        name=name,
        name_zh=(data.get("name_zh") or "").strip() or None,
        unit=data["unit"].strip(),
        kind=MetricKind(data["kind"]),
        better_direction=Direction(data["better_direction"]),
        min_value=data.get("min_value"),
        max_value=data.get("max_value"),
        source="wizard",
    )
    db.session.add(metric)
    db.session.flush()
    record(
        "metric.created",
        metric,
        by=by,
        after={"key": metric.key, "name": metric.name, "unit": metric.unit},
        pilot_id=pilot.id,
    )
    return metric


def default_dates(today: date | None = None) -> tuple[date, date, date]:
    """Four weeks before and four weeks of pilot, starting next Monday."""
    today = today or clock.today()
    start = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    return start - timedelta(days=DEFAULT_PRE_DAYS), start, start + timedelta(days=27)


def set_dates(pilot: Pilot, pre_start: date, start: date, end: date) -> None:
    if not pre_start < start:
        raise DesignError(_("The pre-period must start before the pilot starts."))
    if not start <= end:
        raise DesignError(_("The planned end must not be before the start."))
    pilot.pre_start, pilot.start_date, pilot.end_date = pre_start, start, end


def assign_site(
    pilot: Pilot,
    site: Site,
    arm: Arm,
    *,
    method: AssignmentMethod = AssignmentMethod.MANUAL,
    reasons: list[Any] | None = None,
    stratum: str | None = None,
) -> Assignment:
    for assignment in pilot.assignments:
        if assignment.site_id == site.id:
            assignment.arm = arm
            assignment.method = method
            assignment.reasons = list(reasons or [])
            assignment.stratum = stratum or assignment.stratum
            return assignment
    assignment = Assignment(
        site=site, arm=arm, method=method, reasons=list(reasons or []), stratum=stratum
    )
    pilot.assignments.append(assignment)
    return assignment


def remove_site(pilot: Pilot, site_id: int) -> None:
    for assignment in list(pilot.assignments):
        if assignment.site_id == site_id:
            pilot.assignments.remove(assignment)


def clear_sites(pilot: Pilot, arm: Arm | None = None) -> None:
    for assignment in list(pilot.assignments):
        if arm is None or assignment.arm is arm:
            pilot.assignments.remove(assignment)


def advance(pilot: Pilot, step: int) -> None:
    """Remember the furthest step reached, so a draft resumes where it was left."""
    if not pilot.is_locked:
        pilot.wizard_step = max(pilot.wizard_step or 1, min(step, LAST_STEP))


# ---------------------------------------------------------------- review and start


@dataclass
class Readiness:
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blockers


def readiness(pilot: Pilot, today: date | None = None) -> Readiness:
    """What stops the pilot from starting, and what the change lead should know first."""
    today = today or clock.today()
    result = Readiness()
    if not pilot.hypothesis:
        result.warnings.append(_("There is no written hypothesis."))
    if pilot.primary_metric is None:
        result.blockers.append(_("Choose a primary metric (step 2)."))
    if pilot.min_effect is None:
        result.warnings.append(
            _("No minimum effect worth acting on: power cannot be judged (step 2).")
        )
    if not (pilot.pre_start and pilot.start_date and pilot.end_date):
        result.blockers.append(
            _("Set the pre-period start, the start and the planned end (step 3).")
        )
    else:
        if (pilot.start_date - pilot.pre_start).days < RECOMMENDED_PRE_DAYS:
            result.warnings.append(
                _(
                    "The pre-period is shorter than %(n)s days: little to adjust for and to "
                    "check trends on.",
                    n=RECOMMENDED_PRE_DAYS,
                )
            )
        if pilot.start_date < today:
            result.warnings.append(
                _(
                    "The start date %(day)s is in the past: the design is registered after the "
                    "pilot began.",
                    day=pilot.start_date.isoformat(),
                )
            )
    n_pilot = sum(1 for a in pilot.assignments if a.arm is Arm.PILOT)
    n_control = sum(1 for a in pilot.assignments if a.arm is Arm.CONTROL)
    if n_pilot < MIN_SITES_PER_ARM:
        result.blockers.append(
            _("Choose at least %(n)s pilot sites (step 4).", n=MIN_SITES_PER_ARM)
        )
    if n_control < MIN_SITES_PER_ARM:
        result.blockers.append(
            _("Choose at least %(n)s control sites (step 4).", n=MIN_SITES_PER_ARM)
        )
    return result


def start_pilot(pilot: Pilot, *, by: User, now: datetime | None = None) -> AuditEvent:
    """Freeze the design (pre-registration) and set the pilot running."""
    if pilot.is_locked:
        raise DesignError(_("This pilot has already started."))
    check = readiness(pilot)
    if not check.ok:
        raise DesignError(" ".join(check.blockers))
    pilot.status = PilotStatus.RUNNING
    pilot.design_locked_at = now or clock.utc_now()
    pilot.wizard_step = LAST_STEP
    db.session.flush()
    pilot_started.send(pilot)
    return record(
        "pilot.started",
        pilot,
        by=by,
        after=design_snapshot(pilot),
        pilot_id=pilot.id,
        reason=_("Design pre-registered at the start of the pilot."),
    )


def day_counts(pilot: Pilot, today: date | None = None) -> tuple[int | None, int | None]:
    """(day of the pilot today, planned number of days)."""
    today = today or clock.today()
    planned = (
        (pilot.end_date - pilot.start_date).days + 1
        if pilot.start_date and pilot.end_date
        else None
    )
    day = pilot.day_number(today)
    if day is not None and planned is not None:
        day = min(day, planned) if today <= pilot.end_date + timedelta(days=0) else day
    return day, planned


def audit_events(pilot: Pilot) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.pilot_id == pilot.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        )
    )


# ---------------------------------------------------------------- archive and delete


def archive_pilot(pilot: Pilot, *, by: User | None) -> None:
    """Hide the pilot from lists and make it read-only; its status and data are kept."""
    if pilot.archived_at is None:
        pilot.archived_at = clock.utc_now()
        record("pilot.archived", pilot, by=by, pilot_id=pilot.id)


def restore_pilot(pilot: Pilot, *, by: User | None) -> None:
    """Bring an archived pilot back to the lists, editable again."""
    if pilot.archived_at is not None:
        pilot.archived_at = None
        record("pilot.restored", pilot, by=by, pilot_id=pilot.id)


def delete_draft(pilot: Pilot, *, by: User | None) -> None:
    """Delete a draft pilot with its sites, metric roles and feedback set-up.

    Only a draft: a started pilot is pre-registered and has data, so it is archived instead.
    The deletion is audited without the pilot (its own audit trail goes with it).
    """
    if pilot.status is not PilotStatus.DRAFT:
        raise DesignError(_("Only a draft pilot can be deleted; archive it instead."))
    record("pilot.deleted", pilot, by=by, before={"name": pilot.name, "id": pilot.id})
    db.session.delete(pilot)
    db.session.flush()
