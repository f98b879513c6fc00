"""One way to run long work in the background and show its progress: jobs.

A view calls ``submit(kind, "app.area.module:function", by=current_user, **kwargs)``; it
stores a queued ``Job`` (committed, so a worker can read it) and hands its id to the app's
runner. The runner calls ``run(job_id)``, which marks the job running, calls the work
function as ``function(progress=..., **kwargs)`` and stores what it returns as the result
(JSON: ``{"endpoint": "reports.detail", "values": {"report_id": 3}}`` or ``{"url": …}``
names the page to open). The work function reports ``progress(percent, message)`` between
units of work; ``progress`` commits the session, so call it when the work so far may be
committed. A failure stores a plain message for people (a ``JobError`` or ``ServiceError``
message as is, anything else a general sentence) and logs it (an unexpected exception with
its traceback).

Which runner:

1. ``app.extensions["job_runner"]`` when set (tests inject one);
2. ``JOB_RUNNER`` (or the older ``REPORT_RUNNER``) in the config: ``sync``, ``thread``, ``rq``;
3. otherwise ``sync`` under ``TESTING``, ``rq`` when ``REDIS_URL`` is set, else ``thread``.

An RQ worker runs ``rq worker rollwise-jobs`` with the app importable; ``run`` builds the
app from the environment unless one is already active. A job that is queued or running
without news for ``JOB_STALLED_AFTER`` seconds (its worker was killed, the server
restarted) is shown failed the next time someone looks (``fail_if_stalled``), or when the
daily ``flask jobs prune`` runs (:func:`prune`, which also deletes finished jobs older
than ``JOB_KEEP_DAYS``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app, has_app_context, url_for
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import aliased
from werkzeug.routing import BuildError
from werkzeug.utils import import_string

from app.core import clock
from app.core.errors import ServiceError
from app.core.i18n import N_
from app.extensions import db
from app.models import Job, JobStatus

QUEUE_NAME = "rollwise-jobs"
#: seconds an RQ job may run before RQ stops it
DEFAULT_TIMEOUT = 1800
#: seconds without progress after which a queued or running job counts as dead
DEFAULT_STALLED_AFTER = 900

#: Stored in English, shown in the reader's language (the catalogue has them).
STALLED_MESSAGE = N_(
    "The job stopped without finishing (its worker or the server restarted). Start it again."
)
UNEXPECTED_MESSAGE = N_("The job failed because of an unexpected error; it is in the server log.")

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, str | None], None]


class JobError(Exception):
    """Raised by a work function to fail its job with ``message`` (shown to people as is)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = str(message)


class Runner(Protocol):
    name: str

    def submit(self, job_id: int) -> None: ...


# ---------------------------------------------------------------- doing the work


def _now() -> datetime:
    return clock.utc_now()


class Progress:
    """The ``progress(percent, message)`` callback handed to a job's work function.

    Each call stores the percent (0–100) and the message and commits the session; its
    ``job_id`` lets the work function reach its own job (to attach a file to it).
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id

    def __call__(self, percent: int, message: str | None = None) -> None:
        percent = max(0, min(100, int(percent)))
        db.session.execute(
            update(Job)
            .where(Job.id == self.job_id)
            .values(percent=percent, message=message, heartbeat_at=_now())
        )
        db.session.commit()


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, JobError | ServiceError):
        return exc.message[:2000]
    return UNEXPECTED_MESSAGE


def execute(job_id: int) -> JobStatus | None:
    """Run a queued job in the current app context; its final status (None: no such job)."""
    job = db.session.get(Job, job_id)
    if job is None:
        log.warning("job %s does not exist", job_id)
        return None
    if job.status is not JobStatus.QUEUED:
        return job.status  # already taken (a retried RQ job, a second runner)
    job.status, job.started_at, job.heartbeat_at = JobStatus.RUNNING, _now(), _now()
    db.session.commit()
    kind, func_path, arguments = job.kind, job.func_path, dict(job.arguments or {})
    try:
        work = import_string(func_path.replace(":", "."))
        result = work(progress=Progress(job_id), **arguments)
    except Exception as exc:
        db.session.rollback()
        if isinstance(exc, JobError | ServiceError):  # a refusal in words: no traceback needed
            log.warning("job %s (%s) refused: %s", job_id, kind, exc)
        else:
            log.exception("job %s (%s) failed", job_id, kind)
        db.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.FAILED, message=_user_message(exc), finished_at=_now())
        )
        db.session.commit()
        return JobStatus.FAILED
    job = db.session.get(Job, job_id)
    job.status, job.percent, job.message = JobStatus.DONE, 100, None
    job.result = result if isinstance(result, dict) else None
    job.finished_at = _now()
    db.session.commit()
    return JobStatus.DONE


def run(job_id: int) -> int:
    """Run one job (the function RQ and the thread call); returns the job id."""
    if has_app_context():
        execute(job_id)
        return job_id
    from app import create_app

    app = create_app()
    with app.app_context():
        try:
            execute(job_id)
        finally:
            db.session.remove()
    return job_id


# ---------------------------------------------------------------- runners


class SyncRunner:
    """Run in the calling thread (tests, the CLI)."""

    name = "sync"

    def submit(self, job_id: int) -> None:
        run(job_id)


class ThreadRunner:
    """Run on a daemon thread of this process, with its own app context and session."""

    name = "thread"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.threads: dict[int, threading.Thread] = {}

    def _work(self, job_id: int) -> None:
        with self.app.app_context():
            try:
                execute(job_id)
            except Exception:  # pragma: no cover - execute stores its own failures
                log.exception("job %s failed outside its work function", job_id)
            finally:
                db.session.remove()

    def submit(self, job_id: int) -> None:
        thread = threading.Thread(
            target=self._work, args=(job_id,), name=f"job-{job_id}", daemon=True
        )
        self.threads[job_id] = thread
        thread.start()

    def join(self, job_id: int, timeout: float | None = None) -> None:
        thread = self.threads.get(job_id)
        if thread is not None:
            thread.join(timeout)


class RqRunner:
    """Enqueue on RQ (Redis); ``rq worker rollwise-jobs`` does the work."""

    name = "rq"

    def __init__(
        self, redis_url: str, queue_name: str = QUEUE_NAME, timeout: int = DEFAULT_TIMEOUT
    ) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url, socket_connect_timeout=3)
        self.queue = Queue(queue_name, connection=self.connection)
        self.timeout = timeout

    def submit(self, job_id: int) -> None:
        self.queue.enqueue(run, job_id, job_id=f"job-{job_id}", job_timeout=self.timeout)


def runner_choice(app: Flask) -> str:
    choice = app.config.get("JOB_RUNNER") or app.config.get("REPORT_RUNNER")
    if choice is None:
        if app.testing:
            return "sync"
        return "rq" if app.config.get("REDIS_URL") else "thread"
    return choice


def get_runner(app: Flask | None = None) -> Runner:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    injected = app.extensions.get("job_runner")
    if injected is not None:
        return injected
    choice = runner_choice(app)
    if choice == "sync":
        runner: Runner = SyncRunner()
    elif choice == "rq":
        timeout = int(app.config.get("JOB_TIMEOUT") or DEFAULT_TIMEOUT)
        runner = RqRunner(app.config["REDIS_URL"], timeout=timeout)
    elif choice == "thread":
        runner = ThreadRunner(app)
    else:
        raise ValueError(f"JOB_RUNNER must be sync, thread or rq, got {choice!r}")
    app.extensions["job_runner"] = runner
    return runner


def submit(
    kind: str,
    func_path: str,
    *,
    by: Any = None,
    subject: tuple[str, int] | None = None,
    pilot: Any = None,
    **kwargs: Any,
) -> Job:
    """Store a queued job for ``func_path(progress=…, **kwargs)`` (commits) and start it.

    ``kwargs`` must be JSON (ids, not objects): an RQ worker reads them from the database.
    ``subject`` names the object the job works on (``("report", 12)``); ``by`` who asked;
    ``pilot`` (a Pilot or its id) the pilot it belongs to, whose change lead may follow it.
    """
    job = Job(
        kind=kind,
        func_path=func_path,
        arguments=kwargs,
        status=JobStatus.QUEUED,
        subject=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        pilot_id=getattr(pilot, "id", pilot),
        created_by_id=getattr(by, "id", None) if getattr(by, "is_authenticated", True) else None,
    )
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    runner = get_runner()
    try:
        runner.submit(job_id)
    except Exception:  # Redis unreachable: work here rather than leave the job hanging
        if runner.name != "rq":
            raise
        log.exception("RQ unavailable; running job %s on a thread", job_id)
        ThreadRunner(current_app._get_current_object()).submit(job_id)  # type: ignore[attr-defined]
    return db.session.get(Job, job_id)


# ---------------------------------------------------------------- reading jobs


def stalled_after(app: Flask | None = None) -> timedelta:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return timedelta(seconds=int(app.config.get("JOB_STALLED_AFTER") or DEFAULT_STALLED_AFTER))


def fail_if_stalled(job: Job, now: datetime | None = None) -> bool:
    """Mark a queued or running job without news for too long as failed (flush); True if so."""
    if job.is_finished:
        return False
    now = now or _now()
    last = job.heartbeat_at or job.started_at or job.created_at
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if now - last < stalled_after():
        return False
    job.status, job.message, job.finished_at = JobStatus.FAILED, STALLED_MESSAGE, now
    db.session.flush()
    return True


def prune(keep_days: int, now: datetime | None = None) -> tuple[int, int]:
    """Housekeeping (flush): jobs without news for too long are marked failed, and finished
    jobs older than ``keep_days`` are deleted with their files -- except the newest finished
    job of each kind per subject, which a page may still link to. Returns (failed, deleted).
    """
    now = now or _now()
    unfinished = select(Job).where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
    failed = sum(fail_if_stalled(job, now) for job in db.session.scalars(unfinished))
    finished = (JobStatus.DONE, JobStatus.FAILED)
    newer = aliased(Job)
    has_newer = (
        select(newer.id)
        .where(
            newer.kind == Job.kind,
            newer.subject.is_not_distinct_from(Job.subject),
            newer.subject_id.is_not_distinct_from(Job.subject_id),
            newer.status.in_(finished),
            or_(
                newer.finished_at > Job.finished_at,
                and_(newer.finished_at == Job.finished_at, newer.id > Job.id),
            ),
        )
        .exists()
    )
    ids = db.session.scalars(
        select(Job.id).where(
            Job.status.in_(finished),
            Job.finished_at < now - timedelta(days=keep_days),
            has_newer,
        )
    ).all()
    for start in range(0, len(ids), 500):
        db.session.execute(delete(Job).where(Job.id.in_(ids[start : start + 500])))
    return failed, len(ids)


def latest_for(subject: str, subject_id: int, kind: str | None = None) -> Job | None:
    """The newest job that works on ``subject`` #``subject_id`` (of ``kind``, if given)."""
    query = select(Job).where(Job.subject == subject, Job.subject_id == subject_id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return db.session.scalars(query.order_by(Job.id.desc()).limit(1)).first()


def result_url(job: Job) -> str | None:
    """The page (or download) a finished job's result points to, if any."""
    result = job.result or {}
    if job.status is not JobStatus.DONE:
        return None
    if result.get("url"):
        return str(result["url"])
    if result.get("endpoint"):
        try:
            return url_for(result["endpoint"], **(result.get("values") or {}))
        except BuildError:
            log.warning("job %s names an unknown endpoint %r", job.id, result["endpoint"])
    return None


def status_of(job: Job) -> dict[str, Any]:
    """What the status endpoint answers: status, percent, message and result_url."""
    from flask_babel import gettext

    message = None
    if job.message:  # "step: detail" translates its step (the detail is a name, a number)
        step, colon, detail = job.message.partition(": ")
        message = gettext(step) + colon + detail
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "percent": job.percent,
        "message": message,
        "result_url": result_url(job),
    }
