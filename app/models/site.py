"""Sites: stores, branches, clinics or service halls."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, str_enum, utcnow


class SizeTier(enum.Enum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"

    @property
    def weight(self) -> float:
        """How much a site of this tier counts against rollout capacity."""
        return {"small": 1.0, "medium": 1.5, "large": 2.0}[self.value]


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint(
            "management_score IS NULL OR (management_score BETWEEN 0 AND 100)",
            name="management_score_range",
        ),
        CheckConstraint(
            "digital_readiness IS NULL OR (digital_readiness BETWEEN 0 AND 100)",
            name="digital_readiness_range",
        ),
        CheckConstraint(
            "senior_share IS NULL OR (senior_share BETWEEN 0 AND 1)", name="senior_share_range"
        ),
        CheckConstraint("staff_count IS NULL OR staff_count >= 0", name="staff_count_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(80), index=True)
    city: Mapped[str | None] = mapped_column(String(80))
    address: Mapped[str | None] = mapped_column(Text)
    size_tier: Mapped[SizeTier] = mapped_column(str_enum(SizeTier), default=SizeTier.MEDIUM)
    staff_count: Mapped[int | None]
    management_score: Mapped[float | None]
    digital_readiness: Mapped[float | None]
    senior_share: Mapped[float | None]
    daily_orders: Mapped[float | None]
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Site {self.code}>"
