"""The JSON API (``/api/v1``): bearer tokens, one error shape, the same services as the pages.

Errors always look like ``{"error": {"code", "message", "fields"}}``; row errors of an
observation batch add ``"rows": [{"row", "column", "message"}]`` (``row`` is the 0-based
position in the ``rows`` array) and name each problem in ``fields`` as ``rows[i].column``.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api import bp
from app.api.openapi import openapi_document
from app.api.tokens import authenticate
from app.core.errors import ImportFailed, RowError
from app.errors.handlers import api_error
from app.extensions import db
from app.models import Metric, Pilot, Site
from app.sites.observation_import import (
    API_MAX_ROWS,
    apply_observations,
    frame_from_records,
    plan_observations,
)


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


def _row_errors(errors: list[RowError], status: int = 422, more: int = 0):
    rows = [e.to_dict() for e in errors]
    fields = {}
    for e in errors:
        key = f"rows[{e.row}].{e.column}" if e.column else f"rows[{e.row}]"
        fields.setdefault(key, e.message)
    message = _("%(n)s rows have errors; nothing was imported.", n=len({e.row for e in errors}))
    if more:
        message += " " + _("%(n)s further errors are not listed.", n=more)
    response, status = api_error(status, "invalid_rows", message, fields)
    body = response.get_json()
    body["error"]["rows"] = rows
    return jsonify(body), status


@bp.route("/observations", methods=["POST"])
@token_required
def post_observations():
    payload = request.get_json(silent=True)
    if payload is None:
        return api_error(400, "invalid_json", _("The body must be JSON."))
    pilot = None
    if isinstance(payload, dict):
        records = payload.get("rows")
        pilot_id = payload.get("pilot_id")
        if pilot_id is not None:
            if not isinstance(pilot_id, int) or isinstance(pilot_id, bool):
                return api_error(
                    422, "invalid", _("pilot_id must be a number."), {"pilot_id": _("not a number")}
                )
            pilot = db.session.get(Pilot, pilot_id)
            if pilot is None:
                return api_error(
                    422, "invalid", _("There is no such pilot."), {"pilot_id": _("unknown pilot")}
                )
    else:
        records = payload
    if not isinstance(records, list):
        return api_error(
            422,
            "invalid",
            _('Send {"rows": [...]} with one object per site, date and metric.'),
            {"rows": _("must be a list")},
        )
    if not records:
        return api_error(422, "invalid", _("The batch is empty."), {"rows": _("is empty")})
    if len(records) > API_MAX_ROWS:
        return api_error(
            413,
            "batch_too_large",
            _("At most %(n)s rows per request; split the batch.", n=API_MAX_ROWS),
            {"rows": _("%(n)s rows, more than %(max)s", n=len(records), max=API_MAX_ROWS)},
        )
    frame, shape_errors = frame_from_records(records)
    try:
        chosen = dict(_LONG_FORM, denominator="denominator" if "denominator" in frame else "")
        plan = plan_observations([frame], pilot=pilot, chosen=chosen, source="api")
    except ImportFailed as exc:
        return _row_errors(exc.errors)
    errors = sorted([*shape_errors, *plan.errors], key=lambda e: (e.row, e.column))
    if errors:
        return _row_errors(errors, more=plan.more_errors)
    try:
        batch = apply_observations(plan, token=g.api_token, kind="observations_api")
        db.session.commit()
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


#: API rows always use the long form, with these field names.
_LONG_FORM = {
    "site": "site",
    "date": "date",
    "metric": "metric",
    "value": "value",
    "denominator": "",
}


@bp.route("/metrics")
@token_required
def metrics():
    rows = db.session.scalars(select(Metric).order_by(Metric.key))
    db.session.commit()
    return jsonify(
        {
            "metrics": [
                {
                    "key": m.key,
                    "name": m.name,
                    "name_zh": m.name_zh,
                    "unit": m.unit,
                    "kind": m.kind.value,
                    "better_direction": m.better_direction.value,
                }
                for m in rows
            ]
        }
    )


@bp.route("/sites")
@token_required
def sites():
    rows = db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code))
    result = [{"code": s.code, "name": s.name, "region": s.region} for s in rows]
    db.session.commit()
    return jsonify({"sites": result})


@bp.route("/openapi.json")
def openapi():
    return jsonify(openapi_document())
