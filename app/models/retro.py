"""Daily retrospectives, their items, action items and process adjustments."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.pilot import Pilot
from app.models.site import Site

if TYPE_CHECKING:
    from app.models.feedback import FeedbackResponse
    from app.models.user import User


class RetroFormat(enum.Enum):
    WELL_PROBLEMS_IDEAS = "well_problems_ideas"
    START_STOP_CONTINUE = "start_stop_continue"


class ActionStatus(enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"

    @property
    def is_closed(self) -> bool:
        return self in (ActionStatus.DONE, ActionStatus.DROPPED)


#: The note columns of each retro format, in display order.
FORMAT_CATEGORIES: dict[RetroFormat, tuple[str, ...]] = {
    RetroFormat.WELL_PROBLEMS_IDEAS: ("went_well", "problems", "ideas"),
    RetroFormat.START_STOP_CONTINUE: ("start", "stop", "continue"),
}


class AdjustmentScope(enum.Enum):
    ALL_PILOT_SITES = "all_pilot_sites"
    SELECTED_SITES = "selected_sites"
    CONDITION = "condition"


retro_item_sites = Table(
    "retro_item_sites",
    Base.metadata,
    Column("retro_item_id", ForeignKey("retro_items.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)

retro_item_responses = Table(
    "retro_item_responses",
    Base.metadata,
    Column("retro_item_id", ForeignKey("retro_items.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "response_id", ForeignKey("feedback_responses.id", ondelete="CASCADE"), primary_key=True
    ),
)

adjustment_sites = Table(
    "adjustment_sites",
    Base.metadata,
    Column("adjustment_id", ForeignKey("adjustments.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Retrospective(Base):
    __tablename__ = "retrospectives"
    __table_args__ = (UniqueConstraint("pilot_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"))
    date: Mapped[date]
    format: Mapped[RetroFormat] = mapped_column(
        str_enum(RetroFormat), default=RetroFormat.WELL_PROBLEMS_IDEAS
    )
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attendees: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pilot: Mapped[Pilot] = relationship()
    facilitator: Mapped[User | None] = relationship()
    items: Mapped[list[RetroItem]] = relationship(
        back_populates="retro", cascade="all, delete-orphan", order_by="RetroItem.id"
    )


class RetroItem(Base):
    """A note in a retro; ``category`` is one of the format's columns (e.g. 'problems')."""

    __tablename__ = "retro_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    retro_id: Mapped[int] = mapped_column(ForeignKey("retrospectives.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    retro: Mapped[Retrospective] = relationship(back_populates="items")
    sites: Mapped[list[Site]] = relationship(secondary=retro_item_sites)
    responses: Mapped[list[FeedbackResponse]] = relationship(secondary=retro_item_responses)


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    retro_id: Mapped[int | None] = mapped_column(
        ForeignKey("retrospectives.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None]
    status: Mapped[ActionStatus] = mapped_column(str_enum(ActionStatus), default=ActionStatus.OPEN)
    outcome: Mapped[str | None] = mapped_column(Text)
    created_on: Mapped[date]
    closed_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pilot: Mapped[Pilot] = relationship()
    retro: Mapped[Retrospective | None] = relationship()
    owner: Mapped[User | None] = relationship()

    def is_open_on(self, day: date) -> bool:
        """Created before ``day`` and not closed before it (closing on ``day`` still shows)."""
        return self.created_on <= day and (self.closed_on is None or self.closed_on >= day)

    def age_on(self, day: date) -> int:
        """Whole days since the action was opened."""
        return max((day - self.created_on).days, 0)

    def is_overdue_on(self, day: date) -> bool:
        return not self.status.is_closed and self.due_date is not None and self.due_date < day


class Adjustment(Base):
    """A change to the process made during the pilot, decided in a retro.

    ``condition`` (scope CONDITION) is ``{"attribute": "senior_share", "op": ">", "value": 0.3}``.
    """

    __tablename__ = "adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    retro_id: Mapped[int | None] = mapped_column(
        ForeignKey("retrospectives.id", ondelete="SET NULL")
    )
    effective_date: Mapped[date]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[AdjustmentScope] = mapped_column(
        str_enum(AdjustmentScope),
        default=AdjustmentScope.ALL_PILOT_SITES,
    )
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_reusable_practice: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pilot: Mapped[Pilot] = relationship()
    retro: Mapped[Retrospective | None] = relationship()
    sites: Mapped[list[Site]] = relationship(secondary=adjustment_sites)
