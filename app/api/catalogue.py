"""What an integration may send: the metric keys and the active site codes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Metric
from app.sites.registry import SiteFilters, list_sites


def metrics() -> list[dict[str, Any]]:
    """Every metric, by key."""
    return [
        {
            "key": m.key,
            "name": m.name,
            "name_zh": m.name_zh,
            "unit": m.unit,
            "kind": m.kind.value,
            "better_direction": m.better_direction.value,
        }
        for m in db.session.scalars(select(Metric).order_by(Metric.key))
    ]


def sites() -> list[dict[str, Any]]:
    """The active sites, by code."""
    return [
        {"code": s.code, "name": s.name, "region": s.region}
        for s in list_sites(SiteFilters(active="active", sort="code"))
    ]
