"""Rate limits per link token and per client address (Flask-Limiter), on a separate app."""

from __future__ import annotations

from datetime import date

import pytest

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.feedback import questionnaires as svc
from app.models import Arm, Assignment, Pilot, PilotStatus, Site
from tests.conftest import _reset_database, using_postgres


@pytest.fixture
def limited_app(tmp_path):
    class LimitedConfig(TestConfig):
        RATELIMIT_ENABLED = True
        RATELIMIT_STORAGE_URI = "memory://"
        FEEDBACK_RATELIMIT_PER_TOKEN = "3 per minute"
        FEEDBACK_RATELIMIT_PER_ADDRESS = "5 per minute"
        FEEDBACK_RATELIMIT_VIEW = "100 per minute"

    if not using_postgres():
        LimitedConfig.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'limits.db'}"
    app = create_app(LimitedConfig)
    with app.app_context():
        _reset_database()
        pilot = Pilot(name="Limits", status=PilotStatus.RUNNING, start_date=date(2026, 10, 1))
        for code in ("L1", "L2", "L3"):
            site = Site(code=code, name=f"Site {code}", region="East")
            pilot.assignments.append(Assignment(site=site, arm=Arm.PILOT))
        db.session.add(pilot)
        svc.ensure_forms(pilot)
        links = [lk for lk in svc.ensure_links(pilot) if lk.audience.value == "customer"]
        db.session.commit()
        app.tokens = [lk.token for lk in links]
        yield app
        db.session.remove()
        db.engine.dispose()


def _post(client, token, n, address="203.0.113.7"):
    data = {"idempotency_key": f"rate-limit-key-{token[:6]}-{n:04d}", "q_overall": "5",
            "q_ease": "5", "q_recommend": "10"}  # fmt: skip
    return client.post(f"/feedback/f/{token}", data=data, environ_base={"REMOTE_ADDR": address})


def test_one_link_cannot_be_flooded(limited_app):
    client = limited_app.test_client()
    token = limited_app.tokens[0]
    statuses = [_post(client, token, n, address=f"198.51.100.{n}").status_code for n in range(4)]
    assert statuses == [303, 303, 303, 429]


def test_one_address_cannot_flood_all_links(limited_app):
    client = limited_app.test_client()
    first, second, third = limited_app.tokens
    statuses = [_post(client, first, n).status_code for n in range(3)]
    statuses += [_post(client, second, n).status_code for n in range(3)]
    assert statuses == [303, 303, 303, 303, 303, 429]
    # another address (another table's phone) still gets through
    assert _post(client, third, 99, address="192.0.2.1").status_code == 303


def test_the_limit_page_is_friendly(limited_app):
    client = limited_app.test_client()
    token = limited_app.tokens[0]
    for n in range(3):
        _post(client, token, n)
    response = _post(client, token, 3)
    assert response.status_code == 429
    assert "Too many requests" in response.get_data(as_text=True)
