"""The demo's metrics: a row of the catalogue stored as a ``Metric``."""

from __future__ import annotations

from sqlalchemy import select

from app.demo.catalogue import METRIC_BOUNDS
from app.extensions import db
from app.models import Direction, Metric, MetricKind


def add_metric(
    key: str,
    name: str,
    name_zh: str,
    unit: str,
    kind: str,
    better: str,
    description: str | None = None,
) -> Metric:
    """A new metric from a row of the demo catalogue, with its plausible bounds, added to the
    session."""
    metric = Metric(key=key, name=name, name_zh=name_zh, unit=unit, description=description)
    metric.min_value, metric.max_value = METRIC_BOUNDS.get(key, (None, None))
    metric.kind = MetricKind(kind)
    metric.better_direction = Direction(better)
    db.session.add(metric)
    return metric


def existing_or_new_metric(key: str, *row: str) -> Metric:
    """The metric ``key`` if the database has it, else a new one from the catalogue ``row``."""
    existing = db.session.scalar(select(Metric).where(Metric.key == key))
    return existing or add_metric(key, *row)
