"""Pilots, their metric roles and site assignments."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.metric import Metric
from app.models.site import Site

if TYPE_CHECKING:
    from app.models.user import User


class PilotStatus(enum.Enum):
    DRAFT = "draft"
    RUNNING = "running"
    ANALYSING = "analysing"
    DECIDED = "decided"
    ROLLING_OUT = "rolling_out"
    DONE = "done"


class Decision(enum.Enum):
    ROLL_OUT = "roll_out"
    EXTEND = "extend"
    STOP = "stop"


class MetricRole(enum.Enum):
    PRIMARY = "primary"
    GUARDRAIL = "guardrail"
    SECONDARY = "secondary"


class Arm(enum.Enum):
    PILOT = "pilot"
    CONTROL = "control"


class AssignmentMethod(enum.Enum):
    PROPOSED = "proposed"
    RANDOM_STRATIFIED = "random_stratified"
    MATCHED = "matched"
    MANUAL = "manual"


class DesignMethod(enum.Enum):
    """How the wizard chose the pilot's sites."""

    PAIRED = "paired"  # pool where the problem is present, matched pairs, random within pairs
    MATCHED = "matched"  # pilot sites picked by hand, controls matched to them
    STRATIFIED = "stratified"  # no history: random within strata


class Pilot(Base):
    __tablename__ = "pilots"
    __table_args__ = (
        CheckConstraint("alpha > 0 AND alpha < 0.5", name="alpha_range"),
        CheckConstraint(
            "pre_start IS NULL OR start_date IS NULL OR pre_start < start_date",
            name="pre_before_start",
        ),
        CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR start_date <= end_date",
            name="start_before_end",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    change_description: Mapped[str | None] = mapped_column(Text)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[PilotStatus] = mapped_column(
        str_enum(PilotStatus), default=PilotStatus.DRAFT, index=True
    )
    pre_start: Mapped[date | None]
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    alpha: Mapped[float] = mapped_column(default=0.05)
    min_effect: Mapped[float | None]
    wizard_step: Mapped[int] = mapped_column(default=1)
    design_method: Mapped[DesignMethod | None] = mapped_column(str_enum(DesignMethod))
    design_seed: Mapped[int | None]
    design_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    design_locked_at: Mapped[datetime | None]
    retros_visible_to_staff: Mapped[bool] = mapped_column(default=False)
    decision: Mapped[Decision | None] = mapped_column(str_enum(Decision))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    decision_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: when the pilot was archived: hidden from lists by default and read-only; status kept
    archived_at: Mapped[datetime | None]

    owner: Mapped[User | None] = relationship()
    metric_links: Mapped[list[PilotMetric]] = relationship(
        back_populates="pilot", cascade="all, delete-orphan", order_by="PilotMetric.position"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="pilot", cascade="all, delete-orphan"
    )

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_locked(self) -> bool:
        """The design is frozen (pre-registered) once the pilot has started."""
        return self.design_locked_at is not None

    @property
    def primary_metric(self) -> Metric | None:
        for link in self.metric_links:
            if link.role is MetricRole.PRIMARY:
                return link.metric
        return None

    @property
    def pairs(self) -> list[list[str]]:
        """The matched groups of a pilot randomized within pairs, as site codes, pilot first.

        Only whole groups count (one pilot and at least one control site): a group the lead
        broke by removing or adding sites is left out of the paired analysis.
        """
        groups: dict[int, list[Assignment]] = {}
        for assignment in self.assignments:
            if assignment.pair is not None:
                groups.setdefault(assignment.pair, []).append(assignment)
        out = []
        for number in sorted(groups):
            members = sorted(groups[number], key=lambda a: (a.arm is not Arm.PILOT, a.site.code))
            arms = [a.arm for a in members]
            if arms.count(Arm.PILOT) == 1 and len(arms) >= 2:
                out.append([a.site.code for a in members])
        return out

    def sites_in(self, arm: Arm) -> list[Site]:
        return [a.site for a in self.assignments if a.arm is arm]

    def day_number(self, today: date) -> int | None:
        """1-based day of the pilot on ``today``; None before it starts."""
        if self.start_date is None or today < self.start_date:
            return None
        return (today - self.start_date).days + 1

    def __repr__(self) -> str:
        return f"<Pilot {self.id} {self.name!r}>"


class PilotMetric(Base):
    """A metric's role in a pilot (primary, guardrail with its margin, secondary)."""

    __tablename__ = "pilot_metrics"
    __table_args__ = (UniqueConstraint("pilot_id", "metric_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"))
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id", ondelete="RESTRICT"))
    role: Mapped[MetricRole] = mapped_column(str_enum(MetricRole))
    margin: Mapped[float | None]
    min_effect: Mapped[float | None]
    position: Mapped[int] = mapped_column(default=0)

    pilot: Mapped[Pilot] = relationship(back_populates="metric_links")
    metric: Mapped[Metric] = relationship()


class Assignment(Base):
    """A site's role in a pilot."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("pilot_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    arm: Mapped[Arm] = mapped_column(str_enum(Arm))
    method: Mapped[AssignmentMethod] = mapped_column(
        str_enum(AssignmentMethod), default=AssignmentMethod.MANUAL
    )
    stratum: Mapped[str | None] = mapped_column(String(80))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Matched group number (1, 2, ...) of a pilot randomized within pairs or triplets.
    pair: Mapped[int | None]

    pilot: Mapped[Pilot] = relationship(back_populates="assignments")
    site: Mapped[Site] = relationship()
