"""The OpenAPI document is held to the routes: the same operations as the URL map, valid
OpenAPI 3.1, and the bodies of the observation import as documented."""

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.api.openapi import openapi_document
from app.sites.observation_import import API_MAX_ROWS

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "trace"}


def routed_operations(app) -> set[tuple[str, str]]:
    """``(path, method)`` of every rule under ``/api/v1`` (OpenAPI's ``{name}`` for
    ``<converter:name>``), without HEAD and OPTIONS, which Flask adds by itself."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule == "/api/v1" or rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def documented_operations(spec) -> set[tuple[str, str]]:
    (server,) = spec["servers"]
    return {
        (server["url"] + path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_every_api_route_is_documented(app, spec):
    assert routed_operations(app) - documented_operations(spec) == set()


def test_every_documented_operation_is_routed(app, spec):
    assert documented_operations(spec) - routed_operations(app) == set()


def test_the_comparison_finds_an_undocumented_route_and_a_documented_method_without_one(app):
    def undocumented():
        return ""

    def documents_too_much():
        """Only POST is routed.
        ---
        get: {responses: {200: {description: never}}}
        post: {responses: {200: {description: yes}}}
        """

    app.add_url_rule("/api/v1/undocumented", "api.undocumented", undocumented)
    app.add_url_rule("/api/v1/both", "api.both", documents_too_much, methods=["POST"])
    with app.test_request_context():
        spec = openapi_document(app)
    assert routed_operations(app) - documented_operations(spec) == {("/api/v1/undocumented", "get")}
    assert documented_operations(spec) - routed_operations(app) == {("/api/v1/both", "get")}


def test_the_document_is_valid_openapi_3_1(spec):
    validate(spec)  # raises OpenAPIValidationError
    assert spec["openapi"] == "3.1.0"


def test_the_document_keeps_its_info_server_and_bearer_scheme(spec):
    assert spec["info"]["title"] == "Rollwise API" and spec["info"]["version"] == "1.0.0"
    assert "Authorization: Bearer" in spec["info"]["description"]
    assert spec["servers"] == [{"url": "/api/v1"}]
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "rw_…",
    }
    assert spec["paths"]["/openapi.json"]["get"]["security"] == []


# ---------------------------------------------------------------- bodies against schemas


def validator(spec, schema) -> Draft202012Validator:
    """A validator of ``schema``, whose ``$ref``s point into the document's components."""
    return Draft202012Validator(
        {**schema, "components": spec["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def request_validator(spec, path: str, method: str) -> Draft202012Validator:
    content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
    return validator(spec, content["schema"])


def response_validator(spec, path: str, method: str, status: int) -> Draft202012Validator:
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, f"{status} is not documented for {method} {path}"
    response = responses[str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return validator(spec, response["content"]["application/json"]["schema"])


def errors_of(validator: Draft202012Validator, body) -> list[str]:
    return [error.message for error in validator.iter_errors(body)]


ROW = {"site": "A1", "date": "2026-10-01", "metric": "wait", "value": 5.5}
NO_VALUE = {"site": "A1", "date": "2026-10-01", "metric": "wait"}


@pytest.mark.parametrize(
    ("body", "schema_accepts", "status", "code"),
    [
        ({"rows": [ROW]}, True, 200, None),
        ([ROW, ROW | {"site": "B2", "value": "6"}], True, 200, None),
        ({"pilot_id": None, "rows": [ROW | {"denominator": 40}]}, True, 200, None),
        ({"rows": [ROW | {"denominator": None}], "note": "ignored"}, True, 200, None),
        # a schema cannot know the site codes and metric keys, nor read a number in a string
        ({"rows": [ROW | {"site": "ZZ"}, ROW | {"value": "abc"}]}, True, 422, "invalid_rows"),
        ({"rows": [ROW, ROW]}, True, 422, "invalid_rows"),
        ({"rows": [ROW | {"date": "yesterday"}]}, False, 422, "invalid_rows"),
        ({"rows": [ROW | {"value": True}]}, False, 422, "invalid_rows"),
        ({"rows": [ROW | {"colour": "red"}]}, False, 422, "invalid_rows"),
        ({"rows": [NO_VALUE]}, False, 422, "invalid_rows"),
        ({"rows": [ROW, 1]}, False, 422, "invalid_rows"),
        ({"rows": "A1"}, False, 422, "invalid"),
        ({"rows": []}, False, 422, "invalid"),
        ({"pilot_id": "1", "rows": [ROW]}, False, 422, "invalid"),
        ({"rows": [ROW] * (API_MAX_ROWS + 1)}, False, 413, "batch_too_large"),
    ],
)
def test_observation_bodies_match_their_documented_schemas(
    client, token, spec, body, schema_accepts, status, code
):
    request_errors = errors_of(request_validator(spec, "/observations", "post"), body)
    assert (request_errors == []) is schema_accepts, request_errors
    response = client.post(
        "/api/v1/observations", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == status, response.get_json()
    documented = response_validator(spec, "/observations", "post", status)
    assert errors_of(documented, response.get_json()) == []
    if code:
        assert response.get_json()["error"]["code"] == code


def test_row_errors_are_documented_down_to_each_row(client, token, spec):
    body = {"rows": [ROW | {"site": "ZZ"}]}
    response = client.post(
        "/api/v1/observations", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    error = response.get_json()["error"]
    assert error["rows"] == [{"row": 0, "column": "site", "message": "Unknown site code 'ZZ'."}]
    documented = response_validator(spec, "/observations", "post", 422)
    assert errors_of(documented, response.get_json()) == []
    error["rows"][0]["hint"] = "an undocumented key"
    assert errors_of(documented, response.get_json() | {"error": error})  # the check can fail


def test_refusals_before_the_batch_is_read_are_documented_too(client, token, spec):
    not_json = client.post(
        "/api/v1/observations",
        data="rows",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    no_token = client.post("/api/v1/observations", json={"rows": [ROW]})
    for response in (not_json, no_token):
        documented = response_validator(spec, "/observations", "post", response.status_code)
        assert errors_of(documented, response.get_json()) == []
    assert (not_json.status_code, no_token.status_code) == (400, 401)


def test_the_documented_example_is_a_valid_batch(spec):
    content = spec["paths"]["/observations"]["post"]["requestBody"]["content"]["application/json"]
    assert errors_of(request_validator(spec, "/observations", "post"), content["example"]) == []


@pytest.mark.parametrize("path", ["/metrics", "/sites"])
def test_the_lists_match_their_documented_schemas(client, token, spec, path):
    response = client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert errors_of(response_validator(spec, path, "get", 200), response.get_json()) == []
