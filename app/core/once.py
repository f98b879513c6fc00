"""One-time keys of back-office forms: a resent POST is answered like its first sending.

A create form carries a hidden one-time ``submission_key`` (``OnceFormMixin`` in
``app.core.formfields``, which speaks to the request and answers with redirects), fresh on
every page it is rendered on. The view claims the key before it acts, in the same
transaction, and records where its answer pointed::

    if form.validate_on_submit():
        if (resent := form.resent()) is not None:
            return resent
        pilot = svc.create_pilot(...)
        target = url_for("pilots.wizard", pilot_id=pilot.id, step=2)
        form.answered(target)
        db.session.commit()
        return redirect(target)

The key is unique in ``form_submissions``: of two sendings, the second one's claim waits for the
first to commit, then finds its row and is sent where the first one was, creating nothing.
Should the first one fail and roll back, its claim goes with it and the form can be sent again.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.core import clock
from app.extensions import db
from app.models import FormSubmission

#: how long a submission key is remembered unless ``FORM_SUBMISSION_KEY_HOURS`` says otherwise
DEFAULT_KEY_HOURS = 48


def claim(key: str, *, endpoint: str, user_id: int | None) -> FormSubmission | None:
    """Claim ``key`` for this transaction; the first sending's row when it was claimed before.

    Call it before anything is written: when the key was claimed before, the transaction is
    rolled back.
    """
    db.session.add(FormSubmission(key=key, endpoint=endpoint, user_id=user_id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
    else:
        return None
    return db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))


def answered(key: str, target: str) -> None:
    """Remember where the first sending of ``key`` was sent on (the caller commits)."""
    claimed = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    if claimed is not None:
        claimed.redirect_to = target


def key_lifetime() -> timedelta:
    hours = current_app.config.get("FORM_SUBMISSION_KEY_HOURS") or DEFAULT_KEY_HOURS
    return timedelta(hours=hours)


def purge_expired() -> int:
    """Forget submission keys older than their lifetime; the number forgotten (caller commits)."""
    cutoff = clock.utc_now() - key_lifetime()
    result = db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < cutoff))
    return result.rowcount or 0
