"""The OpenAPI 3.1 description of ``/api/v1``, served at ``GET /api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from app.sites.observation_import import API_MAX_ROWS


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rollwise API",
            "version": "1.0.0",
            "description": (
                "Daily operations data from point-of-sale and operations systems. Authenticate "
                "with a per-integration token (created by an admin or change lead under "
                "Integrations → API tokens) sent as `Authorization: Bearer rw_…`. Every 4xx "
                'answer has the shape `{"error": {"code", "message", "fields"}}`.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/observations": {
                "post": {
                    "operationId": "postObservations",
                    "summary": "Upsert daily observations (idempotent)",
                    "description": (
                        f"Up to {API_MAX_ROWS:,} rows per request. Each row is one value of one "
                        "metric at one site on one day; an existing (site, date, metric) value "
                        "is updated (its previous value kept in the history), an identical one "
                        "is left alone, so resending a batch changes nothing. The batch is "
                        "atomic: when any row has an error, nothing is written and every "
                        "error is listed (`rows[i].field`, `i` counted from 0). With "
                        "`pilot_id`, dates must lie between the pilot's pre-period start and "
                        "its planned end; dates in the future (beyond tomorrow) are refused."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ObservationBatch"},
                                "example": {
                                    "pilot_id": 1,
                                    "rows": [
                                        {
                                            "site": "R001",
                                            "date": "2026-11-20",
                                            "metric": "avg_wait_min",
                                            "value": 11.4,
                                        },
                                        {
                                            "site": "R001",
                                            "date": "2026-11-20",
                                            "metric": "satisfaction_rate",
                                            "value": 0.91,
                                            "denominator": 118,
                                        },
                                    ],
                                },  # fmt: skip
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Written (or already up to date).",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ImportResult"},
                                    "example": {
                                        "inserted": 1,
                                        "updated": 1,
                                        "unchanged": 0,
                                        "batch_id": 42,
                                    },
                                }  # fmt: skip
                            },
                        },
                        "400": _error("The body is not JSON."),
                        "401": _error("Missing, unknown or revoked token."),
                        "409": _error("A concurrent request wrote the same values; retry."),
                        "413": _error(f"More than {API_MAX_ROWS:,} rows (`batch_too_large`)."),
                        "422": _error(
                            "Invalid rows (`invalid_rows`, every error listed in `fields` and "
                            "`rows`) or an invalid batch (`invalid`)."
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "listMetrics",
                    "summary": "Metric keys accepted in `metric`",
                    "responses": {
                        "200": {"description": "The metrics."},
                        "401": _error("Missing, unknown or revoked token."),
                    },
                }  # fmt: skip
            },
            "/sites": {
                "get": {
                    "operationId": "listSites",
                    "summary": "Active site codes accepted in `site`",
                    "responses": {
                        "200": {"description": "The sites."},
                        "401": _error("Missing, unknown or revoked token."),
                    },
                }  # fmt: skip
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 document."}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "rw_…"}
            },
            "schemas": {
                "Observation": {
                    "type": "object",
                    "required": ["site", "date", "metric", "value"],
                    "additionalProperties": False,
                    "properties": {
                        "site": {"type": "string", "description": "Site code, e.g. R001."},
                        "date": {
                            "type": "string",
                            "format": "date",
                            "description": "YYYY-MM-DD (local business day).",
                        },
                        "metric": {
                            "type": "string",
                            "description": "Metric key (see GET /metrics).",
                        },
                        "value": {
                            "type": ["number", "string"],
                            "description": "A finite number ('1,234.5' also accepted).",
                        },
                        "denominator": {
                            "type": ["number", "null"],
                            "description": "Optional, e.g. responses behind a rate.",
                        },
                    },
                },  # fmt: skip
                "ObservationBatch": {
                    "type": "object",
                    "required": ["rows"],
                    "properties": {
                        "pilot_id": {
                            "type": "integer",
                            "description": "Check dates against this pilot.",
                        },
                        "rows": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": API_MAX_ROWS,
                            "items": {"$ref": "#/components/schemas/Observation"},
                        },
                    },
                },  # fmt: skip
                "ImportResult": {
                    "type": "object",
                    "required": ["inserted", "updated", "unchanged", "batch_id"],
                    "properties": {
                        "inserted": {"type": "integer"},
                        "updated": {"type": "integer"},
                        "unchanged": {"type": "integer"},
                        "batch_id": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "fields"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "fields": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "description": "Problem per field, e.g. `rows[3].value`.",
                                },
                                "rows": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "row": {"type": "integer"},
                                            "column": {"type": "string"},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
            },
        },
    }
