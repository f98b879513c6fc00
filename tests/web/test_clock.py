"""One organisation clock: every area counts the same local day around midnight.

23:30 on 5 October in Shanghai is 15:30 UTC on 5 October; 00:30 on 6 October in Shanghai is
16:30 UTC, still 5 October in UTC. A page that took the server's (UTC) day, or a module with
a fallback of its own, would put both instants on 5 October. Before ``app/core/clock.py``
four modules read the zone, two of them falling back to UTC and one to Asia/Shanghai.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.core import clock
from app.extensions import db
from app.feedback import analytics, responses
from app.feedback import questionnaires as svc
from app.models import Audience, Role

LATE_EVENING = datetime(2026, 10, 5, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, 5 October
AFTER_MIDNIGHT = datetime(2026, 10, 5, 16, 30, tzinfo=UTC)  # 00:30 in Shanghai, 6 October
CASES = [(LATE_EVENING, date(2026, 10, 5)), (AFTER_MIDNIGHT, date(2026, 10, 6))]


@pytest.fixture(params=["Asia/Shanghai", None, "Not/AZone"], ids=["set", "unset", "invalid"])
def zone_setting(app, request):
    """The organisation's zone as configured; unset and invalid fall back to Shanghai."""
    app.config["BABEL_DEFAULT_TIMEZONE"] = request.param
    return request.param


@pytest.mark.parametrize(("instant", "local"), CASES, ids=["23:30", "00:30"])
def test_today_and_local_day_follow_the_organisation(zone_setting, monkeypatch, instant, local):
    monkeypatch.setattr(clock, "utc_now", lambda: instant)
    assert clock.today() == local
    assert clock.local_day(instant.replace(tzinfo=None)) == local
    low, high = clock.day_bounds(local)
    assert low <= instant.replace(tzinfo=None) < high
    assert (high - low).total_seconds() == 24 * 3600


@pytest.mark.parametrize(("instant", "local"), CASES, ids=["23:30", "00:30"])
def test_outside_the_app_the_same_fallback_applies(monkeypatch, instant, local):
    monkeypatch.setattr(clock, "utc_now", lambda: instant)
    assert clock.today() == local
    assert clock.local_day(instant) == local


@pytest.mark.parametrize(("instant", "local"), CASES, ids=["23:30", "00:30"])
def test_feedback_and_retros_count_a_response_on_its_local_day(
    zone_setting, monkeypatch, make_pilot, client, auth, instant, local
):
    pilot = make_pilot(n_pilot=1, n_control=1, start_date=date(2026, 9, 1))
    svc.ensure_forms(pilot)
    form = svc.current_form(pilot.id, Audience.CUSTOMER)
    answers, errors = responses.clean_answers(form, {"overall": "4", "ease": "4", "recommend": "9"})
    assert not errors
    site = pilot.assignments[0].site
    responses.submit_response(
        form, site.id, answers, idempotency_key="clock-test-key-0001", submitted_at=instant
    )
    db.session.commit()

    other_day = date.fromordinal(local.toordinal() + (1 if local.day == 5 else -1))
    assert analytics.feedback_summary(pilot, local)["responses"]["total"] == 1
    assert analytics.feedback_summary(pilot, other_day)["responses"]["total"] == 0

    # the retro page offers the organisation's today as the day to open
    monkeypatch.setattr(clock, "utc_now", lambda: instant)
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/retros/pilot/{pilot.id}")
    assert page.status_code == 200
    assert f'value="{local.isoformat()}"' in page.get_data(as_text=True)
