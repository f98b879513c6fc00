"""Staged rollout plans: waves with gates, sites with readiness and mentors."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.pilot import Pilot
from app.models.site import Site

if TYPE_CHECKING:
    from app.models.user import User


class PlanStatus(enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class WaveStatus(enum.Enum):
    PLANNED = "planned"
    LIVE = "live"
    PASSED = "passed"
    HELD = "held"
    FAILED = "failed"


class RolloutPlan(Base):
    """``settings`` keeps the generation inputs (capacity, weights, seed, holdback share…)."""

    __tablename__ = "rollout_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[PlanStatus] = mapped_column(str_enum(PlanStatus), default=PlanStatus.DRAFT)
    start_date: Mapped[date]
    sites_per_week: Mapped[float]
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pilot: Mapped[Pilot] = relationship()
    created_by: Mapped[User | None] = relationship()
    waves: Mapped[list[Wave]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Wave.number"
    )
    sites: Mapped[list[WaveSite]] = relationship(
        back_populates="plan", cascade="all, delete-orphan"
    )
    mentor_pairs: Mapped[list[MentorPair]] = relationship(
        back_populates="plan", cascade="all, delete-orphan"
    )


class Wave(Base):
    """``gate`` holds the go/no-go criteria; ``gate_result`` the last evaluation."""

    __tablename__ = "waves"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        CheckConstraint("start_date <= end_date", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("rollout_plans.id", ondelete="CASCADE"))
    number: Mapped[int]
    start_date: Mapped[date]
    end_date: Mapped[date]
    status: Mapped[WaveStatus] = mapped_column(str_enum(WaveStatus), default=WaveStatus.PLANNED)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)

    plan: Mapped[RolloutPlan] = relationship(back_populates="waves")
    sites: Mapped[list[WaveSite]] = relationship(back_populates="wave")


class WaveSite(Base):
    """A site in a plan: its wave (None for the holdback), readiness and prediction."""

    __tablename__ = "wave_sites"
    __table_args__ = (
        UniqueConstraint("plan_id", "site_id"),
        Index("ix_wave_sites_site", "site_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("rollout_plans.id", ondelete="CASCADE"))
    wave_id: Mapped[int | None] = mapped_column(ForeignKey("waves.id", ondelete="SET NULL"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    is_holdback: Mapped[bool] = mapped_column(default=False)
    go_live_date: Mapped[date | None]
    capacity_load: Mapped[float | None]
    readiness_score: Mapped[float | None]
    readiness_tier: Mapped[str | None] = mapped_column(String(20))
    predicted_effect: Mapped[float | None]
    predicted_low: Mapped[float | None]
    predicted_high: Mapped[float | None]
    is_extrapolation: Mapped[bool] = mapped_column(default=False)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    plan: Mapped[RolloutPlan] = relationship(back_populates="sites")
    wave: Mapped[Wave | None] = relationship(back_populates="sites")
    site: Mapped[Site] = relationship()


class MentorPair(Base):
    __tablename__ = "mentor_pairs"
    __table_args__ = (UniqueConstraint("plan_id", "mentee_site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("rollout_plans.id", ondelete="CASCADE"))
    mentor_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    mentor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    mentee_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(Text)

    plan: Mapped[RolloutPlan] = relationship(back_populates="mentor_pairs")
    mentor_site: Mapped[Site | None] = relationship(foreign_keys=[mentor_site_id])
    mentor_user: Mapped[User | None] = relationship(foreign_keys=[mentor_user_id])
    mentee_site: Mapped[Site] = relationship(foreign_keys=[mentee_site_id])
