"""Queries that several areas ask the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.orm.util import identity_key

from app.extensions import db
from app.models import PlanStatus, RolloutPlan, Wave, WaveSite, WaveStatus


def newest_first_of_pilot(model: Any, pilot_id: int) -> list[Any]:
    """Every row of ``model`` (a model with ``pilot_id`` and ``created_at``) that belongs to
    the pilot, newest first; rows created at the same instant, the later id first."""
    return list(
        db.session.scalars(
            select(model)
            .where(model.pilot_id == pilot_id)
            .order_by(model.created_at.desc(), model.id.desc())
        )
    )


def load_sites(site_ids: Any) -> list[Any]:
    """The sites of ``site_ids`` in one query, so that ``assignment.site`` (or any
    many-to-one to a site) found afterwards comes from the session instead of one query per
    row. Keep the returned list while the rows are used: the session holds sites weakly.
    A site the session holds expired (after a commit or a rollback) is read again with the
    others: touching it would otherwise refresh it alone."""
    from app.models import Site

    held, missing = [], []
    for site_id in sorted({int(i) for i in site_ids if i is not None}):
        site = db.session.identity_map.get(identity_key(Site, site_id))
        fresh = site is not None and not inspect(site).expired
        (held.append(site) if fresh else missing.append(site_id))
    if missing:
        held += db.session.scalars(select(Site).where(Site.id.in_(missing)))
    return held


#: Wave statuses in which a wave's sites collect feedback.
STARTED_WAVES = (WaveStatus.LIVE, WaveStatus.HELD, WaveStatus.PASSED)


def rollout_site_open(pilot_id: Any, site_id: Any):
    """SQL: the site is in a started wave of an active rollout plan of the pilot (the
    feedback forms' lookup and guarded write, the staff feed, the staff check-in's access)."""
    ws, wave, plan = (m.__table__ for m in (WaveSite, Wave, RolloutPlan))
    return exists(
        select(ws.c.id)
        .join(wave, wave.c.id == ws.c.wave_id)
        .join(plan, plan.c.id == ws.c.plan_id)
        .where(
            ws.c.site_id == site_id,
            plan.c.pilot_id == pilot_id,
            plan.c.status == PlanStatus.ACTIVE,
            wave.c.status.in_(STARTED_WAVES),
        )
    )


def in_started_wave(pilot_id: int, site_id: int) -> bool:
    """The site is in a started wave of an active rollout plan of the pilot."""
    return bool(db.session.scalar(select(rollout_site_open(pilot_id, site_id))))
