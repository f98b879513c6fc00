"""The public form's hot path: one query finds a link's site, pilot and current form.

A QR code at the counter is scanned by many phones at once, so the lookup behind
``/feedback/f/<token>`` reads plain columns with one prepared statement (no ORM objects, no
lazy loads) into frozen dataclasses. Those carry the attributes the answer page, the
validator (:func:`app.feedback.responses.clean_answers`) and the writer
(:func:`app.feedback.responses.submit_response`) read from a :class:`FeedbackForm`, so
the public form and the logged-in staff form share one code path.

**Remembered targets.** Every lookup is remembered per process (:func:`recall`), and a
submission validates against the remembered target without reading it again. That is safe
because the database decides: the writer stores the response only if, in the same
statement, the link is still active, the form version and its revision are still current
and the pilot still accepts answers (``guarded=True``). When that check fails the writer
raises :class:`app.feedback.responses.StaleTarget`, and the view reads the target afresh
and answers with what is true now (404 for a revoked link, the closed page, or the new
questions). A revocation or an edit therefore takes effect with the next request, in every
worker.

**Rollout.** Once a pilot is decided its own links close, but the links of sites in a started
wave (live, held or passed) of an active rollout plan of that pilot stay open: the lookup
reads that as ``rollout_open`` and the writer checks it again in the same statement.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, bindparam, select

from app.core.queries import rollout_site_open
from app.extensions import db
from app.feedback.questionnaires import window_is_open
from app.models import (
    Audience,
    FeedbackForm,
    FormLink,
    Pilot,
    PilotStatus,
    Site,
)

__all__ = ["FormDefinition", "PublicTarget", "SiteRef", "find_target", "recall"]

#: Tokens are ``secrets.token_urlsafe`` strings; anything longer is not looked up.
MAX_TOKEN_LENGTH = 64
#: Targets remembered per process and app (a pilot has two links per site).
MAX_REMEMBERED = 4096
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FormDefinition:
    """One version of a form, as the answer page and the validator read it."""

    id: int
    pilot_id: int
    audience: Audience
    version: int
    revision: int
    title_en: str
    title_zh: str
    intro_en: str | None
    intro_zh: str | None
    questions: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SiteRef:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class PublicTarget:
    """An active link: where the answers go and which form version asks the questions."""

    link_id: int
    token: str
    pilot_id: int
    pilot_status: PilotStatus
    pre_start: date | None
    audience: Audience
    site: SiteRef
    form: FormDefinition | None
    #: the site is in a started wave of an active rollout plan of the pilot
    rollout_open: bool = False
    #: True when this came from :func:`recall` rather than from the database just now
    remembered: bool = False

    @property
    def id(self) -> int:  # the link's id, as ``FormLink.id``
        return self.link_id

    def is_open(self, today: date | None = None) -> bool:
        if self.form is None:
            return False
        return self.rollout_open or window_is_open(self.pilot_status, self.pre_start, today)


@cache
def _lookup_statement() -> Select:
    """Built once per process; SQLAlchemy caches its compiled form per dialect."""
    link, pilot, site, form = (m.__table__ for m in (FormLink, Pilot, Site, FeedbackForm))
    current_form = and_(
        form.c.pilot_id == link.c.pilot_id,
        form.c.audience == link.c.audience,
        form.c.is_current.is_(True),
    )
    return (
        select(
            rollout_site_open(link.c.pilot_id, link.c.site_id).label("rollout_open"),
            link.c.id,
            link.c.pilot_id,
            link.c.site_id,
            link.c.audience,
            pilot.c.status,
            pilot.c.pre_start,
            site.c.name.label("site_name"),
            form.c.id.label("form_id"),
            form.c.version,
            form.c.revision,
            form.c.title_en,
            form.c.title_zh,
            form.c.intro_en,
            form.c.intro_zh,
            form.c.questions,
        )
        .join(pilot, pilot.c.id == link.c.pilot_id)
        .join(site, site.c.id == link.c.site_id)
        .outerjoin(form, current_form)
        .where(link.c.token == bindparam("token"), link.c.revoked_at.is_(None))
        .order_by(form.c.version.desc())
        .limit(1)
    )


def _remembered() -> dict[str, PublicTarget]:
    return current_app.extensions.setdefault("rollwise_feedback_targets", {})


def recall(token: str) -> PublicTarget | None:
    """The target last read for this token in this process, if any (see the module note)."""
    return _remembered().get(token)


def _remember(token: str, target: PublicTarget | None) -> None:
    remembered = _remembered()
    with _lock:
        if target is None:
            remembered.pop(token, None)
            return
        if len(remembered) >= MAX_REMEMBERED:
            remembered.pop(next(iter(remembered)))
        remembered[token] = replace(target, remembered=True)


def find_target(token: str) -> PublicTarget | None:
    """The active link with this token, or None when it is unknown or revoked."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.connection().execute(_lookup_statement(), {"token": token}).first()
    if row is None:
        _remember(token, None)
        return None
    form = None
    if row.form_id is not None:
        form = FormDefinition(
            id=row.form_id,
            pilot_id=row.pilot_id,
            audience=row.audience,
            version=row.version,
            revision=row.revision,
            title_en=row.title_en,
            title_zh=row.title_zh,
            intro_en=row.intro_en,
            intro_zh=row.intro_zh,
            questions=row.questions or [],
        )
    target = PublicTarget(
        link_id=row.id,
        token=token,
        pilot_id=row.pilot_id,
        pilot_status=row.status,
        pre_start=row.pre_start,
        audience=row.audience,
        site=SiteRef(row.site_id, row.site_name),
        form=form,
        rollout_open=bool(row.rollout_open),
    )
    _remember(token, target)
    return target
