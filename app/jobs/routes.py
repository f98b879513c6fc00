"""Following a background job: its status as JSON (polled by the progress bar) and its file.

Only the job's creator, admins and the change lead of its pilot may read a job; anyone else
(signed in or not) gets the same 404 as for a job that does not exist.
"""

from __future__ import annotations

from flask import Response, abort, jsonify, render_template
from flask_babel import gettext as _

from app.auth.permissions import get_job_or_none
from app.core import jobs as core_jobs
from app.errors.handlers import api_error
from app.extensions import db
from app.jobs import bp
from app.models import JobStatus


def _not_found():
    return api_error(404, "not_found", _("There is no such job, or it is not yours to see."))


@bp.get("/<int:job_id>")
def status(job_id: int):
    job = get_job_or_none(job_id)
    if job is None:
        return _not_found()
    if core_jobs.fail_if_stalled(job):
        db.session.commit()
    response = jsonify(core_jobs.status_of(job))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:job_id>/page")
def page(job_id: int):
    """A job's own page (big imports): its progress bar, then what it did and where next."""
    job = get_job_or_none(job_id)
    if job is None:
        abort(404)
    if core_jobs.fail_if_stalled(job):
        db.session.commit()
    return render_template("jobs/page.html", job=job, result=job.result or {})


@bp.get("/<int:job_id>/download")
def download(job_id: int):
    """The file a finished job made (a PDF export), as an attachment."""
    job = get_job_or_none(job_id)
    if job is None or job.status is not JobStatus.DONE or job.output is None:
        return _not_found()
    result = job.result or {}
    response = Response(job.output, mimetype=result.get("mimetype", "application/octet-stream"))
    filename = result.get("filename") or f"job-{job.id}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_template_global()
def job_status(job) -> dict:
    """For ``_job_progress.html``: what the status endpoint would answer now."""
    return core_jobs.status_of(job)
