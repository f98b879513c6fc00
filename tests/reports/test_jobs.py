"""Where snapshots are computed: synchronously in tests, a thread by default, RQ with Redis."""

from __future__ import annotations

import threading
import uuid

import pytest

from app.extensions import db
from app.models import Report, ReportStatus, Role
from app.reports import jobs as report_jobs
from app.reports import snapshots as service


def test_runner_choice(app):
    assert isinstance(report_jobs.get_runner(app), report_jobs.SyncRunner)  # TESTING
    app.extensions.pop("report_runner")
    app.testing = False
    try:
        app.config["REDIS_URL"] = None
        assert isinstance(report_jobs.get_runner(app), report_jobs.ThreadRunner)
        app.extensions.pop("report_runner")
        app.config["REPORT_RUNNER"] = "bogus"
        with pytest.raises(ValueError, match="REPORT_RUNNER"):
            report_jobs.get_runner(app)
    finally:
        app.testing = True
        app.config.pop("REPORT_RUNNER", None)
        app.extensions.pop("report_runner", None)


def test_the_page_shows_progress_while_a_job_computes(client, auth, report_pilot):
    class Parked:
        name = "parked"
        submitted: list[int] = []

        def submit(self, report_id: int) -> None:
            self.submitted.append(report_id)

    pilot = report_pilot()
    runner = Parked()
    client.application.extensions["report_runner"] = runner
    auth.login(Role.ANALYST)
    response = client.post(f"/reports/pilot/{pilot.id}/create")
    report = db.session.scalars(db.select(Report)).one()
    assert runner.submitted == [report.id]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="progress"' in page and f"/reports/{report.id}/status" in page
    status = client.get(f"/reports/{report.id}/status").get_json()
    assert status["done"] is False and status["status"] == "computing"
    # exports wait for the snapshot
    assert client.get(f"/reports/{report.id}/export.json").status_code == 404

    report_jobs.SyncRunner().submit(report.id)
    assert client.get(f"/reports/{report.id}/status").get_json()["done"] is True


def test_thread_runner_computes_in_the_background(app, report_pilot):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    runner = report_jobs.ThreadRunner(app)
    runner.submit(report.id)
    runner.join(report.id, timeout=120)
    assert not runner.threads[report.id].is_alive()
    db.session.expire_all()
    report = db.session.get(Report, report.id)
    assert report.status is ReportStatus.DRAFT, report.error
    assert report.progress == 100


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
    runner = report_jobs.RqRunner("redis://127.0.0.1:6379/15", queue_name=queue_name)
    try:
        runner.submit(report.id)
        queue = Queue(queue_name, connection=connection)
        assert queue.count == 1
        assert queue.jobs[0].func_name == "app.reports.jobs.run_job"
        # A worker in this process shares the test's app context (and in-memory database).
        worker = SimpleWorker([queue], connection=connection)
        assert worker.work(burst=True)
        db.session.expire_all()
        report = db.session.get(Report, report.id)
        assert report.status is ReportStatus.DRAFT, report.error
    finally:
        Queue(queue_name, connection=connection).delete(delete_jobs=True)


def test_an_unreachable_redis_falls_back_to_a_thread(app, report_pilot):
    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    app.extensions["report_runner"] = report_jobs.RqRunner("redis://127.0.0.1:1/0")
    try:
        with app.test_request_context():
            assert report_jobs.submit(report.id) == "thread"
    finally:
        app.extensions.pop("report_runner", None)
    for thread in list(threading.enumerate()):
        if thread.name == f"report-{report.id}":
            thread.join(120)
    db.session.expire_all()
    assert db.session.get(Report, report.id).status is ReportStatus.DRAFT
