"""Long pieces of work run in the background (snapshots, PDFs, big imports) and their progress."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.models.base import Base, str_enum, utcnow


class JobStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One background job: what it is, how far it got, and what it produced.

    ``message`` is for people (the current step, or why it failed — never a traceback);
    ``result`` is JSON the work function returns (e.g. ``{"url": …}`` of the page to open).
    ``subject``/``subject_id`` name the object the job works on (``"report"``, 12);
    ``output`` holds a file the job made (served once the job is done);
    ``pilot_id`` the pilot it belongs to, if any (its change lead may follow the job).
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_subject", "subject", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    func_path: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus), default=JobStatus.QUEUED)
    percent: Mapped[int] = mapped_column(default=0, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    subject: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    pilot_id: Mapped[int | None] = mapped_column(
        ForeignKey("pilots.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: a file the job made (a PDF), served by ``jobs.download``; its name and type in ``result``
    output: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
