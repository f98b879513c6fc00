"""Writing audit events. Callers pass the entity; its type and id are derived here, and the
before/after values are made JSON-safe (dates as ISO strings, numpy numbers as Python ones)."""

from __future__ import annotations

import enum
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


def add_and_record(action: str, entity: Any, *, by: User | None, **details: Any) -> AuditEvent:
    """Add the new ``entity``, flush (so that it has its id) and record ``action`` on it;
    ``details`` are those of :func:`record`."""
    db.session.add(entity)
    db.session.flush()
    return record(action, entity, by=by, **details)


def record_change(
    action: str,
    entity: Any,
    attribute: str,
    value: Any,
    *,
    by: User | None,
    pilot_id: int | None,
    reason: str | None = None,
) -> AuditEvent:
    """Set ``entity.<attribute>`` to ``value`` and record the change, before and after (an
    enum by its value)."""
    before = getattr(entity, attribute)
    setattr(entity, attribute, value)
    return record(
        action,
        entity,
        by=by,
        before={attribute: _plain(before)},
        after={attribute: _plain(value)},
        reason=reason,
        pilot_id=pilot_id,
    )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
