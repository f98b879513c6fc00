"""Metrics and daily observations, with the history of every change to a value."""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.site import Site


class MetricKind(enum.Enum):
    CONTINUOUS = "continuous"
    PROPORTION = "proportion"
    COUNT = "count"


class Direction(enum.Enum):
    INCREASE = "increase"
    DECREASE = "decrease"


KEY_LENGTH = 60


def key_from_name(name: str, taken: set[str]) -> str:
    """A metric key from its name: lower-case ASCII words joined by ``_``, not in ``taken``.

    "QR ordering adoption among customers 60+ (%)" gives ``qr_ordering_adoption_among_
    customers_60``; a name without Latin letters or digits gives ``metric``; a key already
    taken gets ``_2``, ``_3``, ...
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:KEY_LENGTH] or "metric"
    if base[0].isdigit():
        base = f"m_{base}"[:KEY_LENGTH]
    key, number = base, 1
    while key in taken:
        number += 1
        suffix = f"_{number}"
        key = base[: KEY_LENGTH - len(suffix)] + suffix
    return key


class Metric(Base):
    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str | None] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(30), default="")
    kind: Mapped[MetricKind] = mapped_column(str_enum(MetricKind), default=MetricKind.CONTINUOUS)
    better_direction: Mapped[Direction] = mapped_column(
        str_enum(Direction), default=Direction.INCREASE
    )
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="operations")
    #: The smallest and largest value a day can have (``None``: no bound); imports and the
    #: API refuse values outside them, naming the row and column.
    min_value: Mapped[float | None]
    max_value: Mapped[float | None]

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """``(min, max)`` a value must lie within; a count is never negative."""
        low = self.min_value
        if low is None and self.kind == MetricKind.COUNT:
            low = 0.0
        return low, self.max_value

    def display_name(self, locale: str | None = None) -> str:
        if locale and locale.startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name

    def __repr__(self) -> str:
        return f"<Metric {self.key}>"


class ImportBatch(Base):
    """One upload or API call that wrote observations or sites."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    filename: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilots.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_updated: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)


class Observation(Base):
    """One value of one metric at one site on one day."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("site_id", "date", "metric_id"),
        Index("ix_observations_metric_date", "metric_id", "date"),
        Index("ix_observations_metric_site_date", "metric_id", "site_id", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"))
    date: Mapped[date]
    value: Mapped[float]
    denominator: Mapped[float | None]
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    site: Mapped[Site] = relationship()
    metric: Mapped[Metric] = relationship()


class ObservationRevision(Base):
    """The previous value of an observation that an import or API call changed."""

    __tablename__ = "observation_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), index=True
    )
    old_value: Mapped[float]
    new_value: Mapped[float]
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
