"""The JSON API (``/api/v1``): bearer tokens, one error shape, the same workflows as the pages.

Errors always look like ``{"error": {"code", "message", "fields"}}``; row errors of an
observation batch add ``"rows": [{"row", "column", "message"}]`` (``row`` is the 0-based
position in the ``rows`` array) and name each problem in ``fields`` as ``rows[i].column``.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.api import bp, catalogue
from app.api.observations import BatchTooLarge, import_batch
from app.api.openapi import openapi_document
from app.api.tokens import authenticate
from app.core.errors import ServiceError
from app.errors.handlers import api_error
from app.extensions import db


def token_required(view):
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        header = request.headers.get("Authorization", "")
        scheme, _sep, raw = header.partition(" ")
        token = authenticate(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response, status = api_error(
                401,
                "unauthorized",
                _("Send a valid API token as 'Authorization: Bearer <token>'."),
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="rollwise"'
            db.session.commit()  # nothing to write, but end the transaction
            return response, status
        g.api_token = token
        return view(*args, **kwargs)

    return wrapped


@bp.route("/observations", methods=["POST"])
@token_required
def post_observations():
    """Upsert daily observations."""
    payload = request.get_json(silent=True)
    if payload is None:
        return api_error(400, "invalid_json", _("The body must be JSON."))
    try:
        batch = import_batch(payload, token=g.api_token)
        db.session.commit()
    except BatchTooLarge as exc:
        return jsonify(exc.to_dict()), 413
    except ServiceError as exc:
        return jsonify(exc.to_dict()), 422
    except IntegrityError:
        db.session.rollback()
        return api_error(
            409, "conflict", _("Another request wrote the same values at the same time; retry.")
        )
    return jsonify(
        {
            "inserted": batch.rows_inserted,
            "updated": batch.rows_updated,
            "unchanged": batch.rows_unchanged,
            "batch_id": batch.id,
        }
    )


@bp.route("/metrics")
@token_required
def metrics():
    """The metrics."""
    result = catalogue.metrics()
    db.session.commit()
    return jsonify({"metrics": result})


@bp.route("/sites")
@token_required
def sites():
    """The active sites."""
    result = catalogue.sites()
    db.session.commit()
    return jsonify({"sites": result})


@bp.route("/openapi.json")
def openapi():
    """This document."""
    return jsonify(openapi_document())
