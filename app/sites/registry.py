"""The site registry: listing with filters, create/edit, export, and a site's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, or_, select

from app.core import clock
from app.core.audit import record
from app.core.frames import SITE_PROFILE
from app.core.labels import SITE_FIELD_LABELS
from app.extensions import db
from app.models import Assignment, Metric, Observation, Pilot, Site, SizeTier, User

#: Editable site fields, in the order of forms, imports and exports.
SITE_FIELDS = ("code", "name", "region", "city", "address", *SITE_PROFILE, "is_active")

#: Digital-readiness bands used by the registry filter (score 0-100).
READINESS_BANDS = {
    "low": (None, 40.0),
    "medium": (40.0, 70.0),
    "high": (70.0, None),
}

SORTABLE = {
    "code": Site.code,
    "name": Site.name,
    "region": Site.region,
    "size_tier": Site.size_tier,
    "staff_count": Site.staff_count,
    "management_score": Site.management_score,
    "digital_readiness": Site.digital_readiness,
    "senior_share": Site.senior_share,
}


@dataclass(frozen=True, slots=True)
class SiteFilters:
    q: str = ""
    region: str = ""
    size_tier: str = ""
    readiness: str = ""
    active: str = "active"  # "active" | "inactive" | "all"
    sort: str = "code"
    direction: str = "asc"

    @classmethod
    def from_args(cls, args: Any) -> SiteFilters:
        sort = args.get("sort", "code")
        return cls(
            q=(args.get("q") or "").strip()[:100],
            region=(args.get("region") or "").strip(),
            size_tier=args.get("size_tier") if args.get("size_tier") in _tier_values() else "",
            readiness=args.get("readiness") if args.get("readiness") in READINESS_BANDS else "",
            active=args.get("active") if args.get("active") in ("inactive", "all") else "active",
            sort=sort if sort in SORTABLE else "code",
            direction="desc" if args.get("direction") == "desc" else "asc",
        )

    def as_args(self, **changes: str) -> dict[str, str]:
        values = {
            "q": self.q,
            "region": self.region,
            "size_tier": self.size_tier,
            "readiness": self.readiness,
            "active": self.active,
            "sort": self.sort,
            "direction": self.direction,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v and not (k == "active" and v == "active")}


def _tier_values() -> set[str]:
    return {t.value for t in SizeTier}


def site_query(filters: SiteFilters):
    query = select(Site)
    if filters.q:
        like = f"%{filters.q.lower()}%"
        query = query.where(
            or_(
                func.lower(Site.code).like(like),
                func.lower(Site.name).like(like),
                func.lower(func.coalesce(Site.city, "")).like(like),
            )
        )
    if filters.region:
        query = query.where(Site.region == filters.region)
    if filters.size_tier:
        query = query.where(Site.size_tier == SizeTier(filters.size_tier))
    if filters.readiness:
        low, high = READINESS_BANDS[filters.readiness]
        if low is not None:
            query = query.where(Site.digital_readiness >= low)
        if high is not None:
            query = query.where(Site.digital_readiness < high)
    if filters.active == "active":
        query = query.where(Site.is_active.is_(True))
    elif filters.active == "inactive":
        query = query.where(Site.is_active.is_(False))
    column = SORTABLE[filters.sort]
    ordered = column.desc() if filters.direction == "desc" else column.asc()
    # NULLs last either way, then code for a stable order
    return query.order_by(column.is_(None), ordered, Site.code)


def list_sites(filters: SiteFilters) -> list[Site]:
    return list(db.session.scalars(site_query(filters)))


def regions() -> list[str]:
    return list(db.session.scalars(select(Site.region).distinct().order_by(Site.region)))


def site_values(site: Site) -> dict[str, Any]:
    values = {name: getattr(site, name) for name in SITE_FIELDS}
    values["size_tier"] = site.size_tier.value if site.size_tier else None
    return values


def apply_site(site: Site | None, data: dict[str, Any], *, by: User | None) -> Site:
    """Create (``site`` None) or update a site from cleaned form data, with an audit event."""
    before = site_values(site) if site is not None else None
    if site is None:
        site = Site(attributes={})
        db.session.add(site)
    for name in SITE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name == "size_tier":
            value = SizeTier(value) if value else SizeTier.MEDIUM
        elif isinstance(value, str):
            value = value.strip() or None
            if name in ("code", "name", "region") and value is None:
                continue
        setattr(site, name, value)
    db.session.flush()
    after = site_values(site)
    if before is None:
        record("site.created", site, by=by, after=after)
    elif before != after:
        changed = [k for k in after if before.get(k) != after.get(k)]
        record(
            "site.updated",
            site,
            by=by,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return site


def export_frame(sites: list[Site]) -> pd.DataFrame:
    """The registry as a table whose headers ``flask sites import`` reads back."""
    extra = sorted({key for s in sites for key in (s.attributes or {})})
    rows = []
    for site in sites:
        row = site_values(site)
        row["is_active"] = "yes" if site.is_active else "no"
        for key in extra:
            row[key] = (site.attributes or {}).get(key)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*SITE_FIELDS, *extra])


def labelled_export_frame(sites: list[Site]) -> pd.DataFrame:
    """:func:`export_frame` headed by the fields' labels in the reader's language (the
    download; the site import recognises them); a site file's own extra columns as named."""
    return export_frame(sites).rename(columns=lambda c: str(SITE_FIELD_LABELS.get(c, c)))


# ---------------------------------------------------------------- a site's history


@dataclass(frozen=True, slots=True)
class MetricCompleteness:
    metric: Metric
    first: date | None
    last: date | None
    days_with_data: int
    days_expected: int

    @property
    def share(self) -> float | None:
        return self.days_with_data / self.days_expected if self.days_expected else None


def active_sites() -> list[Site]:
    """The sites in operation, by code."""
    return list(db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code)))


def pilot_sites(pilot: Pilot) -> list[Site]:
    """The sites taking part in a pilot (either arm), by code."""
    return list(
        db.session.scalars(
            select(Site).join(Assignment).where(Assignment.pilot_id == pilot.id).order_by(Site.code)
        )
    )


def site_pilots(site: Site) -> list[tuple[Pilot, Assignment]]:
    rows = db.session.execute(
        select(Pilot, Assignment)
        .join(Assignment, Assignment.pilot_id == Pilot.id)
        .where(Assignment.site_id == site.id)
        .order_by(Pilot.start_date.desc().nulls_last(), Pilot.id.desc())
    )
    return [(pilot, assignment) for pilot, assignment in rows]


def site_completeness(
    site: Site, *, days: int = 90, today: date | None = None
) -> list[MetricCompleteness]:
    """Per metric: first and last day with data, and days with data in the last ``days``."""
    today = today or clock.today()
    since = today - timedelta(days=days - 1)
    totals = db.session.execute(
        select(
            Observation.metric_id,
            func.min(Observation.date),
            func.max(Observation.date),
        )
        .where(Observation.site_id == site.id)
        .group_by(Observation.metric_id)
    ).all()
    recent = dict(
        db.session.execute(
            select(Observation.metric_id, func.count(Observation.id))
            .where(Observation.site_id == site.id, Observation.date >= since)
            .group_by(Observation.metric_id)
        ).all()
    )
    metrics = {m.id: m for m in db.session.scalars(select(Metric))}
    result = []
    for metric_id, first, last in totals:
        start = max(first, since)
        # expected: every day from the later of (first data, window start) to today
        expected = max(0, (today - start).days + 1) if last >= since else 0
        result.append(
            MetricCompleteness(
                metric=metrics[metric_id],
                first=first,
                last=last,
                days_with_data=int(recent.get(metric_id, 0)),
                days_expected=expected,
            )
        )
    return sorted(result, key=lambda r: r.metric.key)
