"""Queries that several areas ask the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db


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
