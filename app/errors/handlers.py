"""Error pages for people, one JSON error shape for API clients."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.core.errors import ServiceError, error_body
from app.extensions import db


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def api_error(status: int, code: str, message: str, fields: dict | None = None):
    return jsonify(error_body(code, message, fields)), status


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
    }


def handle_http_error(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        db.session.rollback()
    message = _messages().get(status, error.description or "")
    if wants_json():
        return api_error(status, (error.name or "error").lower().replace(" ", "_"), message)
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/generic.html"
    return render_template(template, status=status, message=message), status


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
    db.session.rollback()
    return handle_http_error(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ServiceError, handle_service_error)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
