"""The JSON API (``/api/v1``): bearer tokens, one error shape, the same workflows as the pages.

Errors always look like ``{"error": {"code", "message", "fields"}}``; row errors of an
observation batch add ``"rows": [{"row", "column", "message"}]`` (``row`` is the 0-based
position in the ``rows`` array) and name each problem in ``fields`` as ``rows[i].column``.

Each view documents its operations in YAML after the ``---`` of its docstring: that is the
OpenAPI document (:mod:`app.api.openapi`), and ``tests/api/test_openapi.py`` holds it to the
routes. Schemas named there (``ObservationBatch`` …) are defined in :mod:`app.api.openapi`.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request, url_for
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
    """Upsert daily observations.
    ---
    post:
      operationId: postObservations
      summary: Upsert daily observations (idempotent)
      description: >-
        Each row is one value of one metric at one site on one day; an existing
        (site, date, metric) value is updated (its previous value kept in the history), an
        identical one is left alone, so resending a batch changes nothing. The batch is
        atomic: when any row has an error, nothing is written and every error is listed
        (`rows[i].field`, `i` counted from 0). With `pilot_id`, dates must lie between the
        pilot's pre-period start and its planned end; dates in the future (beyond tomorrow)
        are refused. A bare list of rows is accepted too.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              oneOf: [ObservationBatch, ObservationList]
            example:
              pilot_id: 1
              rows:
                - {site: R001, date: "2026-11-20", metric: avg_wait_min, value: 11.4}
                - {site: R001, date: "2026-11-20", metric: satisfaction_rate, value: 0.91,
                   denominator: 118}
      responses:
        200:
          description: Written (or already up to date).
          content:
            application/json:
              schema: ImportResult
              example: {inserted: 1, updated: 1, unchanged: 0, batch_id: 42}
        400:
          description: >-
            The body is not JSON (`invalid_json`) or is nested more than 32 levels deep
            (`bad_request`).
          content: {application/json: {schema: Error}}
        401: Unauthorized
        409:
          description: A concurrent request wrote the same values; retry (`conflict`).
          content: {application/json: {schema: Error}}
        413:
          description: More rows than `rows` may hold (`batch_too_large`).
          content: {application/json: {schema: Error}}
        422:
          description: >-
            Invalid rows (`invalid_rows`, every error listed in `fields` and `rows`) or an
            invalid batch (`invalid`).
          content: {application/json: {schema: Error}}
        503:
          description: >-
            The database is unreachable (`service_unavailable`, with the `request_id` of the
            server's logs); retry after `Retry-After` seconds.
          content: {application/json: {schema: Error}}
    """
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
    """The metrics.
    ---
    get:
      operationId: listMetrics
      summary: Metric keys accepted in `metric`
      responses:
        200:
          description: The metrics, by key.
          content: {application/json: {schema: MetricList}}
        401: Unauthorized
    """
    return _listing("metrics", catalogue.metrics())


@bp.route("/sites")
@token_required
def sites():
    """The active sites, a page at a time.
    ---
    get:
      operationId: listSites
      summary: Active site codes accepted in `site`
      description: >-
        Sorted by code, `per_page` (default 500, at most 1000) a page. `next` is the URL of
        the following page (also sent as a `Link: <…>; rel="next"` header), `null` on the
        last one; a page past the end is empty.
      parameters:
        - {name: page, in: query, schema: {type: integer, minimum: 1, maximum: 100000,
           default: 1}}
        - {name: per_page, in: query, schema: {type: integer, minimum: 1, maximum: 1000,
           default: 500}}
      responses:
        200:
          description: One page of the active sites, by code.
          content: {application/json: {schema: SitePage}}
        400:
          description: >-
            `page` or `per_page` is not a whole number in range, or the query names another
            parameter (`bad_request`).
          content: {application/json: {schema: Error}}
        401: Unauthorized
    """
    page, per_page, problems = _page_arguments(catalogue.MAX_SITES_PER_PAGE)
    if problems:
        db.session.commit()
        return api_error(400, "bad_request", _("Check the paging parameters."), problems)
    rows, total = catalogue.sites(page, per_page)
    more = page * per_page < total
    following = url_for(".sites", page=page + 1, per_page=per_page) if more else None
    db.session.commit()
    response = jsonify(
        {"sites": rows, "page": page, "per_page": per_page, "total": total, "next": following}
    )
    if following:
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


def _page_arguments(largest: int) -> tuple[int, int, dict[str, str]]:
    """``page`` and ``per_page`` from the query string, and what is wrong with them."""
    values: dict[str, int] = {"page": 1, "per_page": catalogue.SITES_PER_PAGE}
    problems: dict[str, str] = {}
    bounds = {"page": (1, 100_000), "per_page": (1, largest)}
    for name in request.args:
        if name not in bounds:
            problems[name] = _("Not a parameter of this list: use page and per_page.")
    for name, (low, high) in bounds.items():
        raw = request.args.get(name)
        if raw is None:
            continue
        if not raw.strip().isdigit() or not low <= int(raw) <= high:
            problems[name] = _("A whole number from %(low)s to %(high)s.", low=low, high=high)
            continue
        values[name] = int(raw)
    return values["page"], values["per_page"], problems


def _listing(key: str, rows: list[dict[str, Any]]):
    """``{key: rows}``, once the transaction (the token's last use) is committed."""
    db.session.commit()
    return jsonify({key: rows})


@bp.route("/openapi.json")
def openapi():
    """This document.
    ---
    get:
      operationId: openapi
      summary: This description
      security: []
      responses:
        200:
          description: OpenAPI 3.1 document.
          content: {application/json: {schema: {type: object}}}
    """
    return jsonify(openapi_document(current_app))
