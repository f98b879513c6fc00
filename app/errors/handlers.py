"""Error pages for people, one JSON error shape for API clients."""

from __future__ import annotations

import time

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from app.core.errors import ServiceError, error_body
from app.core.logging import (
    REQUEST_ID_HEADER,
    bind_request_id,
    error_logger,
    log_request,
    request_id,
    unbind_request_id,
)
from app.errors import guards
from app.extensions import db

#: Seconds a client is asked to wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 30
#: The page of each status; 503 is a page that needs no database.
TEMPLATES = {
    403: "errors/403.html",
    404: "errors/404.html",
    500: "errors/500.html",
    503: "errors/unavailable.html",
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def api_error(status: int, code: str, message: str, fields: dict | None = None):
    body = error_body(code, message, fields)
    if status >= 500:
        body["error"]["request_id"] = current_request_id()
    return jsonify(body), status


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        403: _("You do not have permission to see this page."),
        404: _("We could not find that page."),
        405: _("That action is not allowed here."),
        409: _("This page changed while you were on it. Reload it and try again."),
        413: _("The upload is too large."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. The team has been told."),
        503: _("Rollwise cannot reach its database right now. Try again in a minute."),
    }


def handle_http_error(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        _roll_back()
    if isinstance(error, guards.BadInput):
        message = error.description
    else:
        message = _messages().get(status, error.description or "")
    if wants_json():
        code = (error.name or "error").lower().replace(" ", "_")
        response = make_response(api_error(status, code, message))
    else:
        template = TEMPLATES.get(status, "errors/generic.html")
        reference = current_request_id() if status >= 500 else None
        page = render_template(template, status=status, message=message, reference=reference)
        response = make_response(page, status)
    if getattr(error, "valid_methods", None):  # a 405 says what is allowed (RFC 9110)
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _roll_back() -> None:
    """End the failed transaction; a connection that is gone is logged, not raised again."""
    try:
        db.session.rollback()
    except OperationalError:
        error_logger.exception("rollback failed", extra={"event": "rollback_failed"})


def handle_csrf_error(error: CSRFError):
    message = _(
        "This form has expired or did not come from Rollwise. Go back, reload the page and "
        "try again."
    )
    if wants_json():
        return api_error(400, "csrf", message)
    return render_template("errors/generic.html", status=400, message=message), 400


def handle_service_error(error: ServiceError):
    """A workflow's refusal that no view caught: shown as a refusal (422), never a 500."""
    db.session.rollback()
    if wants_json():
        return jsonify(error.to_dict()), 422
    return render_template("errors/generic.html", status=422, message=error.message), 422


def handle_unexpected(error: Exception):
    """Any exception no view caught: logged with its traceback and the request id, then the
    500 page (or the API's 500 body) quoting that id."""
    _log_exception("unhandled exception", error, "unhandled_exception")
    return handle_http_error(InternalServerError())


def handle_database_unreachable(error: OperationalError):
    """The database is down or refuses connections: 503 with Retry-After, not a 500."""
    _log_exception("database unreachable", error, "database_unreachable")
    # the rest of this request renders as a visitor: loading the user needs the database
    g._login_user = current_app.login_manager.anonymous_user()
    response = handle_http_error(ServiceUnavailable())
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _log_exception(message: str, error: Exception, event: str) -> None:
    error_logger.error(
        message,
        exc_info=(type(error), error, error.__traceback__),
        extra={
            "event": event,
            "method": request.method,
            "path": request.path,
            "error_type": type(error).__name__,
        },
    )


# ---------------------------------------------------------------- every request

_BINDING_KEY = "rollwise.request_id_binding"
_STARTED_KEY = "rollwise.request_started"


def current_request_id() -> str:
    """The request's id (see :mod:`app.core.logging`), bound on first use: a hook that runs
    before :func:`start_request` (the path's values) may already need it."""
    if _BINDING_KEY not in request.environ:
        request.environ[_BINDING_KEY] = bind_request_id(request.headers.get(REQUEST_ID_HEADER))
    return request_id() or ""


def start_request() -> None:
    current_request_id()
    request.environ[_STARTED_KEY] = time.perf_counter()


def refuse_bad_input() -> None:
    """NUL characters and out-of-range integer parameters are a 400 (:mod:`guards`)."""
    form = request.form if request.mimetype in FORM_TYPES else None
    problem = guards.input_problem(request.args, form)
    if problem:
        raise guards.BadInput(problem)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def finish_request(response):
    """Echo the request id and log the request with its status and duration."""
    response.headers[REQUEST_ID_HEADER] = current_request_id()
    started = request.environ.get(_STARTED_KEY)
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    log_request(request.method, request.path, response.status_code, duration, request.remote_addr)
    return response


def end_request(_error: BaseException | None) -> None:
    token = request.environ.pop(_BINDING_KEY, None)
    if token is not None:
        unbind_request_id(token)


def register(app: Flask) -> None:
    app.before_request(start_request)  # first: every later hook and answer has the id
    app.url_value_preprocessor(guards.refuse_huge_ids)
    app.before_request(refuse_bad_input)
    app.after_request(finish_request)
    app.teardown_request(end_request)
    app.json = guards.GuardedJSONProvider(app)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(OperationalError, handle_database_unreachable)
    # the test suite sees a view's exception raised, unless a test asks for the 500 page
    if not app.testing or app.config.get("PROPAGATE_EXCEPTIONS") is False:
        app.register_error_handler(Exception, handle_unexpected)
