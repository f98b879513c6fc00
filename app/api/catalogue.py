"""What an integration may send: the metric keys and the active site codes (a chain has
thousands of sites, so they come a page at a time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.paging import paginate
from app.extensions import db
from app.models import Metric
from app.sites.registry import SiteFilters, site_query


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


#: Sites per page of ``GET /sites`` unless the client asks for another size, and at most.
SITES_PER_PAGE = 500
MAX_SITES_PER_PAGE = 1000


def sites(page: int = 1, per_page: int = SITES_PER_PAGE) -> tuple[list[dict[str, Any]], int]:
    """One page of the active sites, by code, and how many active sites there are."""
    pages = paginate(site_query(SiteFilters(active="active", sort="code")), page, per_page)
    rows = [{"code": s.code, "name": s.name, "region": s.region} for s in pages.items]
    return rows, int(pages.total or 0)
