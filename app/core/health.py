"""What ``/healthz`` checks: the database, and Redis and the report queue when configured.

Each check answers ``{"ok": bool, ...}`` and logs what failed; none raises.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

health_log = logging.getLogger("rollwise.health")


def database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as exc:
        health_log.error("health check: database unreachable", exc_info=exc)
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def redis_and_queue(redis_url: str, *, queue: str | None) -> dict:
    """Redis answers a PING and, when reports run on RQ, the report queue can be read (its
    length and workers; no worker is reported, not a failure of this app server)."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, Worker

    connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        connection.ping()
    except RedisError as exc:
        health_log.error("health check: Redis unreachable", exc_info=exc)
        failed = {"ok": False, "error": type(exc).__name__}
        return {"redis": failed, "queue": dict(failed)} if queue else {"redis": failed}
    if not queue:
        connection.close()
        return {"redis": {"ok": True}}
    try:
        reports = Queue(queue, connection=connection)
        queue_check = {"ok": True, "queued": reports.count, "workers": Worker.count(queue=reports)}
    except RedisError as exc:
        health_log.error("health check: report queue unreadable", exc_info=exc)
        queue_check = {"ok": False, "error": type(exc).__name__}
    finally:
        connection.close()
    return {"redis": {"ok": True}, "queue": queue_check}
