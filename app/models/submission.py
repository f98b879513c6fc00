"""One-time keys of back-office form submissions: a form sent twice acts once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class FormSubmission(Base):
    """A submission key a back-office form was sent with, and where its answer pointed.

    The key is unique: a resent form (a network retry, a double click) finds the row of its
    first sending and is answered with the same redirect instead of acting again.
    """

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    endpoint: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_to: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
