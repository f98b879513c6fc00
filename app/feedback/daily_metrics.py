"""Daily feedback rates per site, written as ordinary metric observations.

The dashboard, the retro brief and the significance report then see feedback like any other
metric. Each metric is computed per (site, local day) from that day's responses; a day without
answers has no observation (not a zero). Proportions carry the number of answers as the
``denominator`` so an analysis can weight by it.

Metrics (``source="feedback"``, created when missing):

=================  ============================================================  ===========
key                value                                                          kind
=================  ============================================================  ===========
``csat``           share of customers rating the headline question 4-5           proportion
``senior_csat``    the same among customers aged 60+                              proportion
``avg_rating``     mean customer headline rating (1-5)                            continuous
``nps``            customer Net Promoter Score (-100..100)                        continuous
``staff_attitude`` mean staff answer to ``attitude`` (1-5)                        continuous
=================  ============================================================  ===========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import select

from app.core import clock
from app.extensions import db
from app.feedback.analytics import SENIOR_SEGMENT, responses_frame
from app.feedback.questionnaires import current_form, headline_key
from app.models import (
    Audience,
    Direction,
    ImportBatch,
    Metric,
    MetricKind,
    Observation,
    ObservationRevision,
    Pilot,
)

SOURCE = "feedback"


@dataclass(frozen=True, slots=True)
class FeedbackMetric:
    key: str
    name: str
    name_zh: str
    unit: str
    kind: MetricKind
    audience: Audience
    question: str | None  # None: the form's headline rating question
    segment: str | None
    value: Callable[[pd.Series], float]
    description: str


def _share_4_5(values: pd.Series) -> float:
    return float((values >= 4).mean())


def _mean(values: pd.Series) -> float:
    return float(values.mean())


def _nps(values: pd.Series) -> float:
    return float(100 * ((values >= 9).mean() - (values <= 6).mean()))


FEEDBACK_METRICS = (
    FeedbackMetric(
        "csat", "Customer satisfaction (CSAT)", "顾客满意度（CSAT）", "share",
        MetricKind.PROPORTION, Audience.CUSTOMER, None, None, _share_4_5,
        "Share of customer answers rating the headline question 4 or 5, per site and day",
    ),
    FeedbackMetric(
        "senior_csat", "Seniors' satisfaction (60+)", "老年顾客满意度（60岁及以上）", "share",
        MetricKind.PROPORTION, Audience.CUSTOMER, None, SENIOR_SEGMENT, _share_4_5,
        "CSAT among customers who gave their age as 60 or over, per site and day",
    ),
    FeedbackMetric(
        "avg_rating", "Average customer rating", "顾客平均评分", "1-5",
        MetricKind.CONTINUOUS, Audience.CUSTOMER, None, None, _mean,
        "Mean customer rating of the headline question, per site and day",
    ),
    FeedbackMetric(
        "nps", "Net Promoter Score", "净推荐值", "points",
        MetricKind.CONTINUOUS, Audience.CUSTOMER, "recommend", None, _nps,
        "Customer NPS (share 9-10 minus share 0-6, x100), per site and day",
    ),
    FeedbackMetric(
        "staff_attitude", "Staff attitude to the change", "员工对改变的态度", "1-5",
        MetricKind.CONTINUOUS, Audience.STAFF, "attitude", None, _mean,
        "Mean staff answer to the attitude question (1-5), per site and day",
    ),
)  # fmt: skip


class MetricConflict(ValueError):
    """A metric key is taken by a metric from another source."""


def ensure_metrics() -> dict[str, Metric]:
    """The feedback metrics, created when missing; a key owned by another source is refused."""
    found = {
        m.key: m
        for m in db.session.scalars(
            select(Metric).where(Metric.key.in_([d.key for d in FEEDBACK_METRICS]))
        )
    }
    out = {}
    for spec in FEEDBACK_METRICS:
        metric = found.get(spec.key)
        if metric is None:
            metric = Metric(
                key=spec.key,
                name=spec.name,
                name_zh=spec.name_zh,
                unit=spec.unit,
                kind=spec.kind,
                better_direction=Direction.INCREASE,
                description=spec.description,
                source=SOURCE,
            )
            db.session.add(metric)
        elif metric.source != SOURCE:
            raise MetricConflict(
                f"metric {spec.key!r} exists with source {metric.source!r}; "
                "rename it before syncing feedback metrics"
            )
        out[spec.key] = metric
    db.session.flush()
    return out


def daily_values(pilot: Pilot, spec: FeedbackMetric, start: date, end: date) -> pd.DataFrame:
    """``site_pk, date, value, n`` for one metric over local days ``start``..``end``."""
    key = spec.question
    if key is None:
        form = current_form(pilot.id, spec.audience)
        key = headline_key(form) if form is not None else None
    if key is None:
        return pd.DataFrame(columns=["site_pk", "date", "value", "n"])
    frame = responses_frame(pilot, key, audience=spec.audience, start=start, end=end)
    frame = frame.dropna(subset=["value"])
    if spec.segment is not None:
        frame = frame[frame["segment"] == spec.segment]
    if frame.empty:
        return pd.DataFrame(columns=["site_pk", "date", "value", "n"])
    grouped = frame.groupby(["site_pk", "date"])["value"]
    out = grouped.apply(spec.value).rename("value").to_frame()
    out["n"] = grouped.size()
    return out.reset_index()


@dataclass(frozen=True, slots=True)
class SyncResult:
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    start: date | None
    end: date | None

    def summary(self) -> str:
        return (
            f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} removed ({self.start} to {self.end})"
        )


def sync_pilot_metrics(
    pilot: Pilot, start: date | None = None, end: date | None = None, *, today: date | None = None
) -> SyncResult:
    """Upsert the daily feedback observations of the pilot's sites from ``start`` to ``end``.

    Defaults: from the pre-period start (or the start) to the planned end or today, whichever
    is earlier. Changed values keep their history (``ObservationRevision``); a (site, day)
    whose answers were all removed loses its observation. Idempotent.
    """
    today = today or clock.today()
    start = start or pilot.pre_start or pilot.start_date
    end = end or min(d for d in (pilot.end_date, today) if d is not None)
    if start is None or end is None or end < start:
        return SyncResult(0, 0, 0, 0, start, end)
    metrics = ensure_metrics()
    site_ids = [a.site_id for a in pilot.assignments]
    batch = ImportBatch(kind="feedback_metrics", pilot_id=pilot.id, filename=None)
    db.session.add(batch)
    db.session.flush()
    inserted = updated = unchanged = deleted = 0
    for spec in FEEDBACK_METRICS:
        metric = metrics[spec.key]
        values = daily_values(pilot, spec, start, end)
        wanted = {
            (int(r.site_pk), r.date): (float(r.value), float(r.n))
            for r in values.itertuples(index=False)
        }
        existing = {
            (o.site_id, o.date): o
            for o in db.session.scalars(
                select(Observation).where(
                    Observation.metric_id == metric.id,
                    Observation.site_id.in_(site_ids),
                    Observation.date >= start,
                    Observation.date <= end,
                )
            )
        }
        for (site_id, day), (value, n) in wanted.items():
            obs = existing.pop((site_id, day), None)
            if obs is None:
                db.session.add(
                    Observation(
                        site_id=site_id,
                        metric_id=metric.id,
                        date=day,
                        value=value,
                        denominator=n,
                        batch_id=batch.id,
                    )
                )
                inserted += 1
            elif abs(obs.value - value) > 1e-12 or obs.denominator != n:
                if abs(obs.value - value) > 1e-12:
                    db.session.add(
                        ObservationRevision(
                            observation_id=obs.id,
                            old_value=obs.value,
                            new_value=value,
                            batch_id=batch.id,
                        )
                    )
                obs.value, obs.denominator, obs.batch_id = value, n, batch.id
                updated += 1
            else:
                unchanged += 1
        for obs in existing.values():
            db.session.delete(obs)
            deleted += 1
    batch.rows_inserted, batch.rows_updated, batch.rows_unchanged = inserted, updated, unchanged
    db.session.flush()
    return SyncResult(inserted, updated, unchanged, deleted, start, end)


def sync_all(today: date | None = None) -> dict[int, SyncResult]:
    """Sync every pilot that has feedback forms (used by ``flask feedback sync-metrics``)."""
    from app.models import FeedbackForm

    pilot_ids = sorted(set(db.session.scalars(select(FeedbackForm.pilot_id))))
    return {pid: sync_pilot_metrics(db.session.get(Pilot, pid), today=today) for pid in pilot_ids}


def metric_window(pilot: Pilot, today: date) -> tuple[date, date] | None:
    start = pilot.pre_start or pilot.start_date
    if start is None:
        return None
    end = min(d for d in (pilot.end_date, today) if d is not None)
    return (start, end) if end >= start else None


__all__ = [
    "FEEDBACK_METRICS",
    "MetricConflict",
    "SyncResult",
    "daily_values",
    "ensure_metrics",
    "metric_window",
    "sync_all",
    "sync_pilot_metrics",
]
