"""Writing audit events. Callers pass the entity; its type and id are derived here, and the
before/after values are made JSON-safe (dates as ISO strings, numpy numbers as Python ones)."""

from __future__ import annotations

from typing import Any

from analysis.results import to_jsonable
from app.extensions import db
from app.models import AuditEvent, User


def record(
    action: str,
    entity: Any,
    *,
    by: User | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    pilot_id: int | None = None,
    is_deviation: bool = False,
) -> AuditEvent:
    user_id = (
        getattr(by, "id", None)
        if by is not None and getattr(by, "is_authenticated", True)
        else None
    )
    event = AuditEvent(
        action=action,
        entity_type=type(entity).__tablename__ if hasattr(entity, "__tablename__") else str(entity),
        entity_id=getattr(entity, "id", None),
        user_id=user_id,
        pilot_id=pilot_id,
        before=to_jsonable(before),
        after=to_jsonable(after),
        reason=reason,
        is_deviation=is_deviation,
    )
    db.session.add(event)
    return event


def record_status(
    action: str,
    entity: Any,
    status: Any,
    *,
    by: User | None,
    pilot_id: int | None,
    reason: str | None = None,
) -> AuditEvent:
    """Move ``entity`` to ``status`` (an enum) and record the move, before and after."""
    before = entity.status.value
    entity.status = status
    return record(
        action,
        entity,
        by=by,
        before={"status": before},
        after={"status": status.value},
        reason=reason,
        pilot_id=pilot_id,
    )
