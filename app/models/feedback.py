"""Feedback forms (versioned), their public links, and responses."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, str_enum, utcnow
from app.models.pilot import Pilot
from app.models.site import Site


class Audience(enum.Enum):
    CUSTOMER = "customer"
    STAFF = "staff"


class QuestionType(enum.Enum):
    RATING = "rating"  # 1-5
    NPS = "nps"  # 0-10
    SINGLE_CHOICE = "single_choice"
    MULTI_CHOICE = "multi_choice"
    YES_NO = "yes_no"
    TEXT = "text"


class ResponseChannel(enum.Enum):
    QR = "qr"
    LOGGED_IN = "logged_in"
    IMPORT = "import"


class FeedbackForm(Base):
    """One version of a pilot's form for one audience.

    ``questions`` is a list of dicts: ``{"key", "type", "label_en", "label_zh",
    "required", "options": [{"value", "label_en", "label_zh"}]}``. Once a version has
    responses it is never edited; an edit creates the next version.
    """

    __tablename__ = "feedback_forms"
    __table_args__ = (UniqueConstraint("pilot_id", "audience", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"))
    audience: Mapped[Audience] = mapped_column(str_enum(Audience))
    version: Mapped[int] = mapped_column(default=1)
    #: raised by every in-place edit (a version without responses); the public form's
    #: writer stores a response only if the revision it validated against is still current
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    is_current: Mapped[bool] = mapped_column(default=True)
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    intro_en: Mapped[str | None] = mapped_column(Text)
    intro_zh: Mapped[str | None] = mapped_column(Text)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pilot: Mapped[Pilot] = relationship()


def new_link_token() -> str:
    return secrets.token_urlsafe(16)


class FormLink(Base):
    """The public link (and QR code) of one (pilot, site, audience)."""

    __tablename__ = "form_links"
    __table_args__ = (Index("ix_form_links_pilot_site", "pilot_id", "site_id", "audience"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_link_token)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    audience: Mapped[Audience] = mapped_column(str_enum(Audience))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    pilot: Mapped[Pilot] = relationship()
    site: Mapped[Site] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class FeedbackResponse(Base):
    __tablename__ = "feedback_responses"
    __table_args__ = (
        Index("ix_feedback_responses_site_time", "site_id", "submitted_at"),
        Index("ix_feedback_responses_pilot_time", "pilot_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("feedback_forms.id", ondelete="CASCADE"))
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("form_links.id", ondelete="SET NULL"))
    audience: Mapped[Audience] = mapped_column(str_enum(Audience))
    channel: Mapped[ResponseChannel] = mapped_column(
        str_enum(ResponseChannel), default=ResponseChannel.QR
    )
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    respondent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    segment: Mapped[str | None] = mapped_column(String(30))
    language: Mapped[str | None] = mapped_column(String(10))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_flagged_negative: Mapped[bool] = mapped_column(default=False)

    form: Mapped[FeedbackForm] = relationship()
    site: Mapped[Site] = relationship()
    answers: Mapped[list[FeedbackAnswer]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class FeedbackAnswer(Base):
    """One answer. Free text is stored only after personal data is masked."""

    __tablename__ = "feedback_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_key"),
        CheckConstraint("value_num IS NULL OR (value_num BETWEEN 0 AND 10)", name="value_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_responses.id", ondelete="CASCADE")
    )
    question_key: Mapped[str] = mapped_column(String(40))
    question_type: Mapped[QuestionType] = mapped_column(str_enum(QuestionType))
    value_num: Mapped[float | None]
    value_text: Mapped[str | None] = mapped_column(Text)
    value_choices: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))

    response: Mapped[FeedbackResponse] = relationship(back_populates="answers")
    tags: Mapped[list[CommentTag]] = relationship(
        back_populates="answer", cascade="all, delete-orphan"
    )


class CommentTag(Base):
    __tablename__ = "comment_tags"
    __table_args__ = (UniqueConstraint("answer_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("feedback_answers.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(60), index=True)
    is_automatic: Mapped[bool] = mapped_column(default=True)

    answer: Mapped[FeedbackAnswer] = relationship(back_populates="tags")
