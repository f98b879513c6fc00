"""Structured logs: one line per event, each with the request id of the request it belongs to.

* Every request gets an id: the caller's ``X-Request-ID`` when it is sane (letters, digits
  and ``._:-``, at most 128 characters: what a proxy or load balancer sends), else a new
  random one. It is echoed as the ``X-Request-ID`` response header, shown on the 500 page
  ("quote this reference") and put in the API's 500/503 error bodies, so an operator can
  find the very log lines a user or an integration reports.
* Every request is logged once it is answered (``event: request`` with method, path,
  status and duration); every unexpected exception is logged with its traceback by the
  handlers of :mod:`app.errors.handlers`.
* ``LOG_FORMAT=json`` (the default) writes one JSON object a line; ``LOG_FORMAT=text`` a
  readable line for a developer's terminal. ``LOG_LEVEL`` (default ``INFO``) filters both.
  Lines go to standard error, where gunicorn, systemd and container runtimes collect them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from flask import Flask

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Attributes of every ``LogRecord``; anything else on a record came as ``extra=`` fields.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
#: Marks the handler this module installs, so a second app replaces it instead of doubling it.
_HANDLER_NAME = "rollwise-structured"
#: The id of the request being handled in this thread (or task); set and reset by the
#: request hooks of :mod:`app.errors.handlers`.
_request_id: ContextVar[str | None] = ContextVar("rollwise_request_id", default=None)

request_logger = logging.getLogger("rollwise.request")
error_logger = logging.getLogger("rollwise.error")


def request_id() -> str | None:
    """The id of the request being handled (``None`` outside one)."""
    return _request_id.get()


def bind_request_id(incoming: str | None) -> Token:
    """Make ``incoming`` (a caller's ``X-Request-ID``) the current request's id when it is
    sane, else a new random one; returns the token that :func:`unbind_request_id` takes."""
    value = incoming if incoming and _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    return _request_id.set(value)


def unbind_request_id(token: Token) -> None:
    _request_id.reset(token)


def log_request(method: str, path: str, status: int, duration_ms: float | None, remote_addr):
    """The one line of an answered request."""
    request_logger.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "event": "request",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "remote_addr": remote_addr,
        },
    )


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` (``"-"`` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, extra fields and
    the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def make_handler(log_format: str, stream: Any = None) -> logging.Handler:
    """A handler writing ``json`` or ``text`` lines to ``stream`` (standard error)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestContextFilter())
    if log_format == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        handler.setFormatter(JsonFormatter())
    return handler


def configure(app: Flask) -> None:
    """Install the structured handler on the root logger.

    ``LOG_LEVEL`` and ``LOG_FORMAT`` come from the app's config (from the environment).
    """
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    log_format = str(app.config.get("LOG_FORMAT") or "json").lower()
    if log_format not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    if level not in logging.getLevelNamesMapping():
        raise RuntimeError(f"LOG_LEVEL {level!r} is not a logging level")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level)
    # a logging config file read in this process (Alembic's, when migrations run in it)
    # disables every logger that existed then: ours must keep writing
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("rollwise", "app"):
            logger.disabled = False
    app.logger.handlers.clear()  # Flask's own handler would write every record twice
    app.logger.propagate = True
