"""Shared fixtures: ``app``, ``client``, ``runner``, ``auth`` and factories.

The suite runs on in-memory SQLite by default and on PostgreSQL when
``TEST_DATABASE_URL`` is set (``.ci/run`` sets it). On PostgreSQL the schema is created
once per session and every test starts from empty tables.
"""

from __future__ import annotations

import io
import itertools
import os
from datetime import date, timedelta

import pytest
from openpyxl import Workbook

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import (
    Arm,
    Assignment,
    Audience,
    Direction,
    FeedbackForm,
    Metric,
    MetricKind,
    MetricRole,
    Pilot,
    PilotMetric,
    PilotStatus,
    Role,
    Site,
    SizeTier,
    User,
)

PASSWORD = "correct-horse-battery"
#: Questions the test feedback forms pick by key: (type, English label, Chinese label).
QUESTIONS = {
    "overall": ("rating", "Overall", "总体"),
    "recommend": ("nps", "Recommend", "推荐"),
    "comment": ("text", "Comment", "意见"),
    "attitude": ("rating", "A", "A"),
}
_schema_ready = False
_counter = itertools.count(1)


def using_postgres() -> bool:
    return (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql")


def _reset_database() -> None:
    global _schema_ready
    if using_postgres():
        if not _schema_ready:
            db.drop_all()
            db.create_all()
            _schema_ready = True
        # DELETE beats TRUNCATE on the small tables tests leave behind
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    else:
        db.create_all()


@pytest.fixture
def app():
    app = create_app(TestConfig)
    with app.app_context():
        _reset_database()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- files


def xlsx_bytes(rows) -> bytes:
    """An Excel workbook whose first sheet holds ``rows``, as uploaded."""
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def post_file(client, url: str, body: bytes, filename: str):
    """POST ``body`` as the ``file`` of a multipart form, as the upload pages receive it."""
    return client.post(
        url, data={"file": (io.BytesIO(body), filename)}, content_type="multipart/form-data"
    )


# ---------------------------------------------------------------- factories


def _stored(row):
    """Add ``row`` to the session and flush, so it has its id."""
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def make_site(app):
    def make(**overrides) -> Site:
        n = next(_counter)
        defaults = {
            "code": f"S{n:04d}",
            "name": f"Site {n}",
            "region": "East",
            "size_tier": SizeTier.MEDIUM,
            "staff_count": 20,
            "management_score": 70.0,
            "digital_readiness": 60.0,
            "senior_share": 0.2,
        }
        return _stored(Site(**{**defaults, **overrides}))

    return make


@pytest.fixture
def make_user(app):
    def make(role: Role = Role.CHANGE_LEAD, password: str = PASSWORD, **overrides) -> User:
        n = next(_counter)
        defaults = {"email": f"user{n}@example.com", "name": f"User {n}", "role": role}
        user = User(**{**defaults, **overrides})
        user.set_password(password)
        return _stored(user)

    return make


@pytest.fixture
def make_metric(app):
    def make(key: str | None = None, **overrides) -> Metric:
        n = next(_counter)
        defaults = {
            "key": key or f"metric_{n}",
            "name": f"Metric {n}",
            "unit": "min",
            "kind": MetricKind.CONTINUOUS,
            "better_direction": Direction.DECREASE,
        }
        return _stored(Metric(**{**defaults, **overrides}))

    return make


@pytest.fixture
def add_guardrail(make_metric):
    """``add_guardrail(pilot, margin=None, **metric_fields)`` gives ``pilot`` a new guardrail
    metric (better = increase, unless the fields say otherwise) after its primary one."""

    def add(pilot: Pilot, margin: float | None = None, **metric_fields) -> Metric:
        metric = make_metric(**{"better_direction": Direction.INCREASE, **metric_fields})
        pilot.metric_links.append(
            PilotMetric(metric=metric, role=MetricRole.GUARDRAIL, margin=margin, position=1)
        )
        return metric

    return add


@pytest.fixture
def make_pilot(make_site, make_metric):
    """A pilot with ``n_pilot`` pilot and ``n_control`` control sites and a primary metric."""

    def make(n_pilot: int = 2, n_control: int = 3, sites=None, **overrides) -> Pilot:
        start = overrides.pop("start_date", date(2026, 10, 1))
        defaults = {
            "name": f"Pilot {next(_counter)}",
            "status": PilotStatus.RUNNING,
            "pre_start": start - timedelta(days=28),
            "start_date": start,
            "end_date": start + timedelta(days=27),
        }
        pilot = Pilot(**{**defaults, **overrides})
        metric = make_metric()
        pilot.metric_links.append(PilotMetric(metric=metric, role=MetricRole.PRIMARY))
        chosen = list(sites) if sites is not None else []
        chosen += [make_site() for _ in range(n_pilot + n_control - len(chosen))]
        for i, site in enumerate(chosen):
            arm = Arm.PILOT if i < n_pilot else Arm.CONTROL
            pilot.assignments.append(Assignment(site=site, arm=arm))
        return _stored(pilot)

    return make


def _question(key: str) -> dict[str, str]:
    kind, label_en, label_zh = QUESTIONS[key]
    return {"key": key, "type": kind, "label_en": label_en, "label_zh": label_zh}


@pytest.fixture
def make_feedback_form(app):
    """``make_feedback_form(pilot, keys, audience=..., title_en=..., title_zh=...)`` stores a
    form of ``pilot`` asking the ``QUESTIONS`` named by ``keys``, in that order."""

    def make(pilot: Pilot, keys, audience=Audience.CUSTOMER, **titles) -> FeedbackForm:
        questions = [_question(key) for key in keys]
        return _stored(FeedbackForm(pilot=pilot, audience=audience, questions=questions, **titles))

    return make


class AuthActions:
    def __init__(self, client, make_user, make_site):
        self._client = client
        self._make_user = make_user
        self._make_site = make_site
        self.user: User | None = None

    def login(self, role: Role | str = Role.CHANGE_LEAD, user: User | None = None, **kw):
        """Create a user of ``role`` (staff get a site) and log in through the form."""
        if user is None:
            role = Role(role) if isinstance(role, str) else role
            if role is Role.STAFF and "site" not in kw and "site_id" not in kw:
                kw["site"] = self._make_site()
            user = self._make_user(role, **kw)
        db.session.commit()
        self.user = user
        response = self._client.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 302, "login failed in the test fixture"
        return user

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client, make_user, make_site):
    return AuthActions(client, make_user, make_site)
