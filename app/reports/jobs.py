"""Where report computations run: in-process, on a background thread, or on RQ.

The view commits a ``computing`` report and hands its id to the app's runner; the page then
polls ``reports.status`` until the job is done. Which runner:

1. ``app.extensions["report_runner"]`` when set (tests inject one);
2. ``REPORT_RUNNER`` in the config: ``"sync"``, ``"thread"`` or ``"rq"``;
3. otherwise ``sync`` under ``TESTING`` (no flaky threads in tests), ``rq`` when ``REDIS_URL``
   is set, else ``thread`` (the embedded default).

An RQ worker runs ``rq worker rollwise-reports`` with the app importable; the job function
builds the app from the environment (``DATABASE_URL``) unless one is already active.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from flask import Flask, current_app, has_app_context

from app.extensions import db

QUEUE_NAME = "rollwise-reports"
JOB_TIMEOUT = 600
log = logging.getLogger(__name__)


class Runner(Protocol):
    name: str

    def submit(self, report_id: int) -> None: ...


def run_job(report_id: int) -> int:
    """Compute one report (the function RQ and the thread call). Returns the report id."""
    from app.reports.snapshots import compute_report

    if has_app_context():
        compute_report(report_id)
        return report_id
    from app import create_app

    app = create_app()
    with app.app_context():
        try:
            compute_report(report_id)
        finally:
            db.session.remove()
    return report_id


class SyncRunner:
    """Compute in the calling thread (tests, the CLI)."""

    name = "sync"

    def submit(self, report_id: int) -> None:
        run_job(report_id)


class ThreadRunner:
    """Compute on a daemon thread with its own app context and session."""

    name = "thread"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.threads: dict[int, threading.Thread] = {}

    def _work(self, report_id: int) -> None:
        with self.app.app_context():
            try:
                run_job(report_id)
            except Exception:  # pragma: no cover - compute_report stores its own errors
                log.exception("report %s failed", report_id)
            finally:
                db.session.remove()

    def submit(self, report_id: int) -> None:
        thread = threading.Thread(
            target=self._work, args=(report_id,), name=f"report-{report_id}", daemon=True
        )
        self.threads[report_id] = thread
        thread.start()

    def join(self, report_id: int, timeout: float | None = None) -> None:
        thread = self.threads.get(report_id)
        if thread is not None:
            thread.join(timeout)


class RqRunner:
    """Enqueue on RQ (Redis); ``rq worker rollwise-reports`` does the work."""

    name = "rq"

    def __init__(self, redis_url: str, queue_name: str = QUEUE_NAME) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.connection)

    def submit(self, report_id: int) -> None:
        self.queue.enqueue(
            run_job, report_id, job_id=f"report-{report_id}", job_timeout=JOB_TIMEOUT
        )


def get_runner(app: Flask | None = None) -> Runner:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    injected = app.extensions.get("report_runner")
    if injected is not None:
        return injected
    choice = app.config.get("REPORT_RUNNER")
    if choice is None:
        if app.testing:
            choice = "sync"
        elif app.config.get("REDIS_URL"):
            choice = "rq"
        else:
            choice = "thread"
    if choice == "sync":
        runner: Runner = SyncRunner()
    elif choice == "rq":
        runner = RqRunner(app.config["REDIS_URL"])
    elif choice == "thread":
        runner = ThreadRunner(app)
    else:
        raise ValueError(f"REPORT_RUNNER must be sync, thread or rq, got {choice!r}")
    app.extensions["report_runner"] = runner
    return runner


def submit(report_id: int) -> str:
    """Hand a committed ``computing`` report to the app's runner; returns the runner's name."""
    runner = get_runner()
    try:
        runner.submit(report_id)
    except Exception:  # Redis unreachable: compute here rather than leave it hanging
        if runner.name != "rq":
            raise
        log.exception("RQ unavailable; computing report %s on a thread", report_id)
        runner = ThreadRunner(current_app._get_current_object())  # type: ignore[attr-defined]
        runner.submit(report_id)
    return runner.name
