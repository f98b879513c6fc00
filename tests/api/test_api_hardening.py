"""The API refuses hostile input in its error shape (never a 500), bounds values per metric,
and identical concurrent batches write one revision, not several."""

from __future__ import annotations

import json
import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.api.observations import LONG_FORM, batch_rows
from app.config import TestConfig
from app.extensions import db
from app.models import ApiToken, ImportBatch, Metric, MetricKind, ObservationRevision, Site
from app.sites.observation_import import apply_observations, frame_from_records, plan_observations

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "wt_hardening_api_revisions"


def post(client, raw, body, **kwargs):
    return client.post(
        "/api/v1/observations", json=body, headers={"Authorization": f"Bearer {raw}"}, **kwargs
    )


def row(**overrides):
    return {"site": "A1", "date": "2026-10-01", "metric": "wait", "value": 5} | overrides


@pytest.mark.parametrize("pilot_id", [99999999999999999999, -(2**70), 2**31, 0])
def test_an_unknown_or_huge_pilot_id_is_a_422_naming_the_field(client, token, pilot_id):
    response = post(client, token, {"pilot_id": pilot_id, "rows": [row()]})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"pilot_id": "unknown pilot"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1e308, "1e+308 is too large to be a daily value."),
        (-1e13, "-10000000000000.0 is too large to be a daily value."),
        ("1e999", "'1e999' is not a number."),
        ("NaN", "'NaN' is not a number."),
        ("-inf", "'-inf' is not a number."),
    ],
)
def test_non_finite_and_absurd_values_are_refused_naming_row_and_field(
    client, token, value, message
):
    response = post(client, token, {"rows": [row(), row(date="2026-10-02", value=value)]})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["fields"] == {"rows[1].value": message}
    assert error["rows"] == [{"row": 1, "column": "value", "message": message}]


def test_json_nan_and_infinity_tokens_are_refused_too(client, token):
    body = '{"rows": [{"site": "A1", "date": "2026-10-01", "metric": "wait", "value": NaN}]}'
    response = client.post(
        "/api/v1/observations",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"rows[0].value": "'nan' is not a number."}


def test_a_value_outside_its_metrics_bounds_is_refused(client, token, make_metric):
    make_metric("share", min_value=0.0, max_value=1.0, kind=MetricKind.PROPORTION)
    db.session.commit()
    rows = [
        row(value=-0.5),
        row(metric="share", value=1.5),
        row(metric="share", date="2026-10-02", value=0.4),
    ]
    response = post(client, token, {"rows": rows})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "rows[1].value": "1.5 is above 1, the largest value of share.",
    }
    db.session.execute(Metric.__table__.update().where(Metric.key == "wait").values(min_value=0))
    db.session.commit()
    response = post(client, token, {"rows": rows})
    assert response.get_json()["error"]["fields"]["rows[0].value"] == (
        "-0.5 is below 0, the smallest value of wait."
    )


def test_a_count_is_never_negative_without_explicit_bounds(client, token, make_metric):
    make_metric("orders", kind=MetricKind.COUNT)
    db.session.commit()
    response = post(client, token, {"rows": [row(metric="orders", value=-3)]})
    assert response.get_json()["error"]["fields"] == {
        "rows[0].value": "-3 is below 0, the smallest value of orders."
    }


def test_a_huge_denominator_is_refused(client, token):
    response = post(client, token, {"rows": [row(denominator=1e300)]})
    assert response.status_code == 422
    assert "rows[0].denominator" in response.get_json()["error"]["fields"]


def test_a_nul_byte_in_a_json_string_is_an_unknown_site_not_a_500(client, token):
    response = post(client, token, {"rows": [row(site="A\u00001")]})
    assert response.status_code == 422
    assert "rows[0].site" in response.get_json()["error"]["fields"]


def test_identical_batches_applied_one_after_the_other_revise_once(app, rctx, token):
    """Two plans read the same stored value; the second to write finds nothing to change."""
    payload = {"rows": [row(value=5)]}
    first_token = db.session.scalar(select(ApiToken))
    _write(payload, first_token)
    changed = {"rows": [row(value=9)]}
    plans = [_plan(changed), _plan(changed)]  # both planned against the stored 5
    batches = [
        apply_observations(plan, token=first_token, kind="observations_api") for plan in plans
    ]
    db.session.commit()
    assert db.session.scalar(select(func.count(ObservationRevision.id))) == 1
    assert [(b.rows_updated, b.rows_unchanged) for b in batches] == [(1, 0), (0, 1)]


def _plan(payload):
    records, pilot = batch_rows(payload)
    frame, errors = frame_from_records(records)
    assert not errors
    chosen = dict(LONG_FORM, denominator="")
    return plan_observations([frame], pilot=pilot, chosen=chosen, source="api")


def _write(payload, token) -> None:
    apply_observations(_plan(payload), token=token, kind="observations_api")
    db.session.commit()


# ---------------------------------------------------------------- PostgreSQL, threads


def _postgres_app():
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=2) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")

    class PostgresConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}"

    return create_app(PostgresConfig)


def test_concurrent_identical_batches_on_postgresql_write_one_revision():
    app = _postgres_app()
    threads_n = 4
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add_all(
            [Site(code="A1", name="A1", region="East"), Metric(key="wait", name="Wait", unit="min")]
        )
        token_row, _raw = ApiToken.generate("POS")
        db.session.add(token_row)
        db.session.commit()
        token_id = token_row.id
        with app.test_request_context():
            _write({"rows": [row(value=5)]}, token_row)
    barrier = threading.Barrier(threads_n)
    outcomes: list[str] = []

    def send() -> None:
        with app.app_context(), app.test_request_context():
            plan = _plan({"rows": [row(value=9)]})  # every thread reads the stored 5
            barrier.wait(timeout=30)
            try:
                token = db.session.get(ApiToken, token_id)
                apply_observations(plan, token=token, kind="observations_api")
                db.session.commit()
                outcomes.append("written")
            except IntegrityError:
                db.session.rollback()
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        revisions = db.session.scalars(select(ObservationRevision)).all()
        batches = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id)).all()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    assert outcomes == ["written"] * threads_n
    assert [(r.old_value, r.new_value) for r in revisions] == [(5.0, 9.0)]
    assert sorted(b.rows_updated for b in batches[1:]) == [0, 0, 0, 1]


# ---------------------------------------------------------------- generated input

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["\x00", "A1", "wait", "2026-10-01", "1e308", "-1", "NaN", "99999999999999999999"]
    ),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
ROW_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "site": JSON_SCALARS,
        "date": JSON_SCALARS | st.dates().map(str),
        "metric": JSON_SCALARS,
        "value": JSON_SCALARS,
        "denominator": JSON_SCALARS,
        "extra": JSON_SCALARS,
    },
)
BATCHES = st.one_of(
    JSON_VALUES,
    st.lists(ROW_FIELDS, max_size=5),
    st.fixed_dictionaries(
        {"rows": st.lists(ROW_FIELDS | JSON_VALUES, max_size=5)},
        optional={"pilot_id": JSON_SCALARS},
    ),
)
GENERATED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@GENERATED
@given(body=BATCHES)
def test_no_json_body_makes_a_server_error(client, token, body):
    response = client.post(
        "/api/v1/observations",
        data=json.dumps(body, allow_nan=True),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 400, 409, 413, 422), response.get_data(as_text=True)
    if response.status_code != 200:
        assert set(response.get_json()["error"]) >= {"code", "message", "fields"}


@GENERATED
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_no_raw_body_makes_a_server_error(client, token, body):
    response = client.post(
        "/api/v1/observations",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 400, 422), response.get_data(as_text=True)


class SchemaConfig(TestConfig):
    """The app schemathesis calls: its own in-memory database, whatever the suite uses."""

    SQLALCHEMY_DATABASE_URI = "sqlite://"


SCHEMA_APP = create_app(SchemaConfig)


@pytest.fixture
def schema_world():
    """Sites, a metric and the token the generated requests use (made once)."""
    with SCHEMA_APP.app_context():
        db.create_all()
        if db.session.scalar(select(func.count(Site.id))) == 0:
            db.session.add_all(
                [
                    Site(code="A1", name="A1", region="East"),
                    Metric(key="wait", name="W", unit="min"),
                ]
            )
            token_row, raw = ApiToken.generate("schemathesis")
            db.session.add(token_row)
            db.session.commit()
            SCHEMA_APP.config["SCHEMA_TOKEN"] = raw
        yield SCHEMA_APP.config["SCHEMA_TOKEN"]
        db.session.remove()


#: An invalid batch is refused with one of these: a 413 for more rows than `maxItems` (as
#: documented) joins schemathesis' default list.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
#: A batch of the documented shape may still name a site, metric or day the database does not
#: accept: a 422 listing the rows (no schema can know the site codes).
ACCEPTANCES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
SCHEMATHESIS_CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": REJECTIONS},
            "positive_data_acceptance": {"expected-statuses": ACCEPTANCES},
        }
    }
)
openapi_schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", SCHEMA_APP, config=SCHEMATHESIS_CONFIG
)


@openapi_schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_openapi_document(case, schema_world):
    """schemathesis: requests generated from the document (valid and invalid ones) never
    get a 500 and every answer matches the document (status codes, body schemas)."""
    # The valid token replaces the generated one, except where schemathesis made the headers
    # the invalid part of a case: replacing them would turn its negative case into a valid
    # request and the "schema-violating request accepted" check into a false alarm.
    headers_negated = case.meta is not None and any(
        location.value == "header" and info.mode.value == "negative"
        for location, info in (case.meta.components or {}).items()
    )
    token = {} if headers_negated else {"Authorization": f"Bearer {schema_world}"}
    case.call_and_validate(headers=token)
