"""The upload → preview → import pages shared by site and observation imports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.core import tables as tabular
from app.core.errors import ImportFailed, RowError
from app.extensions import db
from app.models import Pilot
from app.sites.forms import ConfirmForm
from app.sites.observation_import import (
    OBSERVATION_ALIASES,
    apply_observations,
    plan_observations,
)

PREVIEW_ROWS = 8


def chosen_mapping(source: Any, fields: list[str]) -> dict[str, str] | None:
    """The user's column choices (``map_<field>``) from a preview form, if any."""
    if not any(f"map_{f}" in source for f in fields):
        return None
    return {f: source.get(f"map_{f}", "") for f in fields}


def stash_or_error(form) -> str | None:
    try:
        return tabular.stash_upload(form.file.data, owner=current_user.id)
    except OSError:
        flash(_("The file could not be stored. Try again."), "danger")
        return None


def stashed_or_404(token: str) -> str:
    path = tabular.stashed_path(token, owner=current_user.id)
    if path is None:
        flash(_("That upload has expired. Upload the file again."), "warning")
        abort(404)
    return path


def head_of(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Columns and first rows of a stored upload, for the preview table."""
    for chunk in tabular.iter_upload(path, chunk_rows=PREVIEW_ROWS):
        rows = [(int(i), list(r)) for i, r in zip(chunk.index, chunk.values.tolist(), strict=True)]
        return list(chunk.columns), rows
    return [], []


def observations_preview(
    token: str,
    *,
    pilot: Pilot | None,
    back_url: str,
    done_url: Callable[[], str],
    filename: str | None,
):
    """GET: preview (validate, nothing written). POST: import atomically."""
    path = stashed_or_404(token)
    form = ConfirmForm()
    fields = list(OBSERVATION_ALIASES)
    source = request.form if request.method == "POST" else request.args
    chosen = chosen_mapping(source, fields)
    plan = None
    failure: list[RowError] = []
    columns: list[str] = []
    rows: list = []
    try:
        columns, rows = head_of(path)
        plan = plan_observations(
            tabular.iter_upload(path), pilot=pilot, chosen=chosen, source=filename
        )
    except ImportFailed as exc:
        failure = exc.errors
    if request.method == "POST" and form.validate_on_submit() and plan is not None and plan.ok:
        try:
            batch = apply_observations(plan, by=current_user, filename=filename)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            flash(
                _("Another import changed the same data at the same time. Nothing was "
                  "imported; preview again."),
                "danger",
            )  # fmt: skip
            return redirect(request.url)
        tabular.drop_stash(token)
        flash(
            _(
                "Imported: %(i)s new, %(u)s updated, %(n)s unchanged values.",
                i=batch.rows_inserted,
                u=batch.rows_updated,
                n=batch.rows_unchanged,
            ),
            "success",
        )
        return redirect(done_url())
    mapping = plan.mapping if plan is not None else (chosen or {})
    return render_template(
        "sites/observations_preview.html",
        plan=plan,
        failure=failure,
        columns=columns,
        rows=rows,
        fields=fields,
        mapping=mapping,
        form=form,
        pilot=pilot,
        back_url=back_url,
        filename=filename,
    )
