"""Report work as background jobs: snapshots (progress by metric) and PDF exports."""

from __future__ import annotations

import signal
import threading
import uuid

import pytest

from app.core import jobs as core_jobs
from app.extensions import db
from app.models import Job, JobStatus, Report, ReportStatus, Role
from app.reports import jobs as report_jobs
from app.reports import snapshots as service


class Parked:
    """A runner that only notes what it was given (the job stays queued)."""

    name = "parked"

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, job_id: int) -> None:
        self.submitted.append(job_id)


def test_the_page_shows_the_job_progress_while_a_snapshot_computes(client, auth, report_pilot):
    pilot = report_pilot()
    runner = Parked()
    client.application.extensions["job_runner"] = runner
    user = auth.login(Role.ANALYST)
    response = client.post(f"/reports/pilot/{pilot.id}/create")
    report = db.session.scalars(db.select(Report)).one()
    job = db.session.scalars(db.select(Job)).one()
    assert runner.submitted == [job.id]
    assert (job.kind, job.subject, job.subject_id) == ("report_snapshot", "report", report.id)
    assert job.pilot_id == pilot.id and job.created_by_id == user.id
    assert job.status is JobStatus.QUEUED
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="job-progress"' in page and f'data-job-status-url="/jobs/{job.id}"' in page
    assert 'data-job-swap="#report-frame"' in page and 'id="report-frame"' in page
    status = client.get(f"/jobs/{job.id}").get_json()
    assert status["status"] == "queued" and status["result_url"] is None
    # exports wait for the snapshot
    assert client.get(f"/reports/{report.id}/export.json").status_code == 404

    core_jobs.SyncRunner().submit(job.id)
    status = client.get(f"/jobs/{job.id}").get_json()
    assert status == {
        "id": job.id,
        "kind": "report_snapshot",
        "status": "done",
        "percent": 100,
        "message": None,
        "result_url": f"/reports/{report.id}",
    }
    assert client.get(f"/reports/{report.id}/status").get_json()["done"] is True


def test_a_snapshot_job_reports_progress_by_metric_and_stores_the_snapshot(app, report_pilot):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    seen: list[tuple[int, str | None]] = []
    original = core_jobs.Progress.__call__

    def spy(self, percent, message=None):
        seen.append((percent, message))
        original(self, percent, message)

    core_jobs.Progress.__call__ = spy
    try:
        with app.test_request_context():
            job = report_jobs.submit_snapshot(report)
    finally:
        core_jobs.Progress.__call__ = original
    assert job.status is JobStatus.DONE and job.percent == 100
    assert job.started_at is not None and job.finished_at is not None
    report = db.session.get(Report, report.id)
    assert report.status is ReportStatus.DRAFT and report.results and report.data_fingerprint
    keys = list(report.results["comparison"]["metrics"])
    assert len(keys) >= 2
    for key in keys:  # one step per metric, named for it
        assert f"comparing pilot and control sites: {key}" in dict(seen).values()
    by_metric = [p for p, m in seen if m and m.startswith("comparing pilot and control sites: ")]
    assert all(15 <= p < 45 for p in by_metric) and len(set(by_metric)) == len(keys)
    percents = [percent for percent, _ in seen]
    assert percents == sorted(percents) and 0 < percents[0] < 100


def test_a_failing_snapshot_fails_its_job_with_the_reports_message(app, report_pilot, monkeypatch):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()

    def broken(*args, **kwargs):
        raise ValueError("the engine refused: no control sites")

    monkeypatch.setattr(service, "build_snapshot", broken)
    with app.test_request_context():
        job = report_jobs.submit_snapshot(report)
        assert job.status is JobStatus.FAILED
        assert job.message == "ValueError: the engine refused: no control sites"
        assert core_jobs.status_of(job)["result_url"] is None
    assert db.session.get(Report, report.id).status is ReportStatus.FAILED


def test_thread_runner_computes_the_snapshot_in_the_background(app, report_pilot):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    runner = core_jobs.ThreadRunner(app)
    app.extensions["job_runner"] = runner
    try:
        with app.test_request_context():
            job_id = report_jobs.submit_snapshot(report).id
        runner.join(job_id, timeout=120)
    finally:
        app.extensions.pop("job_runner")
    assert not runner.threads[job_id].is_alive()
    db.session.expire_all()
    report = db.session.get(Report, report.id)
    assert report.status is ReportStatus.DRAFT, report.error
    assert report.progress == 100
    assert db.session.get(Job, job_id).status is JobStatus.DONE


def test_the_pdf_is_made_in_a_job_then_downloaded(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    client.post(f"/reports/pilot/{pilot.id}/create")
    report = db.session.scalars(db.select(Report)).one()
    assert report.status is ReportStatus.DRAFT
    response = client.post(f"/reports/{report.id}/export.pdf")
    job = db.session.scalars(db.select(Job).where(Job.kind == "report_pdf")).one()
    assert response.headers["Location"] == f"/reports/{report.id}?pdf_job={job.id}"
    assert job.status is JobStatus.DONE, job.message
    status = client.get(f"/jobs/{job.id}").get_json()
    assert status["result_url"] == f"/jobs/{job.id}/download"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-job-result-url="/jobs/{job.id}/download"' in page
    download = client.get(status["result_url"])
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["Content-Disposition"].endswith('.pdf"')


def test_a_pdf_of_a_report_still_computing_is_refused(client, auth, report_pilot):
    pilot = report_pilot()
    client.application.extensions["job_runner"] = Parked()
    auth.login(Role.ANALYST)
    client.post(f"/reports/pilot/{pilot.id}/create")
    report = db.session.scalars(db.select(Report)).one()
    assert client.post(f"/reports/{report.id}/export.pdf").status_code == 404


def _redis_or_skip():
    try:
        from redis import Redis

        connection = Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.5)
        connection.ping()
    except Exception as exc:
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379 ({exc}): RQ path NOT tested")
    return connection


def test_rq_runner_enqueues_and_a_worker_computes(app, report_pilot):
    connection = _redis_or_skip()
    from rq import Queue, SimpleWorker

    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    queue_name = f"rollwise-test-{uuid.uuid4().hex[:8]}"
    app.extensions["job_runner"] = core_jobs.RqRunner(
        "redis://127.0.0.1:6379/15", queue_name=queue_name
    )
    try:
        with app.test_request_context():
            job_id = report_jobs.submit_snapshot(report).id
        queue = Queue(queue_name, connection=connection)
        assert queue.count == 1
        assert queue.jobs[0].func_name == "app.core.jobs.run"
        assert db.session.get(Job, job_id).status is JobStatus.QUEUED
        # A worker in this process shares the test's app context (and in-memory database).
        worker = SimpleWorker([queue], connection=connection)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            assert worker.work(burst=True)
        finally:  # the worker's stop handlers must not outlive it in the test process
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        db.session.expire_all()
        report = db.session.get(Report, report.id)
        assert report.status is ReportStatus.DRAFT, report.error
        assert db.session.get(Job, job_id).status is JobStatus.DONE
    finally:
        app.extensions.pop("job_runner", None)
        Queue(queue_name, connection=connection).delete(delete_jobs=True)


def test_an_unreachable_redis_falls_back_to_a_thread(app, report_pilot):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    app.extensions["job_runner"] = core_jobs.RqRunner("redis://127.0.0.1:1/0")
    try:
        with app.test_request_context():
            job_id = report_jobs.submit_snapshot(report).id
    finally:
        app.extensions.pop("job_runner", None)
    for thread in list(threading.enumerate()):
        if thread.name == f"job-{job_id}":
            thread.join(120)
    db.session.expire_all()
    assert db.session.get(Report, report.id).status is ReportStatus.DRAFT
    assert db.session.get(Job, job_id).status is JobStatus.DONE


def test_a_worker_outside_any_request_makes_the_same_pdf_job(app, report_pilot):
    """As on a thread or an RQ worker: no request, the report area's templates still render."""
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    with app.test_request_context():
        report_jobs.submit_snapshot(report)
    app.extensions["job_runner"] = Parked()
    try:
        with app.test_request_context():
            job_id = report_jobs.submit_pdf(db.session.get(Report, report.id), "zh_CN").id
    finally:
        app.extensions.pop("job_runner")
    assert core_jobs.execute(job_id) is JobStatus.DONE, db.session.get(Job, job_id).message
    job = db.session.get(Job, job_id)
    assert job.output.startswith(b"%PDF") and job.result["filename"].endswith(".pdf")
