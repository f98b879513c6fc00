"""Background jobs: followed by whoever started them, admins and the change lead of the job's
pilot; everyone else (staff, another analyst, the public) gets the same 404 as for a job
that does not exist. ``setup`` makes a done job of a pilot the change lead owns, started by
the analyst, with a file."""

from __future__ import annotations

from app.extensions import db
from app.models import Job, JobStatus, Pilot
from tests.access.rules import ALL_SEEING, get, post

FOLLOWERS = frozenset({"admin", "change_lead", "analyst"})


def setup(world) -> None:
    pilot = Pilot(name="A pilot with jobs", owner_id=world.users["change_lead"].id)
    db.session.add(pilot)
    db.session.flush()
    job = Job(
        kind="report_pdf",
        func_path="app.reports.jobs:pdf_job",
        status=JobStatus.DONE,
        percent=100,
        pilot_id=pilot.id,
        created_by_id=world.users["analyst"].id,
        output=b"%PDF-1.7",
        result={"endpoint": "jobs.download", "values": {"job_id": 0}, "filename": "r.pdf"},
    )
    db.session.add(job)
    db.session.flush()
    world.job = job


def _j(path: str):
    return lambda w: f"/jobs/{w.job.id}{path}"


RULES = {
    "jobs.status": get(_j(""), FOLLOWERS, denied=404, anon_denied=404),
    "jobs.page": get(_j("/page"), FOLLOWERS, denied=404, anon_denied=404),
    "jobs.download": get(_j("/download"), FOLLOWERS, denied=404, anon_denied=404),
    "reports.export_pdf_job": post(
        lambda w: f"/reports/{w.report.id}/export.pdf", ALL_SEEING, ok=frozenset({302})
    ),
}
