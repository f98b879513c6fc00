"""Reviewing comments: the comment list, manual tags, flags, and automatic themes recomputed."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from app.core import audit
from app.extensions import db
from app.feedback import themes
from app.feedback.questionnaires import FeedbackError
from app.models import (
    CommentTag,
    FeedbackAnswer,
    FeedbackResponse,
    User,
)

#: Longest manual tag.
MAX_TAG_LENGTH = 40


def normalise_tag(tag: str) -> str:
    return re.sub(r"\s+", " ", (tag or "").strip())[:MAX_TAG_LENGTH]


def add_manual_tag(answer: FeedbackAnswer, tag: str) -> CommentTag | None:
    tag = normalise_tag(tag)
    if not tag:
        raise FeedbackError(_("A tag cannot be empty."))
    if any(t.tag == tag for t in answer.tags):
        return None
    new = CommentTag(tag=tag, is_automatic=False)
    answer.tags.append(new)
    db.session.flush()
    return new


def remove_tag(answer: FeedbackAnswer, tag: str) -> bool:
    for existing in list(answer.tags):
        if existing.tag == tag:
            answer.tags.remove(existing)
            db.session.flush()
            return True
    return False


def set_flag(response: FeedbackResponse, flagged: bool, *, by: User | None) -> None:
    response.is_flagged_negative = flagged
    audit.record(
        "feedback.flag" if flagged else "feedback.unflag",
        response,
        by=by,
        pilot_id=response.pilot_id,
    )
    db.session.flush()


def retag_pilot(pilot_id: int) -> int:
    """Recompute automatic themes of every comment in a pilot (manual tags are kept)."""
    answers = db.session.scalars(
        select(FeedbackAnswer)
        .join(FeedbackResponse)
        .where(FeedbackResponse.pilot_id == pilot_id, FeedbackAnswer.value_text.is_not(None))
        .options(selectinload(FeedbackAnswer.tags))
    ).all()
    changed = 0
    for answer in answers:
        wanted = set(themes.detect_themes(answer.value_text))
        current = {t.tag for t in answer.tags if t.is_automatic}
        if wanted == current:
            continue
        for tag in list(answer.tags):
            if tag.is_automatic and tag.tag not in wanted:
                answer.tags.remove(tag)
        for key in wanted - current:
            if not any(t.tag == key for t in answer.tags):
                answer.tags.append(CommentTag(tag=key, is_automatic=True))
        changed += 1
    db.session.flush()
    return changed


def comments_query(
    pilot_id: int, *, site_id: int | None = None, tag: str = "", flagged_only: bool = False
) -> Select:
    """The free-text answers of a pilot, newest first, with their tags and site loaded."""
    query = (
        select(FeedbackAnswer)
        .join(FeedbackResponse)
        .where(FeedbackResponse.pilot_id == pilot_id, FeedbackAnswer.value_text.is_not(None))
        .options(
            selectinload(FeedbackAnswer.tags),
            selectinload(FeedbackAnswer.response).selectinload(FeedbackResponse.site),
        )
        .order_by(FeedbackResponse.submitted_at.desc(), FeedbackAnswer.id.desc())
    )
    if site_id:
        query = query.where(FeedbackResponse.site_id == site_id)
    if flagged_only:
        query = query.where(FeedbackResponse.is_flagged_negative.is_(True))
    if tag:
        tagged = select(CommentTag.answer_id).where(CommentTag.tag == tag)
        query = query.where(FeedbackAnswer.id.in_(tagged))
    return query
