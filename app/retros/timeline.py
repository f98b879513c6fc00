"""The pilot timeline: day by day, retros, adjustments, actions, data gaps, notable feedback
and the primary metric's daily difference pilot − control.

A fixed number of queries whatever the pilot's length (no query per day or site).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import func, select

from app.core.charts import daily_series_svg
from app.core.clock import day_bounds, local_day, organisation_zone
from app.core.labels import metric_label, unit_label
from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    Arm,
    Assignment,
    FeedbackResponse,
    Observation,
    Pilot,
    PilotMetric,
    Retrospective,
    Site,
)
from app.pilots.observations import last_data_day

#: Never run the timeline further than this past today (a retro may be prepared a day ahead).
DAYS_AHEAD = 1


@dataclass(slots=True)
class TimelineDay:
    day: date
    day_number: int | None
    retro: Retrospective | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    decided: list[Adjustment] = field(default_factory=list)
    opened: list[ActionItem] = field(default_factory=list)
    closed: list[ActionItem] = field(default_factory=list)
    missing_sites: list[str] = field(default_factory=list)
    responses: int = 0
    negative: int = 0
    pilot_mean: float | None = None
    control_mean: float | None = None

    @property
    def difference(self) -> float | None:
        if self.pilot_mean is None or self.control_mean is None:
            return None
        return self.pilot_mean - self.control_mean

    @property
    def is_quiet(self) -> bool:
        return not (
            self.retro
            or self.adjustments
            or self.decided
            or self.opened
            or self.closed
            or self.missing_sites
            or self.negative
        )


@dataclass(frozen=True, slots=True)
class Timeline:
    pilot_id: int
    first: date | None
    last: date | None
    days: list[TimelineDay]
    primary_key: str | None
    primary_name: str | None
    primary_unit: str | None
    n_sites: int

    def series(self) -> list[tuple[date, float]]:
        """``[(day, pilot − control)]`` for days with both arms observed."""
        return [(d.day, d.difference) for d in self.days if d.difference is not None]


def pilot_timeline(pilot: Pilot, today: date) -> Timeline:
    primary = pilot.primary_metric
    site_rows = db.session.execute(
        select(Site.id, Site.code, Assignment.arm)
        .join(Assignment, Assignment.site_id == Site.id)
        .where(Assignment.pilot_id == pilot.id)
    ).all()
    retros = list(
        db.session.scalars(select(Retrospective).where(Retrospective.pilot_id == pilot.id))
    )
    adjustments = list(
        db.session.scalars(select(Adjustment).where(Adjustment.pilot_id == pilot.id))
    )
    actions = list(db.session.scalars(select(ActionItem).where(ActionItem.pilot_id == pilot.id)))
    first = pilot.start_date or min((r.date for r in retros), default=None)
    if first is None:
        return Timeline(pilot.id, None, None, [], None, None, None, len(site_rows))
    latest_obs = last_data_day(pilot)  # per-site index probes, not a scan of the window
    if latest_obs is not None and latest_obs < first:
        latest_obs = None
    candidates = [
        latest_obs,
        *(r.date for r in retros),
        *(a.effective_date for a in adjustments),
        *(a.created_on for a in actions),
        *(a.closed_on for a in actions if a.closed_on),
    ]
    last = max((d for d in candidates if d is not None), default=first)
    last = min(max(last, first), today + timedelta(days=DAYS_AHEAD))
    if last < first:
        last = first
    days = {
        first + timedelta(days=i): TimelineDay(
            first + timedelta(days=i), pilot.day_number(first + timedelta(days=i))
        )
        for i in range((last - first).days + 1)
    }
    for retro in retros:
        if retro.date in days:
            days[retro.date].retro = retro
    for adjustment in adjustments:
        if adjustment.effective_date in days:
            days[adjustment.effective_date].adjustments.append(adjustment)
        if adjustment.retro is not None and adjustment.retro.date in days:
            days[adjustment.retro.date].decided.append(adjustment)
    for action in actions:
        if action.created_on in days:
            days[action.created_on].opened.append(action)
        if action.closed_on and action.closed_on in days:
            days[action.closed_on].closed.append(action)

    _data_gaps(pilot, days, site_rows, first, last, today)
    _feedback(pilot, days, first, last)
    if primary is not None:
        _primary_difference(pilot, primary.id, days, first, last)
    return Timeline(
        pilot_id=pilot.id,
        first=first,
        last=last,
        days=[days[d] for d in sorted(days)],
        primary_key=primary.key if primary else None,
        primary_name=metric_label(primary) if primary else None,
        primary_unit=primary.unit if primary else None,
        n_sites=len(site_rows),
    )


def _data_gaps(pilot, days, site_rows, first, last, today) -> None:
    """Sites that sent no observation of any pilot metric on a day (past days only)."""
    metric_ids = select(PilotMetric.metric_id).where(PilotMetric.pilot_id == pilot.id)
    reported = defaultdict(set)
    for day, site_id in db.session.execute(
        select(Observation.date, Observation.site_id)
        .join(
            Assignment,
            (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id),
        )
        .where(
            Observation.date >= first,
            Observation.date <= last,
            Observation.metric_id.in_(metric_ids),
        )
        .distinct()
    ):
        reported[day].add(site_id)
    if not reported:
        return  # no data at all yet: not a gap of individual sites
    latest = max(reported)
    codes = {site_id: code for site_id, code, _arm in site_rows}
    for day, row in days.items():
        if day > latest or day >= today:
            continue  # data for recent days may simply not have arrived yet
        missing = set(codes) - reported.get(day, set())
        row.missing_sites = sorted(codes[i] for i in missing)


def _feedback(pilot, days, first, last) -> None:
    """Responses and strongly negative ones per local day (bucketed here: the time zone
    shift is not portable SQL)."""
    start, end = day_bounds(first, last)
    zone = organisation_zone()  # looked up once, not once per response
    for submitted_at, flagged in db.session.execute(
        select(FeedbackResponse.submitted_at, FeedbackResponse.is_flagged_negative).where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.submitted_at >= start,
            FeedbackResponse.submitted_at < end,
        )
    ):
        row = days.get(local_day(submitted_at, zone))
        if row is not None:
            row.responses += 1
            row.negative += int(bool(flagged))


def _primary_difference(pilot, metric_id, days, first, last) -> None:
    for arm, day, mean in db.session.execute(
        select(Assignment.arm, Observation.date, func.avg(Observation.value))
        .join(
            Assignment,
            (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id),
        )
        .where(
            Observation.metric_id == metric_id,
            Observation.date >= first,
            Observation.date <= last,
        )
        .group_by(Assignment.arm, Observation.date)
    ):
        row = days.get(day)
        if row is None:
            continue
        if arm is Arm.PILOT:
            row.pilot_mean = float(mean)
        else:
            row.control_mean = float(mean)


def timeline_chart_svg(pilot: Pilot, timeline: Timeline, marks, title: str) -> str | None:
    """Daily pilot and control means of the primary metric, adjustments marked, drawn by
    ``app.core.charts.daily_series_svg`` (None when there is nothing to draw)."""
    if all(d.pilot_mean is None and d.control_mean is None for d in timeline.days):
        return None
    # every day of the timeline, so adjustments after the last data day are still marked
    rows = [
        {"date": d.day, "pilot": d.pilot_mean, "control": d.control_mean} for d in timeline.days
    ]
    return daily_series_svg(
        pd.DataFrame(rows),
        start=pilot.start_date,
        end=pilot.end_date,
        adjustments=marks,
        title=title,
        unit=unit_label(timeline.primary_unit),
    )
