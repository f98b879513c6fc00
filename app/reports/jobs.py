"""Report work that runs as background jobs (``app.core.jobs``): snapshots and PDF exports.

The view commits a ``computing`` report and calls :func:`submit_snapshot`; the job computes it
(progress by metric, mirrored on the report's own ``progress`` for its status page) and its
result is the report's page. :func:`submit_pdf` renders a finished report's PDF in a job and
stores it on the job; the page then downloads it from ``jobs.download``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from flask import current_app, has_request_context
from flask_babel import force_locale

from app.core import jobs as core_jobs
from app.core.i18n import N_
from app.extensions import db
from app.models import Job, Report, ReportStatus

#: the queue an RQ worker listens on (all jobs share it)
QUEUE_NAME = core_jobs.QUEUE_NAME
SNAPSHOT = "report_snapshot"
PDF = "report_pdf"


def submit_snapshot(report: Report, by: Any = None) -> Job:
    """Compute a committed ``computing`` report in a job."""
    return core_jobs.submit(
        SNAPSHOT,
        "app.reports.jobs:snapshot_job",
        by=by,
        subject=("report", report.id),
        pilot=report.pilot_id,
        report_id=report.id,
    )


def snapshot_job(report_id: int, progress: core_jobs.ProgressFn) -> dict[str, Any]:
    """Work function: compute the snapshot; the report's page is the result."""
    from app.reports.snapshots import compute_report

    def step(percent: int, message: str) -> None:
        report = db.session.get(Report, report_id)
        if report is not None:
            report.progress, report.progress_step = percent, message
        progress(percent, message)  # commits both

    report = compute_report(report_id, progress=step)
    if report.status is ReportStatus.FAILED:
        raise core_jobs.JobError(report.error or core_jobs.UNEXPECTED_MESSAGE)
    return {"endpoint": "reports.detail", "values": {"report_id": report_id}}


def submit_pdf(report: Report, locale: str, by: Any = None) -> Job:
    """Render a finished report's PDF in a job (in ``locale``)."""
    return core_jobs.submit(
        PDF,
        "app.reports.jobs:pdf_job",
        by=by,
        subject=("report", report.id),
        pilot=report.pilot_id,
        report_id=report.id,
        locale=locale,
    )


def pdf_job(report_id: int, locale: str, progress: core_jobs.Progress) -> dict[str, Any]:
    """Work function: the report's PDF, stored on the job; the result is its download."""
    from app.reports import exports

    report = db.session.get(Report, report_id)
    if report is None or not report.is_finished or not report.results:
        raise core_jobs.JobError(N_("The report has no finished snapshot to print."))
    progress(10, N_("rendering"))
    with ExitStack() as stack:
        if not has_request_context():  # a worker: the templates need a request of this area
            path = current_app.url_map.bind("localhost").build(
                "reports.export_pdf", {"report_id": report_id}
            )
            stack.enter_context(current_app.test_request_context(path))
        stack.enter_context(force_locale(locale))
        data = exports.pdf_bytes(report, locale)
        name = exports.filename(report, "pdf")
    job = db.session.get(Job, progress.job_id)
    job.output = data
    db.session.flush()
    return {
        "endpoint": "jobs.download",
        "values": {"job_id": job.id},
        "filename": name,
        "mimetype": "application/pdf",
    }
