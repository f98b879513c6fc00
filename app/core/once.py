"""Back-office forms that act once: a resent POST is answered like its first sending.

A create form carries a hidden one-time ``submission_key`` (``OnceFormMixin`` in
``app.core.formfields``), fresh on every page it is rendered on. The view claims the key
before it acts, in the same transaction::

    if form.validate_on_submit():
        if (resent := once.resent(form)) is not None:
            return resent
        pilot = svc.create_pilot(...)
        target = url_for("pilots.wizard", pilot_id=pilot.id, step=2)
        once.answered(form, target)
        db.session.commit()
        return redirect(target)

The key is unique in ``form_submissions``: of two sendings, the second one's claim waits for the
first to commit, then finds its row and redirects where the first one did, creating nothing.
Should the first one fail and roll back, its claim goes with it and the form can be sent again.
A form sent without a key (a script, an old page) is not deduplicated.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.core import clock
from app.extensions import db
from app.models import FormSubmission

#: how long a submission key is remembered unless ``FORM_SUBMISSION_KEY_HOURS`` says otherwise
DEFAULT_KEY_HOURS = 48


def _key(form) -> str | None:
    field = getattr(form, "submission_key", None)
    return (field.data or "").strip() or None if field is not None else None


def resent(form) -> Response | None:
    """Claim the form's submission key; a redirect when it was sent before, else ``None``.

    Call it first thing after validation, before anything is written: on a resend the
    transaction is rolled back.
    """
    key = _key(form)
    if key is None:
        return None
    user_id = current_user.id if current_user.is_authenticated else None
    db.session.add(FormSubmission(key=key, endpoint=request.endpoint or "", user_id=user_id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
    else:
        return None
    first = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    flash(_("This form had already been sent: it was saved once."), "info")
    return redirect(first.redirect_to if first and first.redirect_to else request.url)


def answered(form, target: str) -> None:
    """Remember where the first sending of the form was sent on (the caller commits)."""
    key = _key(form)
    if key is None:
        return
    claim = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    if claim is not None:
        claim.redirect_to = target


def key_lifetime() -> timedelta:
    hours = current_app.config.get("FORM_SUBMISSION_KEY_HOURS") or DEFAULT_KEY_HOURS
    return timedelta(hours=hours)


def purge_expired() -> int:
    """Forget submission keys older than their lifetime; the number forgotten (caller commits)."""
    cutoff = clock.utc_now() - key_lifetime()
    result = db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < cutoff))
    return result.rowcount or 0
