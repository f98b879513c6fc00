"""Immutable analysis snapshots and their sign-off."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, event, inspect
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.pilot import Pilot

if TYPE_CHECKING:
    from app.models.user import User


class ReportStatus(enum.Enum):
    COMPUTING = "computing"
    DRAFT = "draft"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    FAILED = "failed"


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_exploration: Mapped[bool] = mapped_column(default=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    engine_version: Mapped[str | None] = mapped_column(String(20))
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ReportStatus] = mapped_column(
        str_enum(ReportStatus), default=ReportStatus.DRAFT, active_history=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(default=0, server_default="0")
    progress_step: Mapped[str | None] = mapped_column(String(80))
    finished_at: Mapped[datetime | None]
    results_digest: Mapped[str | None] = mapped_column(String(64))
    #: The exact analysis inputs (zip of observations.csv and sites.csv), for the bundle.
    inputs_archive: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))

    pilot: Mapped[Pilot] = relationship(foreign_keys=[pilot_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    reviewer: Mapped[User | None] = relationship(foreign_keys=[reviewer_id])

    @property
    def is_read_only(self) -> bool:
        return self.status is ReportStatus.APPROVED

    @property
    def is_finished(self) -> bool:
        return self.status not in (ReportStatus.COMPUTING, ReportStatus.FAILED)


#: What a snapshot is: once computed, none of these may change.
SNAPSHOT_FIELDS = (
    "pilot_id",
    "created_by_id",
    "created_at",
    "is_exploration",
    "parameters",
    "data_fingerprint",
    "engine_version",
    "results",
    "results_digest",
    "inputs_archive",
)
#: Sign-off fields, frozen once approved.
REVIEW_FIELDS = ("status", "reviewer_id", "reviewed_at", "review_comment")


class SnapshotImmutableError(RuntimeError):
    """Raised when code tries to change a computed snapshot or an approved review."""


def _changed(state, name: str) -> bool:
    hist = state.attrs[name].history
    if not hist.added:
        return False
    return not hist.deleted or hist.added[0] != hist.deleted[0]


def _old(state, name: str):
    hist = state.attrs[name].history
    return hist.deleted[0] if hist.deleted else state.attrs[name].value


@event.listens_for(Report, "before_update")
def _keep_snapshots_immutable(mapper, connection, target: Report) -> None:
    """A computed snapshot never changes; an approved review never changes (ORM writes)."""
    state = inspect(target)
    old_status = _old(state, "status")
    if old_status is not ReportStatus.COMPUTING:
        frozen = [name for name in SNAPSHOT_FIELDS if _changed(state, name)]
        if frozen:
            raise SnapshotImmutableError(f"report {target.id} is a snapshot: {frozen} are frozen")
    if old_status is ReportStatus.APPROVED:
        frozen = [name for name in REVIEW_FIELDS if _changed(state, name)]
        if frozen:
            raise SnapshotImmutableError(f"report {target.id} is approved; cannot change {frozen}")
