"""Background jobs (app/core/jobs.py): their states through each runner, the status endpoint
and who may read it, failures told in plain words, and jobs whose worker died."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from app.core import clock
from app.core import jobs as core_jobs
from app.extensions import db
from app.models import Job, JobStatus, Role

#: the test's work functions, run by the jobs below
GATE = {"halfway": threading.Event(), "go_on": threading.Event()}


def counted_work(progress, rows: int, stop_halfway: bool = False):
    """Counts ``rows`` in two halves; can wait half-way for the test to look."""
    progress(10, "reading")
    if stop_halfway:
        progress(50, f"{rows // 2} of {rows} rows")
        GATE["halfway"].set()
        assert GATE["go_on"].wait(30), "the test never let the job go on"
    progress(90, "writing")
    return {"url": f"/counted/{rows}", "rows": rows}


def refused_work(progress, reason: str):
    progress(20, "checking")
    raise core_jobs.JobError(reason)


def crashing_work(progress):
    progress(5, "starting")
    raise ZeroDivisionError("division by zero in step 2")


HERE = "tests.web.test_jobs"


@pytest.fixture
def thread_runner(app):
    runner = core_jobs.ThreadRunner(app)
    app.extensions["job_runner"] = runner
    for event in GATE.values():
        event.clear()
    yield runner
    GATE["go_on"].set()  # a test that failed half-way lets its thread end
    for thread in runner.threads.values():
        thread.join(30)
    app.extensions.pop("job_runner", None)


def _read(job_id: int) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


# ---------------------------------------------------------------- states


def test_a_job_goes_queued_running_done_on_the_thread_runner(app, thread_runner):
    with app.test_request_context():
        job = core_jobs.submit("count", f"{HERE}:counted_work", rows=1000, stop_halfway=True)
    job_id = job.id
    assert job.kind == "count" and job.arguments == {"rows": 1000, "stop_halfway": True}
    assert GATE["halfway"].wait(30)
    running = _read(job_id)
    assert running.status is JobStatus.RUNNING
    assert (running.percent, running.message) == (50, "500 of 1000 rows")
    assert running.started_at is not None and running.finished_at is None
    GATE["go_on"].set()
    thread_runner.join(job_id, 30)
    done = _read(job_id)
    assert done.status is JobStatus.DONE and done.percent == 100 and done.message is None
    assert done.result == {"url": "/counted/1000", "rows": 1000}
    assert done.finished_at >= done.started_at


def test_a_job_waits_queued_until_a_runner_takes_it(app):
    class Parked:
        name = "parked"
        submitted: list[int] = []

        def submit(self, job_id: int) -> None:
            self.submitted.append(job_id)

    app.extensions["job_runner"] = Parked()
    try:
        with app.test_request_context():
            job = core_jobs.submit("count", f"{HERE}:counted_work", rows=10)
    finally:
        app.extensions.pop("job_runner")
    assert Parked.submitted == [job.id]
    assert _read(job.id).status is JobStatus.QUEUED and job.percent == 0
    assert core_jobs.execute(job.id) is JobStatus.DONE
    # a job is run once: a second delivery (an RQ retry) changes nothing
    assert core_jobs.execute(job.id) is JobStatus.DONE
    assert _read(job.id).result["rows"] == 10


def test_the_sync_runner_finishes_before_submit_returns(app):
    assert isinstance(core_jobs.get_runner(app), core_jobs.SyncRunner)  # TESTING
    with app.test_request_context():
        job = core_jobs.submit("count", f"{HERE}:counted_work", rows=4)
    assert job.status is JobStatus.DONE and job.result["rows"] == 4
    assert core_jobs.status_of(job)["result_url"] == "/counted/4"


@pytest.mark.parametrize("runner_name", ["sync", "thread"])
def test_a_refused_job_fails_with_its_own_message(app, thread_runner, runner_name):
    if runner_name == "sync":
        app.extensions["job_runner"] = core_jobs.SyncRunner()
    with app.test_request_context():
        job = core_jobs.submit("check", f"{HERE}:refused_work", reason="Row 3 has no date.")
    thread_runner.join(job.id, 30)
    failed = _read(job.id)
    assert failed.status is JobStatus.FAILED and failed.message == "Row 3 has no date."
    assert failed.percent == 20 and failed.finished_at is not None and failed.result is None


def test_an_unexpected_error_is_logged_and_told_in_plain_words(app, caplog):
    with caplog.at_level(logging.ERROR, logger="app.core.jobs"), app.test_request_context():
        job = core_jobs.submit("crash", f"{HERE}:crashing_work")
    assert job.status is JobStatus.FAILED
    assert job.message == core_jobs.UNEXPECTED_MESSAGE
    assert "Traceback" not in job.message and "ZeroDivisionError" not in job.message
    record = next(r for r in caplog.records if "crash" in r.getMessage())
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError


def test_an_unknown_runner_is_a_configuration_error(app):
    app.extensions.pop("job_runner", None)
    app.config["JOB_RUNNER"] = "bogus"
    try:
        with pytest.raises(ValueError, match="JOB_RUNNER"):
            core_jobs.get_runner(app)
    finally:
        app.config["JOB_RUNNER"] = None


def test_the_runner_follows_the_settings(app):
    app.testing = False
    try:
        for settings, expected in [
            ({"REDIS_URL": None}, core_jobs.ThreadRunner),
            ({"REDIS_URL": "redis://127.0.0.1:6379/15"}, core_jobs.RqRunner),
            (
                {"REDIS_URL": "redis://127.0.0.1:6379/15", "JOB_RUNNER": "thread"},
                core_jobs.ThreadRunner,
            ),
            ({"REDIS_URL": None, "REPORT_RUNNER": "sync"}, core_jobs.SyncRunner),
        ]:
            app.extensions.pop("job_runner", None)
            app.config.update({"JOB_RUNNER": None, "REPORT_RUNNER": None, **settings})
            assert isinstance(core_jobs.get_runner(app), expected), settings
    finally:
        app.testing = True
        app.config.update(JOB_RUNNER=None, REPORT_RUNNER=None, REDIS_URL=None)
        app.extensions.pop("job_runner", None)


# ---------------------------------------------------------------- dead jobs


def test_a_job_without_news_is_shown_failed_after_the_timeout(app, client, auth):
    user = auth.login(Role.ANALYST)
    quiet_for = timedelta(seconds=app.config["JOB_STALLED_AFTER"])
    now = clock.utc_now()
    fresh = Job(
        kind="count",
        func_path="x:y",
        status=JobStatus.RUNNING,
        created_by_id=user.id,
        started_at=now,
        heartbeat_at=now - quiet_for + timedelta(minutes=1),
    )
    dead = Job(
        kind="count",
        func_path="x:y",
        status=JobStatus.RUNNING,
        created_by_id=user.id,
        started_at=now - quiet_for * 2,
        heartbeat_at=now - quiet_for - timedelta(seconds=5),
    )
    never_taken = Job(
        kind="count",
        func_path="x:y",
        status=JobStatus.QUEUED,
        created_by_id=user.id,
        created_at=now - quiet_for - timedelta(seconds=5),
    )
    db.session.add_all([fresh, dead, never_taken])
    db.session.commit()
    assert client.get(f"/jobs/{fresh.id}").get_json()["status"] == "running"
    for job in (dead, never_taken):
        body = client.get(f"/jobs/{job.id}").get_json()
        assert body["status"] == "failed", job.status
        assert body["message"] == core_jobs.STALLED_MESSAGE
        assert _read(job.id).finished_at is not None
    # a dead job that comes back to life does not run over its failure
    assert core_jobs.execute(dead.id) is JobStatus.FAILED


# ---------------------------------------------------------------- status endpoint and access


@pytest.fixture
def owned_job(make_pilot, make_user):
    """A job of a pilot owned by one change lead, started by an analyst."""
    lead = make_user(Role.CHANGE_LEAD)
    starter = make_user(Role.ANALYST)
    pilot = make_pilot(owner=lead)
    job = Job(
        kind="count",
        func_path=f"{HERE}:counted_work",
        status=JobStatus.RUNNING,
        percent=40,
        message="2 of 5",
        pilot_id=pilot.id,
        created_by_id=starter.id,
        started_at=clock.utc_now(),
        heartbeat_at=clock.utc_now(),
    )
    db.session.add(job)
    db.session.commit()
    return {"job": job, "lead": lead, "starter": starter}


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("starter", 200),
        ("lead", 200),  # the change lead of the job's pilot
        (Role.ADMIN, 200),
        (Role.CHANGE_LEAD, 404),  # another pilot's lead
        (Role.ANALYST, 404),  # another analyst
        (Role.STAFF, 404),
        ("anonymous", 404),
    ],
)
def test_who_may_read_a_jobs_status(client, auth, owned_job, who, status):
    job = owned_job["job"]
    if who in ("starter", "lead"):
        auth.login(user=owned_job[who])
    elif who != "anonymous":
        auth.login(who)
    response = client.get(f"/jobs/{job.id}")
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    if status == 200:
        assert body == {
            "id": job.id,
            "kind": "count",
            "status": "running",
            "percent": 40,
            "message": "2 of 5",
            "result_url": None,
        }
        assert response.headers["Cache-Control"] == "no-store"
    else:
        assert body["error"]["code"] == "not_found" and "percent" not in body


def test_a_missing_job_and_a_foreign_job_answer_the_same(client, auth, owned_job):
    auth.login(Role.ANALYST)
    foreign = client.get(f"/jobs/{owned_job['job'].id}")
    missing = client.get("/jobs/999999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()


def test_a_job_file_is_served_to_its_readers_only_when_done(client, auth, owned_job):
    job = owned_job["job"]
    auth.login(user=owned_job["starter"])
    assert client.get(f"/jobs/{job.id}/download").status_code == 404  # still running
    job.status, job.output = JobStatus.DONE, b"%PDF-1.7 test"
    job.result = {
        "endpoint": "jobs.download",
        "values": {"job_id": job.id},
        "filename": "report.pdf",
        "mimetype": "application/pdf",
    }
    db.session.commit()
    assert client.get(f"/jobs/{job.id}").get_json()["result_url"] == f"/jobs/{job.id}/download"
    response = client.get(f"/jobs/{job.id}/download")
    assert response.data == b"%PDF-1.7 test" and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    auth.logout()
    auth.login(Role.ANALYST)
    assert client.get(f"/jobs/{job.id}/download").status_code == 404


def test_messages_are_shown_in_the_readers_language(client, auth, make_user):
    user = make_user(Role.ANALYST, locale="zh_CN")
    auth.login(user=user)
    stalled = Job(
        kind="count",
        func_path="x:y",
        status=JobStatus.FAILED,
        created_by_id=user.id,
        message=core_jobs.STALLED_MESSAGE,
    )
    step = Job(
        kind="count",
        func_path="x:y",
        status=JobStatus.RUNNING,
        created_by_id=user.id,
        message="comparing pilot and control sites: wait_min",
        heartbeat_at=clock.utc_now(),
    )
    db.session.add_all([stalled, step])
    db.session.commit()
    assert client.get(f"/jobs/{stalled.id}").get_json()["message"] == (
        "任务未完成就停止了（后台进程或服务器重启）。请重新开始。"
    )
    assert client.get(f"/jobs/{step.id}").get_json()["message"] == (
        "正在比较试点门店与对照门店: wait_min"
    )


# ---------------------------------------------------------------- big imports


def _upload_pilot_data(client, auth, make_site, make_metric, make_pilot):
    from datetime import date

    from tests.conftest import post_file
    from tests.sites.test_observation_import import LONG, setup_world

    a, b, _, _ = setup_world(make_site, make_metric)
    pilot = make_pilot(sites=[a, b], n_pilot=1, n_control=1, start_date=date(2026, 10, 1))
    auth.login(Role.CHANGE_LEAD)
    upload = post_file(client, f"/pilots/{pilot.id}/data/import", LONG.encode(), "pos.csv")
    return pilot, upload.headers["Location"]


def _stored_observations() -> int:
    from app.models import Observation

    return db.session.scalar(db.select(db.func.count(Observation.id)))


def test_an_import_over_the_row_threshold_runs_as_a_job(
    app, client, auth, make_site, make_metric, make_pilot
):
    app.config["IMPORT_JOB_ROWS"] = 2  # the file has 3 rows
    pilot, url = _upload_pilot_data(client, auth, make_site, make_metric, make_pilot)
    response = client.post(url, data={})
    job = db.session.scalars(db.select(Job)).one()
    assert response.headers["Location"] == f"/jobs/{job.id}/page"
    assert (job.kind, job.pilot_id, job.status) == ("import_observations", pilot.id, JobStatus.DONE)
    assert _stored_observations() == 3
    page = client.get(f"/jobs/{job.id}/page").get_data(as_text=True)
    assert "Imported: 3 new, 0 updated, 0 unchanged values." in page
    assert f'href="/pilots/{pilot.id}"' in page and "job-progress" not in page
    assert client.get(f"/jobs/{job.id}").get_json()["result_url"] == f"/jobs/{job.id}/page"


def test_an_import_under_the_threshold_is_written_at_once(
    app, client, auth, make_site, make_metric, make_pilot
):
    app.config["IMPORT_JOB_ROWS"] = 3
    pilot, url = _upload_pilot_data(client, auth, make_site, make_metric, make_pilot)
    assert client.post(url, data={}).headers["Location"].endswith(f"/pilots/{pilot.id}")
    assert db.session.scalars(db.select(Job)).all() == [] and _stored_observations() == 3


def test_a_queued_import_shows_its_progress_and_a_lost_upload_fails_in_words(
    app, client, auth, make_site, make_metric, make_pilot
):
    from app.core import tables

    app.config["IMPORT_JOB_ROWS"] = 2
    app.extensions["job_runner"] = parked = type("Parked", (), {"name": "parked"})()
    parked.submit = lambda job_id: None
    try:
        _, url = _upload_pilot_data(client, auth, make_site, make_metric, make_pilot)
        job_page = client.post(url, data={}).headers["Location"]
    finally:
        app.extensions.pop("job_runner")
    job = db.session.scalars(db.select(Job)).one()
    page = client.get(job_page).get_data(as_text=True)
    assert 'data-testid="job-progress"' in page and 'data-job-swap="#job-page"' in page
    tables.drop_stash(job.arguments["token"])  # e.g. the stash was cleaned meanwhile
    assert core_jobs.execute(job.id) is JobStatus.FAILED
    body = client.get(f"/jobs/{job.id}").get_json()
    assert body["status"] == "failed"
    assert body["message"] == "That upload has expired. Upload the file again."
    assert _stored_observations() == 0


# ---------------------------------------------------------------- RQ with a real worker


RQ_REDIS_URL = "redis://127.0.0.1:6379/14"


def test_an_rq_worker_process_runs_the_jobs_and_stores_their_states(tmp_path):
    """Real Redis, a real ``rq worker`` process building the app from its environment, and
    one database file shared with it: a job is done with its result, another fails in words."""
    import os
    import shutil
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from app import create_app
    from app.config import TestConfig

    try:
        from redis import Redis

        connection = Redis.from_url(RQ_REDIS_URL, socket_connect_timeout=1)
        connection.ping()
    except Exception as exc:
        message = f"Redis is not reachable at {RQ_REDIS_URL} ({exc}): the RQ worker is NOT tested"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run it)")
        pytest.skip(message)
    rq = shutil.which("rq", path=str(Path(sys.executable).parent)) or shutil.which("rq")
    if rq is None:
        pytest.fail("rq is not installed next to Python")
    root = Path(__file__).resolve().parents[2]
    database = f"sqlite:///{tmp_path / 'jobs.db'}"

    class FileConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = database

    app = create_app(FileConfig)
    queue_name = f"rollwise-test-{uuid.uuid4().hex[:8]}"
    app.extensions["job_runner"] = core_jobs.RqRunner(RQ_REDIS_URL, queue_name=queue_name)
    from rq import Queue

    try:
        with app.app_context():
            db.create_all()
            with app.test_request_context():
                counted = core_jobs.submit("count", f"{HERE}:counted_work", rows=7).id
                refused = core_jobs.submit("check", f"{HERE}:refused_work", reason="No sites.").id
            assert Queue(queue_name, connection=connection).count == 2
            assert db.session.get(Job, counted).status is JobStatus.QUEUED
            db.session.remove()
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "ROLLWISE_ENV": "development",
            "SECRET_KEY": "rq-worker-test-secret",
            "DATABASE_URL": database,
            "REDIS_URL": RQ_REDIS_URL,
            "OPENBLAS_NUM_THREADS": "1",
        }
        worker = subprocess.run(
            [rq, "worker", queue_name, "--url", RQ_REDIS_URL, "--burst", "--quiet"],
            cwd=root,
            env=env,
            timeout=180,
            capture_output=True,
            text=True,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        with app.app_context():
            done = db.session.get(Job, counted)
            assert done.status is JobStatus.DONE and done.percent == 100
            assert done.result == {"url": "/counted/7", "rows": 7}
            failed = db.session.get(Job, refused)
            assert (failed.status, failed.message) == (JobStatus.FAILED, "No sites.")
            db.session.remove()
            db.engine.dispose()
    finally:
        Queue(queue_name, connection=connection).delete(delete_jobs=True)


# ---------------------------------------------------------------- the pilot wizard's proposal


def _draft_with_history(client, auth, make_site, make_metric):
    from datetime import date

    from tests.pilots.test_wizard import configure, create_draft, seed_history

    wait = make_metric("wait")
    start = date(2026, 12, 1)
    seed_history(make_site, wait, start)
    lead = auth.login(Role.CHANGE_LEAD)
    _, pilot = create_draft(client)
    configure(client, pilot, wait, start)
    return lead, pilot


PROPOSE = {"n_pilot": 4, "problem_metric": "wait", "max_volume_share": 0.5,
           "match_on": ["region"], "seed": 1}  # fmt: skip


def test_the_site_proposal_runs_as_a_job_and_the_step_shows_what_it_did(
    client, auth, make_site, make_metric
):
    from tests.pilots.test_wizard import propose

    lead, pilot = _draft_with_history(client, auth, make_site, make_metric)
    response = propose(client, pilot, follow=False, **PROPOSE)
    job = db.session.scalars(db.select(Job)).one()
    assert response.headers["Location"] == f"/pilots/{pilot.id}/wizard/4?proposal_job={job.id}"
    assert (job.kind, job.status, job.pilot_id) == ("site_proposal", JobStatus.DONE, pilot.id)
    assert job.created_by_id == lead.id
    assert (job.result["pilots"], job.result["controls"]) == (4, 4)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Proposed 4 pilot and 4 control sites." in page and "job-progress" not in page
    assert client.get(f"/jobs/{job.id}").get_json()["result_url"] == response.headers["Location"]


def test_a_proposal_in_progress_shows_its_bar_and_a_refused_one_its_words(
    app, client, auth, make_site, make_metric
):
    from tests.pilots.test_wizard import propose

    _, pilot = _draft_with_history(client, auth, make_site, make_metric)
    app.extensions["job_runner"] = parked = type("Parked", (), {"name": "parked"})()
    parked.submit = lambda job_id: None
    try:
        location = propose(client, pilot, follow=False, **PROPOSE).headers["Location"]
    finally:
        app.extensions.pop("job_runner")
    page = client.get(location).get_data(as_text=True)
    assert 'data-job-swap="#wizard-sites"' in page and 'id="wizard-sites"' in page
    # a problem metric without any history: the refusal, in words, on the step
    make_metric("orders")
    response = propose(client, pilot, follow=True, **{**PROPOSE, "problem_metric": "orders"})
    job = db.session.scalars(db.select(Job).order_by(Job.id.desc())).first()
    assert job.status is JobStatus.FAILED
    assert job.message.startswith("There is no history of the problem metric")
    from markupsafe import escape

    assert str(escape(job.message)) in response.get_data(as_text=True)


def test_a_big_site_registry_import_runs_as_a_job_too(app, client, auth):
    from tests.conftest import post_file

    app.config["IMPORT_JOB_ROWS"] = 1
    auth.login(Role.ADMIN)
    body = b"code,name,region\nS1,North store,North\nS2,South store,South\n"
    url = post_file(client, "/sites/import", body, "sites.csv").headers["Location"]
    response = client.post(url, data={})
    job = db.session.scalars(db.select(Job)).one()
    assert response.headers["Location"] == f"/jobs/{job.id}/page"
    assert (job.kind, job.status) == ("import_sites", JobStatus.DONE), job.message
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert job.result["notice"] in page and 'href="/sites/"' in page


# ---------------------------------------------------------------- housekeeping


def test_the_daily_housekeeping_keeps_recent_jobs_and_the_newest_per_subject(app):
    now = clock.utc_now()
    quiet_for = timedelta(seconds=app.config["JOB_STALLED_AFTER"])

    def job(kind, status, days_ago, subject=("report", 7), **more):
        finished = now - timedelta(days=days_ago) if status is not JobStatus.RUNNING else None
        return Job(kind=kind, func_path="x:y", status=status, subject=subject[0],
                   subject_id=subject[1], finished_at=finished, output=b"%PDF", **more)  # fmt: skip

    oldest_pdf = job("report_pdf", JobStatus.DONE, 90)
    older_pdf = job("report_pdf", JobStatus.FAILED, 60)
    newest_old_pdf = job("report_pdf", JobStatus.DONE, 45)  # the newest of its kind: kept
    other_kind = job("report_snapshot", JobStatus.DONE, 80)  # the newest of its kind: kept
    recent = job("report_pdf", JobStatus.DONE, 3, subject=("report", 8))
    recent_older = job("report_pdf", JobStatus.DONE, 29, subject=("report", 8))
    lost = job("report_pdf", JobStatus.RUNNING, 0, subject=("report", 9),
               started_at=now - 2 * quiet_for, heartbeat_at=now - 2 * quiet_for)  # fmt: skip
    db.session.add_all(
        [oldest_pdf, older_pdf, newest_old_pdf, other_kind, recent, recent_older, lost]
    )
    db.session.commit()
    ids = {name: j.id for name, j in locals().items() if isinstance(j, Job)}

    result = app.test_cli_runner().invoke(args=["jobs", "prune"])
    assert result.exit_code == 0, result.output
    assert "1 stalled job(s) marked failed, 2 old job(s) deleted" in result.output
    db.session.expire_all()
    left = {name for name, job_id in ids.items() if db.session.get(Job, job_id) is not None}
    assert left == {"newest_old_pdf", "other_kind", "recent", "recent_older", "lost"}
    assert db.session.get(Job, ids["lost"]).status is JobStatus.FAILED

    # a shorter keep deletes what is older than it, never the newest of a kind per subject
    result = app.test_cli_runner().invoke(args=["jobs", "prune", "--keep-days", "7"])
    assert "1 old job(s) deleted" in result.output
    db.session.expire_all()
    assert db.session.get(Job, ids["recent_older"]) is None
    assert db.session.get(Job, ids["recent"]) is not None
