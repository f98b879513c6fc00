"""The one bridge between the database and ``analysis/``: ORM rows in, tidy frames out.

Site identifiers in every frame are site *codes* (stable, readable, what analysts see in
exported bundles). Nothing else in ``app/`` builds analysis inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select

from app.core import rawsql
from app.extensions import db
from app.models import Assignment, Direction, Metric, MetricRole, Observation, Pilot, Site

#: What describes a site besides where it is: its size tier, staff and scores.
SITE_PROFILE = (
    "size_tier",
    "staff_count",
    "management_score",
    "digital_readiness",
    "senior_share",
    "daily_orders",
)
SITE_ATTRIBUTES = ("region", *SITE_PROFILE)
OBSERVATION_COLUMNS = ["site_id", "date", "metric", "value"]


def observations_frame(
    site_ids: Iterable[int] | None = None,
    metric_keys: Iterable[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """Long observations ``site_id, date, metric, value`` (site codes, datetime64 dates),
    sorted by site, date and metric.

    Read through the driver (ids only, no joins) and labelled with the few site codes and
    metric keys afterwards: about 8× faster than building a SQLAlchemy row per observation.
    """
    codes = {sid: code for sid, code in db.session.execute(select(Site.id, Site.code))}
    keys = {mid: key for mid, key in db.session.execute(select(Metric.id, Metric.key))}
    table = Observation.__table__
    query = select(table.c.site_id, table.c.date, table.c.metric_id, table.c.value)
    if site_ids is not None:
        wanted = sorted({int(s) for s in site_ids})
        if not wanted:
            return _empty_observations()
        query = query.where(table.c.site_id.in_(wanted))
    if metric_keys is not None:
        wanted_keys = set(metric_keys)
        ids = sorted(i for i, key in keys.items() if key in wanted_keys)
        if not ids:
            return _empty_observations()
        query = query.where(table.c.metric_id.in_(ids))
    if start is not None:
        query = query.where(table.c.date >= start)
    if end is not None:
        query = query.where(table.c.date <= end)
    sql, params = rawsql.driver_sql(query)
    cursor = rawsql.raw_connection().cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return _empty_observations()
    raw = pd.DataFrame(rows, columns=["site", "date", "metric_id", "value"])
    frame = pd.DataFrame(
        {
            "site_id": raw["site"].map(codes).astype(str),
            "date": pd.to_datetime(raw["date"]).astype("datetime64[s]"),
            "metric": raw["metric_id"].map(keys).astype(str),
            "value": raw["value"].astype(float),
        }
    )
    return frame.sort_values(["site_id", "date", "metric"], ignore_index=True)


def _empty_observations() -> pd.DataFrame:
    frame = pd.DataFrame(columns=OBSERVATION_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"])
    frame["value"] = frame["value"].astype(float)
    return frame


def _site_row(site: Site) -> dict[str, Any]:
    row: dict[str, Any] = {"site_id": site.code}
    for name in SITE_ATTRIBUTES:
        value = getattr(site, name)
        row[name] = value.value if hasattr(value, "value") else value
    return row


def sites_frame(sites: Iterable[Site] | None = None) -> pd.DataFrame:
    """Site attributes, one row per site (all active sites by default)."""
    if sites is None:
        sites = db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code))
    rows = [_site_row(site) for site in sites]
    return pd.DataFrame(rows, columns=["site_id", *SITE_ATTRIBUTES])


def pilot_sites_frame(pilot: Pilot) -> pd.DataFrame:
    """The pilot's sites with their ``arm`` (pilot / control) and ``stratum``."""
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.pilot_id == pilot.id).join(Site).order_by(Site.code)
    ).all()
    rows = []
    for assignment in assignments:
        row = _site_row(assignment.site)
        row["arm"] = assignment.arm.value
        row["stratum"] = assignment.stratum
        rows.append(row)
    return pd.DataFrame(rows, columns=["site_id", "arm", "stratum", *SITE_ATTRIBUTES])


@dataclass(frozen=True, slots=True)
class PilotInputs:
    """Everything ``analysis.compare`` needs for a pilot's pre-registered analysis."""

    observations: pd.DataFrame
    sites: pd.DataFrame
    options: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        return data_fingerprint(self.observations, self.sites)


def pilot_inputs(pilot: Pilot, end: date | None = None) -> PilotInputs:
    """Observations from the pre-period start to ``end`` (default: the pilot's end)."""
    links = list(pilot.metric_links)
    keys = [link.metric.key for link in links]
    sites = pilot_sites_frame(pilot)
    site_ids = [a.site_id for a in pilot.assignments]
    last = end or pilot.end_date
    observations = observations_frame(site_ids, keys, pilot.pre_start, last)
    primary = next((lk.metric.key for lk in links if lk.role is MetricRole.PRIMARY), None)
    guardrails = [lk.metric.key for lk in links if lk.role is MetricRole.GUARDRAIL]
    min_effect = {lk.metric.key: lk.min_effect for lk in links if lk.min_effect is not None}
    if primary and pilot.min_effect is not None and primary not in min_effect:
        min_effect[primary] = pilot.min_effect
    options = {
        "start": pilot.start_date,
        "end": last,
        "metrics": keys,
        "primary": primary,
        "guardrails": guardrails,
        "alpha": pilot.alpha,
        "min_effect": min_effect or None,
        "margins": {lk.metric.key: lk.margin for lk in links if lk.margin is not None} or None,
        "directions": {
            lk.metric.key: "decrease"
            if lk.metric.better_direction is Direction.DECREASE
            else "increase"
            for lk in links
        },
        "strata": "stratum" if sites["stratum"].notna().any() else None,
    }
    return PilotInputs(observations, sites, options)


def data_fingerprint(observations: pd.DataFrame, sites: pd.DataFrame) -> str:
    """SHA-256 of the analysis inputs in a canonical order: equal data, equal fingerprint."""
    digest = hashlib.sha256()
    obs = observations.sort_values(["site_id", "date", "metric"]).reset_index(drop=True)
    digest.update(obs.to_csv(index=False, float_format="%.10g").encode())
    cols = [c for c in ("site_id", "arm") if c in sites.columns]
    digest.update(sites[cols].sort_values("site_id").to_csv(index=False).encode())
    return digest.hexdigest()
