"""Declarative base shared by every model."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

from app.core import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware now, used as a column default (a callable, never a frozen value)."""
    return clock.utc_now()


def str_enum(enum_cls: type[enum.Enum]) -> Enum:
    """An enum column stored as its (lower-case) value in a VARCHAR, portable across databases."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
