"""No input makes a 500: NUL bytes, huge integers, deep JSON; /healthz and the 503 of a
database that is down."""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager

import pytest

from app import create_app
from app.config import TestConfig
from app.errors.guards import MAX_JSON_DEPTH, json_depth
from app.extensions import db
from app.models import ApiToken, Role

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
LOCAL_REDIS = "redis://127.0.0.1:6379/13"
HUGE = "99999999999999999999"


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@contextmanager
def client_with(**settings):
    """A client of an app with these settings, on the suite's database (disposed after)."""
    app = create_app(type("HardeningConfig", (TestConfig,), settings))
    with app.app_context():
        db.create_all()
        try:
            yield app.test_client()
        finally:
            db.session.remove()
            db.engine.dispose()


class DatabaseDownConfig(TestConfig):
    """A database that cannot be opened: every query raises OperationalError."""

    SQLALCHEMY_DATABASE_URI = "sqlite:////nonexistent-rollwise-dir/down.db"
    PROPAGATE_EXCEPTIONS = False


# ---------------------------------------------------------------- /healthz


def test_health_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": {"ok": True}}}
    assert response.headers["Cache-Control"] == "no-store"


def test_health_answers_503_naming_the_database_when_it_is_down(caplog):
    caplog.set_level(logging.ERROR)
    app = create_app(DatabaseDownConfig)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert any(r.name == "rollwise.health" for r in caplog.records)


def test_health_answers_503_when_the_configured_redis_is_unreachable():
    with client_with(REDIS_URL=UNREACHABLE_REDIS) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["queue", "redis"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"]["ok"] is False


def test_health_does_not_check_a_queue_reports_do_not_use():
    with client_with(REDIS_URL=UNREACHABLE_REDIS, REPORT_RUNNER="thread") as client:
        body = client.get("/healthz").get_json()
    assert set(body["checks"]) == {"database", "redis"}


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_health_reports_redis_and_the_report_queue_when_they_answer():
    with client_with(REDIS_URL=LOCAL_REDIS) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["redis"] == {"ok": True}
    assert checks["queue"]["ok"] is True
    assert {"queued", "workers"} <= set(checks["queue"])


# ---------------------------------------------------------------- database down


def test_the_api_answers_503_in_its_error_shape_when_the_database_is_down():
    app = create_app(DatabaseDownConfig)
    response = app.test_client().post(
        "/api/v1/observations",
        json={"rows": []},
        headers={"Authorization": "Bearer rw_x", "X-Request-ID": "db-down-1"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    error = response.get_json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["request_id"] == "db-down-1"
    assert "database" in error["message"]


def test_a_page_answers_503_without_needing_the_database():
    app = create_app(DatabaseDownConfig)
    client = app.test_client()
    with client.session_transaction() as session:  # a signed-in user: loading them fails
        session["_user_id"] = "1"
        session["_fresh"] = True
    response = client.get("/", headers={"X-Request-ID": "db-down-2"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "cannot reach its database" in page
    assert "db-down-2" in page


# ---------------------------------------------------------------- bad input


def test_a_nul_byte_in_a_form_value_is_a_400(client):
    response = client.post("/auth/login", data={"email": "a\x00@example.com", "password": "x"})
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


NUL = "NUL character"
OUT_OF_RANGE = "out of range"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/sites/?q=%00", NUL),
        ("/sites/?q=a%00b&region=East", NUL),
        ("/sites/?%00=1", NUL),
        ("/auth/login?next=%00", NUL),
        ("/feedback/pilots/1/comments?tag=%00", NUL),
        (f"/sites/?page={HUGE}", OUT_OF_RANGE),
        (f"/sites/?page=-{HUGE}", OUT_OF_RANGE),
        (f"/feedback/pilots/1/comments?site={HUGE}", OUT_OF_RANGE),
        (f"/feedback/staff?days={HUGE}", OUT_OF_RANGE),
        ("/sites/?page=" + "9" * 5000, OUT_OF_RANGE),  # beyond what Python converts to an int
    ],
)
def test_a_nul_byte_or_an_out_of_range_integer_in_a_query_is_a_400(client, auth, url, message):
    auth.login(Role.ADMIN)
    response = client.get(url)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        f"/pilots/{HUGE}",
        f"/pilots/{HUGE}/wizard/2",
        f"/feedback/pilots/{HUGE}/comments",
        "/pilots/2147483648",
    ],
)
def test_an_id_beyond_any_stored_id_in_the_path_is_a_404(client, auth, url):
    auth.login(Role.ADMIN)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("page", ["2147483647", "-5", "²", "١٢", "0x10", "1e9"])
def test_an_ordinary_or_odd_page_number_still_answers(client, auth, page):
    auth.login(Role.ANALYST)
    assert client.get("/sites/", query_string={"page": page}).status_code == 200


def test_json_depth_counts_brackets_outside_strings():
    assert json_depth('{"a": [1, {"b": "[[[["}]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    assert json_depth("[" * 50 + "]" * 50) == 50


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_a_400_in_the_api_error_shape(client, depth):
    with client.application.app_context():
        row, raw = ApiToken.generate("deep")
        db.session.add(row)
        db.session.commit()
    response = client.post(
        "/api/v1/observations",
        data="[" * depth + "]" * depth,
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request"
    assert "nested more than" in error["message"]
