"""The daily data brief shown when a retro opens, computed from the database.

The retro held on day ``D`` reviews the previous day, ``D - 1`` (the *data day*), and
compares it with the day before that (``D - 2``) and with the pilot's pre-period. Every
figure comes from a handful of grouped SQL queries (no query per site), so the brief of a
40-site pilot takes a few tens of milliseconds (see docs/retrospectives.md).

Feedback days are the organisation's calendar days (``BABEL_DEFAULT_TIMEZONE``, e.g.
Asia/Shanghai), as the feedback area counts them; ``submitted_at`` is stored in UTC.
A source without data yields a section with ``available=False`` and a note; the brief
never fails because a source is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from app.core.clock import day_bounds
from app.core.labels import category_key
from app.extensions import db
from app.feedback.analytics import top_themes
from app.models import (
    Arm,
    Assignment,
    Audience,
    Direction,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    MetricRole,
    Observation,
    Pilot,
    PilotMetric,
    QuestionType,
    Retrospective,
    Site,
)
from app.retros.meetings import CarriedAction, carried_actions

#: The rating question that stands for "satisfaction", by audience, when the form has it.
SATISFACTION_KEYS = {Audience.CUSTOMER: "overall", Audience.STAFF: "attitude"}
#: A rating of at least this (on 1-5) counts as satisfied (top-two-box).
SATISFIED_FROM = 4
#: The segment the brief singles out (``FeedbackResponse.segment``).
SENIOR_SEGMENT = "60+"
#: "New" negative comments reach back at most this many days (after a gap in retros).
MAX_NEW_DAYS = 14
MAX_COMMENTS = 20
TOP_THEMES = 5


# ----------------------------------------------------------------- result types


@dataclass(frozen=True, slots=True)
class MetricLine:
    """One metric on the data day: pilot vs control, vs the day before and the pre-period.

    Values are means over the sites that reported (site-days for the pre-period).
    """

    key: str
    name: str
    name_zh: str | None
    unit: str
    role: str  # "primary" | "guardrail"
    direction: str  # "increase" | "decrease"
    pilot: float | None
    control: float | None
    pilot_prev: float | None
    control_prev: float | None
    pilot_pre: float | None
    control_pre: float | None
    n_pilot: int
    n_control: int

    @property
    def difference(self) -> float | None:
        """Pilot minus control on the data day."""
        return _minus(self.pilot, self.control)

    @property
    def difference_prev(self) -> float | None:
        return _minus(self.pilot_prev, self.control_prev)

    @property
    def difference_change(self) -> float | None:
        """How the pilot − control difference moved since the day before."""
        return _minus(self.difference, self.difference_prev)

    @property
    def pilot_change(self) -> float | None:
        return _minus(self.pilot, self.pilot_prev)

    @property
    def control_change(self) -> float | None:
        return _minus(self.control, self.control_prev)

    @property
    def pilot_vs_pre(self) -> float | None:
        return _minus(self.pilot, self.pilot_pre)

    @property
    def control_vs_pre(self) -> float | None:
        return _minus(self.control, self.control_pre)

    @property
    def did_vs_pre(self) -> float | None:
        """(pilot − its pre-period) − (control − its pre-period): a one-day, unadjusted DiD."""
        return _minus(self.pilot_vs_pre, self.control_vs_pre)

    def tone(self, value: float | None) -> str | None:
        """``"good"`` / ``"bad"`` for a difference in the metric's better direction."""
        if value is None or value == 0:
            return None
        better = value > 0 if self.direction == "increase" else value < 0
        return "good" if better else "bad"

    def display_name(self, locale: str | None) -> str:
        if locale and locale.startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """Ratings of the satisfaction question for one group (audience or segment) and arm."""

    group: str
    arm: str
    n: int
    mean: float | None
    satisfied_share: float | None


@dataclass(frozen=True, slots=True)
class Comment:
    response_id: int
    site_code: str
    site_name: str
    arm: str | None
    audience: str
    segment: str | None
    submitted_at: datetime
    rating: float | None
    text: str


@dataclass(frozen=True, slots=True)
class SiteGap:
    site_id: int
    code: str
    name: str
    arm: str


@dataclass(frozen=True, slots=True)
class MetricsSection:
    available: bool
    lines: list[MetricLine] = field(default_factory=list)
    note: str | None = None
    latest_day_with_data: date | None = None


@dataclass(frozen=True, slots=True)
class FeedbackSection:
    available: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # audience -> arm -> n
    by_audience: list[Satisfaction] = field(default_factory=list)
    by_segment: list[Satisfaction] = field(default_factory=list)
    negative_comments: list[Comment] = field(default_factory=list)
    negative_total: int = 0
    new_since: date | None = None
    themes: list[tuple[str, int]] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    note: str | None = None

    @property
    def total(self) -> int:
        return sum(sum(arms.values()) for arms in self.counts.values())

    def senior(self, arm: str) -> Satisfaction | None:
        return next(
            (s for s in self.by_segment if s.group == SENIOR_SEGMENT and s.arm == arm), None
        )


@dataclass(frozen=True, slots=True)
class DailyBrief:
    pilot_id: int
    retro_day: date
    data_day: date
    previous_day: date
    metrics: MetricsSection
    feedback: FeedbackSection
    sites_without_data: list[SiteGap]
    sites_without_feedback: list[SiteGap]
    n_sites: int
    actions: list[CarriedAction]

    @property
    def overdue_actions(self) -> list[CarriedAction]:
        return [a for a in self.actions if a.overdue]

    @property
    def primary(self) -> MetricLine | None:
        return next((m for m in self.metrics.lines if m.role == "primary"), None)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# ----------------------------------------------------------------- the brief


def daily_brief(pilot: Pilot, retro_day: date) -> DailyBrief:
    """Everything the retro of ``retro_day`` looks at before anyone types."""
    data_day = retro_day - timedelta(days=1)
    previous_day = data_day - timedelta(days=1)
    sites = _pilot_sites(pilot)
    metrics = _metrics_section(pilot, data_day, previous_day)
    reported = _sites_with_observations(pilot, data_day)
    feedback, with_feedback = _feedback_section(pilot, retro_day, data_day, sites)
    no_data = [g for g in sites.values() if g.site_id not in reported] if metrics.lines else []
    no_feedback = (
        [g for g in sites.values() if g.site_id not in with_feedback] if feedback.available else []
    )
    return DailyBrief(
        pilot_id=pilot.id,
        retro_day=retro_day,
        data_day=data_day,
        previous_day=previous_day,
        metrics=metrics,
        feedback=feedback,
        sites_without_data=sorted(no_data, key=lambda g: (g.arm != "pilot", g.code)),
        sites_without_feedback=sorted(no_feedback, key=lambda g: (g.arm != "pilot", g.code)),
        n_sites=len(sites),
        actions=carried_actions(pilot, retro_day),
    )


def _pilot_sites(pilot: Pilot) -> dict[int, SiteGap]:
    rows = db.session.execute(
        select(Site.id, Site.code, Site.name, Assignment.arm)
        .join(Assignment, Assignment.site_id == Site.id)
        .where(Assignment.pilot_id == pilot.id)
    ).all()
    return {r.id: SiteGap(r.id, r.code, r.name, r.arm.value) for r in rows}


def _metric_links(pilot: Pilot) -> list[PilotMetric]:
    links = db.session.scalars(
        select(PilotMetric)
        .where(
            PilotMetric.pilot_id == pilot.id,
            PilotMetric.role.in_([MetricRole.PRIMARY, MetricRole.GUARDRAIL]),
        )
        .options(selectinload(PilotMetric.metric))
        .order_by(PilotMetric.role != MetricRole.PRIMARY, PilotMetric.position)
    ).all()
    return list(links)


def _metrics_section(pilot: Pilot, data_day: date, previous_day: date) -> MetricsSection:
    links = _metric_links(pilot)
    if not links:
        return MetricsSection(False, note="no_metrics")
    metric_ids = [link.metric_id for link in links]
    arm_join = (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id)
    daily = db.session.execute(
        select(
            Assignment.arm,
            Observation.metric_id,
            Observation.date,
            func.avg(Observation.value),
            func.count(Observation.id),
        )
        .join(Assignment, arm_join)
        .where(
            Observation.metric_id.in_(metric_ids),
            Observation.date.in_([data_day, previous_day]),
        )
        .group_by(Assignment.arm, Observation.metric_id, Observation.date)
    ).all()
    day_means = {(r[0], r[1], r[2]): (float(r[3]), int(r[4])) for r in daily}
    pre_means: dict[tuple[Arm, int], float] = {}
    if pilot.pre_start is not None and pilot.start_date is not None:
        pre = db.session.execute(
            select(Assignment.arm, Observation.metric_id, func.avg(Observation.value))
            .join(Assignment, arm_join)
            .where(
                Observation.metric_id.in_(metric_ids),
                Observation.date >= pilot.pre_start,
                Observation.date < pilot.start_date,
            )
            .group_by(Assignment.arm, Observation.metric_id)
        ).all()
        pre_means = {(r[0], r[1]): float(r[2]) for r in pre}

    def mean(arm: Arm, metric_id: int, day: date) -> tuple[float | None, int]:
        found = day_means.get((arm, metric_id, day))
        return (found[0], found[1]) if found else (None, 0)

    lines = []
    for link in links:
        metric = link.metric
        pilot_now, n_pilot = mean(Arm.PILOT, metric.id, data_day)
        control_now, n_control = mean(Arm.CONTROL, metric.id, data_day)
        lines.append(
            MetricLine(
                key=metric.key,
                name=metric.name,
                name_zh=metric.name_zh,
                unit=metric.unit,
                role=link.role.value,
                direction="decrease"
                if metric.better_direction is Direction.DECREASE
                else "increase",
                pilot=pilot_now,
                control=control_now,
                pilot_prev=mean(Arm.PILOT, metric.id, previous_day)[0],
                control_prev=mean(Arm.CONTROL, metric.id, previous_day)[0],
                pilot_pre=pre_means.get((Arm.PILOT, metric.id)),
                control_pre=pre_means.get((Arm.CONTROL, metric.id)),
                n_pilot=n_pilot,
                n_control=n_control,
            )
        )
    has_day = any(line.n_pilot or line.n_control for line in lines)
    latest = None
    if not has_day:
        latest = db.session.scalar(
            select(func.max(Observation.date))
            .join(Assignment, arm_join)
            .where(Observation.metric_id.in_(metric_ids), Observation.date <= data_day)
        )
    return MetricsSection(
        available=has_day,
        lines=lines,
        note=None if has_day else "no_data_for_day",
        latest_day_with_data=latest,
    )


def _sites_with_observations(pilot: Pilot, day: date) -> set[int]:
    metric_ids = select(PilotMetric.metric_id).where(PilotMetric.pilot_id == pilot.id)
    rows = db.session.scalars(
        select(Observation.site_id)
        .join(
            Assignment,
            (Assignment.site_id == Observation.site_id) & (Assignment.pilot_id == pilot.id),
        )
        .where(Observation.date == day, Observation.metric_id.in_(metric_ids))
        .distinct()
    ).all()
    return set(rows)


def _satisfaction_keys(pilot: Pilot) -> dict[Audience, str]:
    """Per audience, the preferred satisfaction key, else the form's first rating question."""
    forms = db.session.scalars(
        select(FeedbackForm)
        .where(FeedbackForm.pilot_id == pilot.id)
        .order_by(FeedbackForm.is_current.desc(), FeedbackForm.version.desc())
    ).all()
    keys: dict[Audience, str] = {}
    for form in forms:
        if form.audience in keys:
            continue
        ratings = [
            q.get("key")
            for q in form.questions or []
            if q.get("type") == QuestionType.RATING.value and q.get("key")
        ]
        preferred = SATISFACTION_KEYS.get(form.audience)
        if preferred in ratings:
            keys[form.audience] = preferred
        elif ratings:
            keys[form.audience] = ratings[0]
    for audience, key in SATISFACTION_KEYS.items():
        keys.setdefault(audience, key)  # responses without a stored form still count
    return keys


def _feedback_section(
    pilot: Pilot, retro_day: date, data_day: date, sites: dict[int, SiteGap]
) -> tuple[FeedbackSection, set[int]]:
    any_feedback = db.session.scalar(
        select(FeedbackResponse.id).where(FeedbackResponse.pilot_id == pilot.id).limit(1)
    )
    if any_feedback is None:
        return FeedbackSection(False, note="no_feedback_yet"), set()
    start, end = day_bounds(data_day)
    in_day = (
        (FeedbackResponse.pilot_id == pilot.id)
        & (FeedbackResponse.submitted_at >= start)
        & (FeedbackResponse.submitted_at < end)
    )
    arm_join = (Assignment.site_id == FeedbackResponse.site_id) & (Assignment.pilot_id == pilot.id)
    counts, with_feedback = _response_counts(in_day, arm_join)
    keys = _satisfaction_keys(pilot)
    by_audience, by_segment = _satisfaction(in_day, arm_join, keys)
    new_since, negative_filter = _new_negative_filter(pilot, retro_day, data_day)
    negative_total = (
        db.session.scalar(select(func.count(FeedbackResponse.id)).where(negative_filter)) or 0
    )
    rating_keys = set(keys.values())
    section = FeedbackSection(
        available=True,
        counts=counts,
        by_audience=by_audience,
        by_segment=sorted(by_segment, key=lambda s: (category_key(s.group), s.arm)),
        negative_comments=_comments(negative_filter, sites, rating_keys, MAX_COMMENTS),
        negative_total=int(negative_total),
        new_since=new_since,
        themes=_top_themes(pilot, data_day),
        comments=_comments(in_day, sites, rating_keys, 50),
        note=None if counts else "no_feedback_for_day",
    )
    return section, with_feedback


def _response_counts(in_day, arm_join) -> tuple[dict[str, dict[str, int]], set[int]]:
    """Responses of the day by audience and arm, and which sites answered at all."""
    counts: dict[str, dict[str, int]] = {}
    with_feedback: set[int] = set()
    for audience, arm, site_id, n in db.session.execute(
        select(
            FeedbackResponse.audience,
            Assignment.arm,
            FeedbackResponse.site_id,
            func.count(FeedbackResponse.id),
        )
        .outerjoin(Assignment, arm_join)
        .where(in_day)
        .group_by(FeedbackResponse.audience, Assignment.arm, FeedbackResponse.site_id)
    ):
        arm_key = arm.value if arm is not None else "other"
        per_arm = counts.setdefault(audience.value, {})
        per_arm[arm_key] = per_arm.get(arm_key, 0) + int(n)
        with_feedback.add(site_id)
    return counts, with_feedback


def _satisfaction(
    in_day, arm_join, keys: dict[Audience, str]
) -> tuple[list[Satisfaction], list[Satisfaction]]:
    """Satisfaction by audience, and by segment for customers, in one grouped query."""
    key_match = case(
        *[
            ((FeedbackResponse.audience == aud) & (FeedbackAnswer.question_key == key), 1)
            for aud, key in keys.items()
        ],
        else_=0,
    )
    satisfied = func.sum(case((FeedbackAnswer.value_num >= SATISFIED_FROM, 1), else_=0))
    rows = db.session.execute(
        select(
            FeedbackResponse.audience,
            FeedbackResponse.segment,
            Assignment.arm,
            func.count(FeedbackAnswer.id),
            func.avg(FeedbackAnswer.value_num),
            satisfied,
        )
        .join(FeedbackAnswer, FeedbackAnswer.response_id == FeedbackResponse.id)
        .join(Assignment, arm_join)
        .where(in_day, key_match == 1, FeedbackAnswer.value_num.is_not(None))
        .group_by(FeedbackResponse.audience, FeedbackResponse.segment, Assignment.arm)
    ).all()
    by_audience = _combine(
        (audience.value, arm.value, n, mean, sat) for audience, _seg, arm, n, mean, sat in rows
    )
    by_segment = _combine(
        (segment or "unknown", arm.value, n, mean, sat)
        for audience, segment, arm, n, mean, sat in rows
        if audience is Audience.CUSTOMER
    )
    return by_audience, by_segment


def _new_negative_filter(pilot: Pilot, retro_day: date, data_day: date) -> tuple[date, Any]:
    """Strongly negative responses new since the previous retro's data day (at most
    ``MAX_NEW_DAYS`` back): the first day counted, and the filter."""
    previous = db.session.scalar(
        select(func.max(Retrospective.date)).where(
            Retrospective.pilot_id == pilot.id, Retrospective.date < retro_day
        )
    )
    new_since = data_day
    if previous is not None and previous < data_day:
        new_since = max(previous, data_day - timedelta(days=MAX_NEW_DAYS - 1))
    new_start, new_end = day_bounds(new_since, data_day)
    negative_filter = (
        (FeedbackResponse.pilot_id == pilot.id)
        & FeedbackResponse.is_flagged_negative
        & (FeedbackResponse.submitted_at >= new_start)
        & (FeedbackResponse.submitted_at < new_end)
    )
    return new_since, negative_filter


def _top_themes(pilot: Pilot, day: date) -> list[tuple[str, int]]:
    """Top comment themes of the day (readable labels), as the feedback area counts them."""
    rows = top_themes(pilot, day, day, limit=TOP_THEMES)
    return [(str(row["label"]), int(row["count"])) for row in rows]


def _combine(rows) -> list[Satisfaction]:
    """Pool grouped rows (n, mean, satisfied count) into one Satisfaction per (group, arm)."""
    pooled: dict[tuple[str, str], list[float]] = {}
    for group, arm, n, mean, sat in rows:
        n = int(n or 0)
        if not n:
            continue
        acc = pooled.setdefault((group, arm), [0, 0.0, 0])
        acc[0] += n
        acc[1] += float(mean) * n
        acc[2] += int(sat or 0)
    return [
        Satisfaction(group, arm, int(n), total / n, sat / n)
        for (group, arm), (n, total, sat) in sorted(pooled.items())
    ]


def _comments(where, sites: dict[int, SiteGap], keys: set[str], limit: int) -> list[Comment]:
    """Free-text answers of the responses matching ``where``, newest first, with the rating."""
    text_rows = db.session.execute(
        select(
            FeedbackResponse.id,
            FeedbackResponse.site_id,
            FeedbackResponse.audience,
            FeedbackResponse.segment,
            FeedbackResponse.submitted_at,
            FeedbackAnswer.value_text,
        )
        .join(FeedbackAnswer, FeedbackAnswer.response_id == FeedbackResponse.id)
        .where(
            where,
            FeedbackAnswer.question_type == QuestionType.TEXT,
            FeedbackAnswer.value_text.is_not(None),
            FeedbackAnswer.value_text != "",
        )
        .order_by(FeedbackResponse.submitted_at.desc(), FeedbackResponse.id.desc())
        .limit(limit)
    ).all()
    if not text_rows:
        return []
    ids = [r[0] for r in text_rows]
    ratings = dict(
        db.session.execute(
            select(FeedbackAnswer.response_id, func.max(FeedbackAnswer.value_num))
            .where(FeedbackAnswer.response_id.in_(ids), FeedbackAnswer.question_key.in_(keys))
            .group_by(FeedbackAnswer.response_id)
        ).all()
    )
    missing = {r[1] for r in text_rows} - set(sites)
    extra = {}
    if missing:  # a response from a site no longer assigned to the pilot
        extra = {
            s.id: SiteGap(s.id, s.code, s.name, "")
            for s in db.session.scalars(select(Site).where(Site.id.in_(missing)))
        }
    out = []
    for response_id, site_id, audience, segment, submitted_at, text in text_rows:
        site = sites.get(site_id) or extra[site_id]
        rating = ratings.get(response_id)
        out.append(
            Comment(
                response_id=response_id,
                site_code=site.code,
                site_name=site.name,
                arm=site.arm or None,
                audience=audience.value,
                segment=segment,
                submitted_at=submitted_at,
                rating=float(rating) if rating is not None else None,
                text=text,
            )
        )
    return out
