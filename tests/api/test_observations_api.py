"""POST /api/v1/observations: bearer tokens, idempotent batches, one error shape."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, ImportBatch, Observation, ObservationRevision, Role
from app.sites.observation_import import API_MAX_ROWS


def post(client, raw, body):
    return client.post(
        "/api/v1/observations", json=body, headers={"Authorization": f"Bearer {raw}"}
    )


ROWS = [
    {"site": "A1", "date": "2026-10-01", "metric": "wait", "value": 5.5},
    {"site": "B2", "date": "2026-10-01", "metric": "wait", "value": "6"},
]


def count() -> int:
    return db.session.scalar(select(func.count(Observation.id)))


def test_a_batch_is_inserted_and_resending_it_changes_nothing(client, token):
    first = post(client, token, {"rows": ROWS})
    assert first.status_code == 200
    assert first.get_json() | {"batch_id": 0} == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "batch_id": 0,
    }
    again = post(client, token, {"rows": ROWS})
    assert (again.get_json()["inserted"], again.get_json()["unchanged"]) == (0, 2)
    assert count() == 2
    batch = db.session.get(ImportBatch, first.get_json()["batch_id"])
    assert batch.api_token_id is not None and batch.user_id is None


def test_a_corrected_value_is_updated_and_its_history_kept(client, token):
    post(client, token, ROWS)  # a bare list is accepted too
    changed = [ROWS[0] | {"value": 7.25}, ROWS[1]]
    body = post(client, token, {"rows": changed}).get_json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (0, 1, 1)
    revision = db.session.scalar(select(ObservationRevision))
    assert (revision.old_value, revision.new_value) == (5.5, 7.25)


def test_row_errors_come_back_together_in_the_one_error_shape(client, token):
    rows = [
        ROWS[0],
        {"site": "ZZ", "date": "2026-10-01", "metric": "wait", "value": 1},
        {"site": "A1", "date": "yesterday", "metric": "wait", "value": 1},
        {"site": "A1", "date": "2026-10-02", "metric": "nope", "value": "abc"},
        ROWS[0],
    ]
    response = post(client, token, {"rows": rows})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_rows"
    assert set(error["fields"]) == {
        "rows[1].site",
        "rows[2].date",
        "rows[3].metric",
        "rows[3].value",
        "rows[4].metric",
    }
    assert error["fields"]["rows[1].site"] == "Unknown site code 'ZZ'."
    assert error["rows"][-1] == {
        "row": 4,
        "column": "metric",
        "message": "Duplicate of row 0 (same site, date and metric wait).",
    }
    assert count() == 0  # atomic: the good row 0 was not written either


def test_dates_are_checked_against_the_pilot(client, token, make_pilot):
    pilot = make_pilot(start_date=date(2026, 10, 1))
    db.session.commit()
    early = {"site": "A1", "date": "2026-01-01", "metric": "wait", "value": 1}
    response = post(client, token, {"pilot_id": pilot.id, "rows": [early]})
    assert response.status_code == 422
    assert "pre-period" in response.get_json()["error"]["fields"]["rows[0].date"]
    missing = post(client, token, {"pilot_id": 999999, "rows": ROWS})
    assert missing.get_json()["error"]["fields"] == {"pilot_id": "unknown pilot"}


def test_batches_over_the_limit_are_refused_before_any_work(client, token):
    rows = [ROWS[0]] * (API_MAX_ROWS + 1)
    response = post(client, token, {"rows": rows})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "batch_too_large"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "invalid_json"),
        ({"rows": "A1"}, 422, "invalid"),
        ({"rows": []}, 422, "invalid"),
        (
            {"rows": [1, {"site": "A1", "date": "2026-10-01", "metric": "wait", "value": True}]},
            422,
            "invalid_rows",
        ),
    ],
)
def test_malformed_requests_get_a_clear_4xx(client, token, body, status, code):
    if isinstance(body, str):
        response = client.post(
            "/api/v1/observations",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
    else:
        response = post(client, token, body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert set(response.get_json()["error"]) >= {"code", "message", "fields"}


def test_missing_wrong_and_revoked_tokens_get_401(client, token):
    assert client.post("/api/v1/observations", json=ROWS).status_code == 401
    wrong = post(client, "rw_not-a-real-token", ROWS)
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    row = db.session.scalar(select(ApiToken))
    row.revoked_at = row.created_at
    db.session.commit()
    assert post(client, token, ROWS).status_code == 401


def test_tokens_are_shown_once_and_stored_only_as_a_hash(client, auth):
    auth.login(Role.CHANGE_LEAD)
    page = client.post("/integrations/tokens", data={"name": "POS North"})
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    raw = html.split('class="user-select-all fs-6">')[1].split("<")[0]
    assert raw.startswith("rw_")
    stored = db.session.scalar(select(ApiToken).where(ApiToken.name == "POS North"))
    assert stored.token_hash == ApiToken.hash_token(raw) and raw not in stored.token_hash
    assert raw not in client.get("/integrations/tokens").get_data(as_text=True)
    client.post(f"/integrations/tokens/{stored.id}/revoke", data={})
    db.session.refresh(stored)
    assert not stored.is_active


def test_the_openapi_description_documents_the_endpoint(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/observations"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "401", "413", "422"} <= set(operation["responses"])
    assert spec["components"]["schemas"]["ObservationBatch"]["properties"]["rows"]["maxItems"] == (
        API_MAX_ROWS
    )


def test_integrators_can_list_site_codes_and_metric_keys(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    assert [
        s["code"] for s in client.get("/api/v1/sites", headers=headers).get_json()["sites"]
    ] == [
        "A1",
        "B2",
    ]
    metrics = client.get("/api/v1/metrics", headers=headers).get_json()["metrics"]
    assert [m["key"] for m in metrics] == ["wait"]


def test_errors_past_the_listed_ones_are_counted_in_the_message(client, token):
    rows = [ROWS[0] | {"site": f"Z{i}"} for i in range(250)]
    error = post(client, token, {"rows": rows}).get_json()["error"]
    assert len(error["rows"]) == len(error["fields"]) == 200
    assert error["message"] == (
        "200 rows have errors; nothing was imported. 50 further errors are not listed."
    )
