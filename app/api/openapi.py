"""The OpenAPI 3.1 document of ``/api/v1``, generated from the routes, served at
``GET /api/v1/openapi.json``.

Each view of the ``api`` blueprint describes its own operations in YAML after a ``---`` line
of its docstring (the code and its description sit together); :func:`openapi_document` walks
the app's URL map, so every route of the blueprint is in the document, under its real path
and methods, and ``tests/api/test_openapi.py`` checks both directions and the bodies.
The request and response bodies are plain JSON-schema dicts (OpenAPI 3.1 uses JSON Schema
2020-12), registered below as components and named in the docstrings.

Library: apispec with the Flask plugin of apispec-webframeworks. It only *reads*: the views
stay plain functions on a plain Flask blueprint, parse their own bodies and answer errors in
our one shape. flask-smorest would replace the blueprint with its own, want MethodViews and
marshmallow schemas, and answer validation errors in its own shape; spectree and
flask-openapi3 validate through pydantic models with their own error bodies (flask-openapi3
also replaces the ``Flask`` and ``Blueprint`` classes). Our rows are validated by the same
import as an uploaded file, which names every bad cell; none of those would keep that.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask

from app.api import bp
from app.models import Direction, MetricKind
from app.sites.observation_import import API_MAX_ROWS

TITLE = "Rollwise API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Daily operations data from point-of-sale and operations systems. Authenticate with a "
    "per-integration token (created by an admin or change lead under Integrations → API "
    "tokens) sent as `Authorization: Bearer rw_…`. Every 4xx answer has the shape "
    '`{"error": {"code", "message", "fields"}}`.'
)


class BlueprintPaths(FlaskPlugin):
    """Paths relative to the blueprint's prefix, which is the document's server URL."""

    def path_helper(self, *args: Any, **kwargs: Any) -> str | None:
        path = super().path_helper(*args, **kwargs)
        return path.removeprefix(bp.url_prefix or "") if path else path


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


def _closed(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these properties, each required unless named in ``optional``."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        "properties": properties,
    }


def _list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return _closed({key: {"type": "array", "items": item}})


ROWS = {
    "type": "array",
    "minItems": 1,
    "maxItems": API_MAX_ROWS,
    "items": {"$ref": "#/components/schemas/Observation"},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Observation": _closed(
        {
            "site": {"type": "string", "description": "Site code, e.g. R001."},
            "date": {
                "type": "string",
                "format": "date",
                "description": "YYYY-MM-DD (local business day).",
            },
            "metric": {"type": "string", "description": "Metric key (see GET /metrics)."},
            "value": {
                "type": ["number", "string"],
                "description": "A finite number ('1,234.5' also accepted).",
            },
            "denominator": {
                "type": ["number", "null"],
                "description": "Optional, e.g. responses behind a rate.",
            },
        },
        optional=("denominator",),
    ),
    # other keys of the batch are ignored, so the batch is not closed
    "ObservationBatch": {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "pilot_id": {
                "type": ["integer", "null"],
                "description": "Check dates against this pilot.",
            },
            "rows": ROWS,
        },
    },
    "ObservationList": {**ROWS, "description": "The rows alone, without `pilot_id`."},
    "ImportResult": _closed(
        {name: {"type": "integer"} for name in ("inserted", "updated", "unchanged", "batch_id")}
    ),
    "MetricList": _list_of(
        "metrics",
        _closed(
            {
                "key": {"type": "string", "description": "Accepted in `metric`."},
                "name": {"type": "string"},
                "name_zh": {"type": ["string", "null"]},
                "unit": {"type": "string"},
                "kind": {"enum": [kind.value for kind in MetricKind]},
                "better_direction": {"enum": [d.value for d in Direction]},
            }
        ),
    ),
    "SitePage": _closed(
        {
            "sites": {
                "type": "array",
                "items": _closed(
                    {
                        "code": {"type": "string", "description": "Accepted in `site`."},
                        "name": {"type": "string"},
                        "region": {"type": "string"},
                    }
                ),
            },
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "description": "Active sites in all pages."},
            "next": {
                "type": ["string", "null"],
                "description": "The URL of the next page; null on the last.",
            },
        }
    ),
    "Error": _closed(
        {
            "error": _closed(
                {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Problem per field, e.g. `rows[3].value`.",
                    },
                    "rows": {
                        "type": "array",
                        "description": "With `invalid_rows`: every listed row error.",
                        "items": _closed(
                            {
                                "row": {"type": "integer", "description": "In `rows`, from 0."},
                                "column": {"type": "string", "description": "Field, or empty."},
                                "message": {"type": "string"},
                            }
                        ),
                    },
                    "request_id": {
                        "type": "string",
                        "description": "With 500 and 503: the reference of the server's logs.",
                    },
                },
                optional=("rows", "request_id"),
            )
        }
    ),
}

RESPONSES = {"Unauthorized": _error("Missing, unknown or revoked token (`unauthorized`).")}


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document of every route of the ``api`` blueprint registered on ``app``."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[BlueprintPaths()],
        info={"description": DESCRIPTION},
        servers=[{"url": bp.url_prefix}],
        security=[{"bearerAuth": []}],
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "rw_…"}
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    for endpoint in sorted(e for e in endpoints if e.startswith(f"{bp.name}.")):
        spec.path(view=app.view_functions[endpoint], app=app)
    return spec.to_dict()
