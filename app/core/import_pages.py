"""The pages of every import, written once: upload → stash → preview → confirm → apply.

An area's view loads what it guards (the pilot, with its access rule), builds its
:class:`~app.core.imports.ImportKind` and hands over to :func:`upload_page` or
:func:`preview_page`. Those read the request (the upload, the column choices ``map_<field>``
of the preview form), keep the file between the two steps (owner-bound, in the upload stash
of :mod:`app.core.tables`, parsed once: later pages read the rows its first reading kept),
render ``imports/preview.html`` and, on confirmation, apply the
plan, commit once, flash the kind's message and redirect. The workflow steps themselves are
in :mod:`app.core.imports`.

A confirmed import of more than ``IMPORT_JOB_ROWS`` rows runs as a background job
(:mod:`app.core.jobs`) when the view says how a worker rebuilds its kind (``rebuild``: the
path of a function taking JSON arguments, and those arguments): the job checks the rows
again, writes them, commits and points the page that follows it to ``done_url``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import SubmitField

from app.core import imports, tables
from app.core import jobs as core_jobs
from app.core.i18n import N_
from app.core.imports import Field, ImportKind
from app.extensions import db


class ConfirmImportForm(FlaskForm):
    """Only the CSRF token; the column choices come as ``map_<field>`` fields."""

    submit = SubmitField(_l("Import"))


def chosen_mapping(source: Mapping[str, str], fields: list[Field]) -> dict[str, str] | None:
    """The user's column choices (``map_<field>``) from a preview form, if any."""
    if not any(f"map_{f.name}" in source for f in fields):
        return None
    return {f.name: source.get(f"map_{f.name}", "") for f in fields}


def upload_page(
    kind: ImportKind,
    form: FlaskForm,
    *,
    preview_url: Callable[[str, str], str],
    template: str,
    **context: Any,
):
    """GET: the upload form. POST: keep the file and go to ``preview_url(token, filename)``.

    ``form`` has a ``file`` field; ``template`` gets ``form``, ``kind`` and ``context``.
    """
    if form.validate_on_submit():
        upload = form.file.data
        try:
            token = tables.stash_upload(upload, owner=current_user.id)
        except OSError:
            flash(_("The file could not be stored. Try again."), "danger")
        else:
            return redirect(preview_url(token, upload.filename))
    status = 422 if form.is_submitted() else 200
    return render_template(template, form=form, kind=kind, **context), status


def preview_page(
    kind: ImportKind,
    token: str,
    *,
    back_url: str,
    done_url: str,
    carry: Mapping[str, str] | None = None,
    rebuild: tuple[str, dict[str, Any]] | None = None,
    pilot_id: int | None = None,
):
    """GET: the preview (nothing written). POST: import atomically, then go to ``done_url``.

    ``carry`` are query values the kind needs again (the feedback form's audience); the
    file's name travels as ``name``. With ``rebuild`` (``("app.area.module:function",
    {json arguments})`` returning the kind) a file over ``IMPORT_JOB_ROWS`` rows is imported
    by a background job, whose progress page the user is sent to (``pilot_id``: the pilot
    whose change lead may follow it too).
    """
    path = tables.stashed_path(token, owner=current_user.id)
    if path is None:
        flash(_("That upload has expired. Upload the file again."), "warning")
        abort(404)
    filename = request.args.get("name") or None
    form = ConfirmImportForm()
    posted = request.method == "POST"
    fields = kind.fields()
    chosen = chosen_mapping(request.form if posted else request.args, fields)
    # parsed once per upload: every later preview and the confirmation read the kept rows
    source = tables.StashedUpload(path, filename)
    preview = imports.preview(kind, source, chosen, filename=filename)
    if posted and form.validate_on_submit() and preview.ok:
        if rebuild is not None and preview.plan.n_rows > current_app.config["IMPORT_JOB_ROWS"]:
            job = core_jobs.submit(
                f"import_{kind.name}",
                "app.core.import_pages:import_job",
                by=current_user,
                pilot=pilot_id,
                rebuild=list(rebuild),
                token=token,
                owner_id=current_user.id,
                chosen=chosen,
                filename=filename,
                done_url=done_url,
                title=str(kind.title),
            )
            return redirect(url_for("jobs.page", job_id=job.id))
        try:
            outcome = imports.apply(kind, preview.plan, by=current_user, filename=filename)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            message = _(
                "Another import changed the same data at the same time. Nothing was "
                "imported; preview again."
            )
            flash(message, "danger")
            return redirect(request.url)
        tables.drop_stash(token)
        flash(kind.done_message(outcome), "success")
        return redirect(done_url)
    page = render_template(
        "imports/preview.html",
        kind=kind,
        preview=preview,
        plan=preview.plan,
        fields=fields,
        form=form,
        filename=filename,
        carry={"name": filename, **(carry or {})},
        back_url=back_url,
    )
    return page, 422 if posted else 200


def import_job(
    progress: core_jobs.Progress,
    rebuild: list[Any],
    token: str,
    owner_id: int,
    chosen: dict[str, str] | None,
    filename: str | None,
    done_url: str,
    title: str,
) -> dict[str, Any]:
    """Work function of a big import: check the stashed rows again, write them, commit."""
    from werkzeug.utils import import_string

    from app.models import User

    factory, arguments = rebuild
    kind = import_string(factory.replace(":", "."))(**arguments)
    path = tables.stashed_path(token, owner=owner_id)
    if path is None:
        raise core_jobs.JobError(N_("That upload has expired. Upload the file again."))
    progress(5, N_("checking the rows"))
    preview = imports.preview(kind, tables.StashedUpload(path, filename), chosen, filename=filename)
    if not preview.ok:
        raise core_jobs.JobError(
            N_("The file has problems; nothing was imported. Preview it again to see them.")
        )
    # No progress call between the check and the write: progress commits the session, and
    # the checked rows wait in a staging table that lives as long as this transaction.
    user = db.session.get(User, owner_id)
    try:
        outcome = imports.apply(kind, preview.plan, by=user, filename=filename)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise core_jobs.JobError(
            "Another import changed the same data at the same time. Nothing was "
            "imported; preview again."
        ) from exc
    tables.drop_stash(token)
    return {
        "endpoint": "jobs.page",
        "values": {"job_id": progress.job_id},
        "next_url": done_url,
        "notice": str(kind.done_message(outcome)),
        "title": title,
    }
