"""Reading observations for the pilot dashboard: daily arm means and completeness."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import func, select

from app.core import clock
from app.core.queries import load_sites
from app.extensions import db
from app.models import Adjustment, Arm, Assignment, Metric, Observation, Pilot, Site


def pilot_window(pilot: Pilot, today: date | None = None) -> tuple[date, date] | None:
    """The days the dashboard shows: pre-period start to the planned end (or today)."""
    today = today or clock.today()
    first = pilot.pre_start or pilot.start_date
    if first is None:
        return None
    last = pilot.end_date or today
    return first, max(min(last, today), first)


def daily_arm_means(pilot: Pilot, metric: Metric, window: tuple[date, date]) -> pd.DataFrame:
    """``date, pilot, control``: the mean over each arm's sites of one metric, per day."""
    rows = db.session.execute(
        select(Observation.date, Assignment.arm, func.avg(Observation.value))
        .join(
            Assignment,
            (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id),
        )
        .where(
            Observation.metric_id == metric.id,
            Observation.date >= window[0],
            Observation.date <= window[1],
        )
        .group_by(Observation.date, Assignment.arm)
    ).all()  # averaged in the database: one row per day and arm, not one per site-day
    frame = pd.DataFrame(
        [(day, arm.value, float(mean)) for day, arm, mean in rows],
        columns=["date", "arm", "value"],
    )
    if frame.empty:
        return pd.DataFrame(columns=["date", "pilot", "control"])
    means = frame.pivot_table(index="date", columns="arm", values="value", aggfunc="first")
    means = means.reindex(columns=["pilot", "control"]).reset_index()
    means["date"] = pd.to_datetime(means["date"])
    return means


def chart_marks(pilot: Pilot) -> list[tuple[date, str]]:
    """The pilot's adjustments as ``[(effective_date, title)]``, the marks every daily chart
    draws (``app.core.charts.daily_series_svg(adjustments=…)``)."""
    rows = db.session.execute(
        select(Adjustment.effective_date, Adjustment.title)
        .where(Adjustment.pilot_id == pilot.id)
        .order_by(Adjustment.effective_date, Adjustment.id)
    ).all()
    return [(day, title) for day, title in rows]


#: Sites per page of the completeness grid (a chain's pilot has hundreds, each a row of days).
GRID_SITES_PER_PAGE = 40


@dataclass
class CompletenessGrid:
    """Sites × days: which days have a value of the metric; gaps are past days without."""

    metric: Metric
    days: list[date]
    rows: list[tuple[Site, str, set[date]]] = field(default_factory=list)  # site, arm, days
    today: date = field(default_factory=date.today)
    page: int = 1  # the page of rows shown (the shares and gaps count every row)
    per_page: int = GRID_SITES_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.rows) // self.per_page))

    def page_rows(self) -> list[tuple[Site, str, set[date]]]:
        """The rows of :attr:`page` (clamped to the pages there are)."""
        page = min(max(self.page, 1), self.pages)
        return self.rows[(page - 1) * self.per_page : page * self.per_page]

    def cell(self, present: set[date], day: date) -> str:
        if day in present:
            return "ok"
        return "future" if day > self.today else "gap"

    def share(self, arm: str | None = None) -> float | None:
        past = [d for d in self.days if d <= self.today]
        rows = [r for r in self.rows if arm is None or r[1] == arm]
        expected = len(past) * len(rows)
        if not expected:
            return None
        return sum(len(r[2] & set(past)) for r in rows) / expected

    def gaps(self) -> int:
        past = [d for d in self.days if d <= self.today]
        return sum(len(past) - len(r[2] & set(past)) for r in self.rows)


def completeness_grid(
    pilot: Pilot,
    metric: Metric,
    window: tuple[date, date],
    *,
    site_ids: set[int] | None = None,
    today: date | None = None,
    page: int = 1,
) -> CompletenessGrid:
    today = today or clock.today()
    first, last = window
    end = pilot.end_date or last
    days = [first + timedelta(days=i) for i in range((end - first).days + 1)]
    _sites = load_sites(a.site_id for a in pilot.assignments)  # one query, not one per row
    assignments = sorted(
        (a for a in pilot.assignments if site_ids is None or a.site_id in site_ids),
        key=lambda a: (a.arm is not Arm.PILOT, a.site.code),
    )
    present: dict[int, set[date]] = {a.site_id: set() for a in assignments}
    if present:
        rows = db.session.execute(
            select(Observation.site_id, Observation.date).where(
                Observation.metric_id == metric.id,
                Observation.site_id.in_(list(present)),
                Observation.date >= first,
                Observation.date <= end,
            )
        )
        for site_id, day in rows:
            present[site_id].add(day)
    grid = CompletenessGrid(metric=metric, days=days, today=today, page=page)
    grid.rows = [(a.site, a.arm.value, present[a.site_id]) for a in assignments]
    return grid


def last_data_day(pilot: Pilot) -> date | None:
    """The latest day with any value at any of the pilot's sites: the latest day of each site
    (a short backward read of the (site, date, metric) index), then the latest of those."""
    latest = (
        select(func.max(Observation.date))
        .where(Observation.site_id == Assignment.site_id)
        .correlate(Assignment)
        .scalar_subquery()
    )
    per_site = select(latest.label("day")).where(Assignment.pilot_id == pilot.id).subquery()
    return db.session.scalar(select(func.max(per_site.c.day)))
