"""Feedback forms: their questions and versions, when they are open, and their public links.

Answers are validated and stored by :mod:`app.feedback.responses`; tags, flags and the
staff feed live in :mod:`app.feedback.comments`. Functions add and flush; the caller (view,
CLI) commits once.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import (
    Select,
    func,
    select,
)
from sqlalchemy.orm import selectinload

from app.core import audit, clock
from app.core.errors import ServiceError
from app.core.paging import paginate
from app.extensions import db
from app.feedback.ready_made import customer_template, staff_template
from app.models import (
    Audience,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    Pilot,
    PilotStatus,
    QuestionType,
    Site,
    User,
)
from app.pilots.lifecycle import pilot_started

#: Question keys: lower-case letters, digits and underscores.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
QUESTION_TYPES = {t.value for t in QuestionType}
CHOICE_TYPES = {QuestionType.SINGLE_CHOICE.value, QuestionType.MULTI_CHOICE.value}
#: Statuses in which the questions may be edited (draft: freely; running: new version + audit).
EDITABLE_STATUSES = (PilotStatus.DRAFT, PilotStatus.RUNNING)


class HasQuestions(Protocol):
    """A form version as the validator reads it: a ``FeedbackForm``, or the public form's
    frozen copy (:class:`app.feedback.intake.FormDefinition`)."""

    questions: list[dict[str, Any]]


class FeedbackError(ServiceError):
    """A request the feedback workflows refuse, with a message for people."""


# ------------------------------------------------------------------ forms and versions


#: How a question's own label already says it may be skipped ("Your age (optional)").
_SAYS_OPTIONAL = re.compile(r"[(（]\s*(optional|选填|可选|非必填)\s*[)）]\s*$", re.IGNORECASE)


def says_optional(label: str) -> bool:
    """True when ``label`` already ends with "(optional)" (or 选填/可选), so the form does not
    add a second one."""
    return bool(_SAYS_OPTIONAL.search(str(label or "")))


def templates_for(audience: Audience) -> dict[str, Any]:
    return customer_template() if audience is Audience.CUSTOMER else staff_template()


def current_form(pilot_id: int, audience: Audience) -> FeedbackForm | None:
    return db.session.scalar(
        select(FeedbackForm)
        .where(
            FeedbackForm.pilot_id == pilot_id,
            FeedbackForm.audience == audience,
            FeedbackForm.is_current.is_(True),
        )
        .order_by(FeedbackForm.version.desc())
        .limit(1)
    )


def ensure_forms(pilot: Pilot) -> dict[Audience, FeedbackForm]:
    """The current customer and staff forms, created from the templates when missing."""
    forms = {}
    for audience in Audience:
        form = current_form(pilot.id, audience)
        if form is None:
            form = FeedbackForm(
                pilot=pilot, audience=audience, version=1, **templates_for(audience)
            )
            db.session.add(form)
        forms[audience] = form
    db.session.flush()
    return forms


def form_versions(pilot_id: int, audience: Audience) -> list[FeedbackForm]:
    return list(
        db.session.scalars(
            select(FeedbackForm)
            .where(FeedbackForm.pilot_id == pilot_id, FeedbackForm.audience == audience)
            .order_by(FeedbackForm.version.desc())
        )
    )


def response_count(form_id: int) -> int:
    return db.session.scalar(
        select(func.count(FeedbackResponse.id)).where(FeedbackResponse.form_id == form_id)
    )


def validate_questions(questions: list[dict[str, Any]]) -> list[str]:
    """Problems with a question list, as sentences (empty when it is usable)."""
    problems = []
    if not questions:
        problems.append("a form needs at least one question")
    seen: set[str] = set()
    for position, q in enumerate(questions, start=1):
        key = q.get("key") or ""
        if not KEY_PATTERN.match(key):
            problems.append(f"question {position}: key {key!r} must be lower-case a-z, 0-9, _")
        if key in seen:
            problems.append(f"question {position}: key {key!r} is used twice")
        seen.add(key)
        if q.get("type") not in QUESTION_TYPES:
            problems.append(f"question {position}: unknown type {q.get('type')!r}")
        if not (q.get("label_en") or "").strip() or not (q.get("label_zh") or "").strip():
            problems.append(f"question {position}: needs an English and a Chinese label")
        if q.get("type") in CHOICE_TYPES:
            options = q.get("options") or []
            values = [o.get("value") for o in options]
            if len(options) < 2:
                problems.append(f"question {position}: a choice question needs two options")
            if len(set(values)) != len(values) or not all(values):
                problems.append(f"question {position}: option values must be unique")
    return problems


def update_form(
    form: FeedbackForm, fields: dict[str, Any], *, by: User | None
) -> tuple[FeedbackForm, bool]:
    """Apply new title/intro/questions to ``form``.

    Returns ``(form, is_new_version)``. While the version has no responses it is edited in
    place; once it has responses, a new version is created and becomes current, and the old
    responses keep pointing at the old version. In a running pilot every edit is recorded in
    the audit log as a deviation from the registered design.
    """
    pilot = form.pilot
    if pilot.status not in EDITABLE_STATUSES:
        raise FeedbackError(
            _("The questions can only be changed while the pilot is a draft or running.")
        )
    questions = copy.deepcopy(fields.get("questions", form.questions))
    problems = validate_questions(questions)
    if problems:
        raise FeedbackError("; ".join(problems))
    before = {"version": form.version, "questions": form.questions}
    values = {
        "title_en": fields.get("title_en", form.title_en),
        "title_zh": fields.get("title_zh", form.title_zh),
        "intro_en": fields.get("intro_en", form.intro_en),
        "intro_zh": fields.get("intro_zh", form.intro_zh),
        "questions": questions,
    }
    new_version = response_count(form.id) > 0
    if new_version:
        form.is_current = False
        target = FeedbackForm(
            pilot_id=form.pilot_id, audience=form.audience, version=form.version + 1, **values
        )
        db.session.add(target)
    else:
        target = form
        for name, value in values.items():
            setattr(target, name, value)
        target.revision = (target.revision or 1) + 1
    db.session.flush()
    audit.record(
        "feedback_form.edit",
        target,
        by=by,
        before=before,
        after={"version": target.version, "questions": questions},
        pilot_id=pilot.id,
        is_deviation=pilot.status is PilotStatus.RUNNING,
    )
    return target, new_version


# ------------------------------------------------------------------ links


def form_is_open(pilot: Pilot, today: date | None = None) -> bool:
    """The public form accepts answers while the pilot runs, and in a draft's baseline period.

    Baseline answers (from the pre-period start on) are what the before/after view compares
    with; after the pilot stops running the form shows a friendly closed page.
    """
    return window_is_open(pilot.status, pilot.pre_start, today)


def window_is_open(status: PilotStatus, pre_start: date | None, today: date | None = None) -> bool:
    """:func:`form_is_open` from a pilot's status and pre-period start alone."""
    if status is PilotStatus.RUNNING:
        return True
    if status is PilotStatus.DRAFT and pre_start is not None:
        return (today or clock.today()) >= pre_start
    return False


def ensure_links(pilot: Pilot) -> list[FormLink]:
    """An active link for every (site in the pilot, audience); existing links are kept."""
    ensure_site_links(pilot, [assignment.site_id for assignment in pilot.assignments])
    return pilot_links(pilot.id)


def ensure_site_links(pilot: Pilot, site_ids: list[int]) -> list[FormLink]:
    """An active link of ``pilot``'s forms for every (site in ``site_ids``, audience), e.g.
    the sites of a rollout wave; existing links are kept. Returns those sites' links."""
    wanted = set(site_ids)
    existing = {
        (link.site_id, link.audience)
        for link in db.session.scalars(
            select(FormLink).where(FormLink.pilot_id == pilot.id, FormLink.revoked_at.is_(None))
        )
    }
    for site_id in sorted(wanted):
        for audience in Audience:
            if (site_id, audience) not in existing:
                db.session.add(FormLink(pilot_id=pilot.id, site_id=site_id, audience=audience))
    db.session.flush()
    return [link for link in pilot_links(pilot.id) if link.site_id in wanted]


def _links_query(pilot_id: int, include_revoked: bool) -> Select:
    query = (
        select(FormLink)
        .join(Site, Site.id == FormLink.site_id)
        .where(FormLink.pilot_id == pilot_id)
        .options(selectinload(FormLink.site))
        .order_by(Site.code, FormLink.audience, FormLink.created_at, FormLink.id)
    )
    if not include_revoked:
        query = query.where(FormLink.revoked_at.is_(None))
    return query


def pilot_links(pilot_id: int, *, include_revoked: bool = False) -> list[FormLink]:
    return list(db.session.scalars(_links_query(pilot_id, include_revoked)))


def pilot_links_page(pilot_id: int, page: int | None, per_page: int) -> Pagination:
    """Page ``page`` of :func:`pilot_links` (working links, by site code), for the
    distribution page: a chain's pilot has hundreds of links."""
    return paginate(_links_query(pilot_id, False), page, per_page)


def active_link(pilot_id: int, site_id: int, audience: Audience) -> FormLink | None:
    """The link of a site's form that works now, if any."""
    return db.session.scalar(
        select(FormLink).where(
            FormLink.pilot_id == pilot_id,
            FormLink.site_id == site_id,
            FormLink.audience == audience,
            FormLink.revoked_at.is_(None),
        )
    )


def revoke_link(link: FormLink, *, by: User | None, renew: bool = True) -> FormLink | None:
    """Revoke a link (its QR code stops working); with ``renew`` a new link replaces it."""
    if link.revoked_at is None:
        link.revoked_at = clock.utc_now()
    audit.record("form_link.revoke", link, by=by, pilot_id=link.pilot_id)
    replacement = None
    if renew:
        replacement = FormLink(pilot_id=link.pilot_id, site_id=link.site_id, audience=link.audience)
        db.session.add(replacement)
    db.session.flush()
    return replacement


# ------------------------------------------------------------------ answers


def question_map(form: HasQuestions) -> dict[str, dict[str, Any]]:
    return {q["key"]: q for q in form.questions}


def headline_key(form: HasQuestions) -> str | None:
    """The first rating question: the headline satisfaction of the form."""
    for q in form.questions:
        if q.get("type") == QuestionType.RATING.value:
            return q["key"]
    return None


@pilot_started.connect
def _open_feedback(pilot: Pilot, **_unused: Any) -> None:
    """Every pilot and control site gets its customer and staff QR links from day one."""
    ensure_forms(pilot)
    ensure_links(pilot)
