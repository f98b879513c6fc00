"""Back-office forms are safe to resend: the same POST sent twice acts once.

Each create form carries a hidden one-time ``submission_key``; a network retry or a double click
sends the same key again and is answered with the first sending's redirect, creating nothing.
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.core import clock, once
from app.extensions import db
from app.models import (
    ActionItem,
    Adjustment,
    ApiToken,
    FormSubmission,
    Metric,
    Pilot,
    Report,
    RetroItem,
    Role,
    RolloutPlan,
    User,
)
from app.retros import meetings as retro_service
from tests.conftest import PASSWORD, using_postgres
from tests.rollout.helpers import decided_pilot
from tests.rollout.test_routes import _form as plan_form

RETRO_DAY = date(2026, 10, 5)


def submission_key(page: str, name: str = "submission_key") -> str:
    """The one-time key of the form field ``name`` on a rendered page."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert tag is not None, f"no {name} field on the page"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _open_retro(make_pilot, user):
    pilot = make_pilot()
    retro, _ = retro_service.open_retro(pilot, RETRO_DAY, by=user)
    db.session.commit()
    return retro


def _day_url(retro) -> str:
    return f"/retros/pilot/{retro.pilot_id}/day/{retro.date.isoformat()}"


# Each case: (model created, build(fixtures, user) -> (page url, post url, data, key field name))
def _pilot_case(f, user):
    return "/pilots/new", "/pilots/new", {"name": "Self-order kiosks", "owner_id": user.id}


def _metric_case(f, user):
    pilot = f["make_pilot"]()
    db.session.commit()
    data = {
        "metric-name": "Kiosk adoption",
        "metric-unit": "%",
        "metric-kind": "proportion",
        "metric-better_direction": "increase",
    }
    page = f"/pilots/{pilot.id}/wizard/2"
    return page, f"/pilots/{pilot.id}/metrics/new", data, "metric-submission_key"


def _item_case(f, user):
    retro = _open_retro(f["make_pilot"], user)
    data = {"category": "problems", "text": "Seniors struggle"}
    return _day_url(retro), f"/retros/{retro.id}/items", data


def _action_case(f, user):
    retro = _open_retro(f["make_pilot"], user)
    return _day_url(retro), f"/retros/{retro.id}/actions", {"title": "Print menus"}


def _adjustment_case(f, user):
    retro = _open_retro(f["make_pilot"], user)
    site = next(a.site for a in retro.pilot.assignments if a.arm.value == "pilot")
    url = f"/retros/{retro.id}/adjustments/new"
    data = {
        "title": "Assist seniors",
        "effective_date": (RETRO_DAY + timedelta(days=1)).isoformat(),
        "scope": "selected_sites",
        "site_ids": [str(site.id)],
    }
    return url, url, data


def _plan_case(f, user):
    pilot, others = decided_pilot(f["make_pilot"], f["make_site"])
    db.session.commit()
    url = f"/rollout/pilots/{pilot.id}/new"
    return url, url, plan_form(pilot, others)


def _report_case(f, user):
    pilot = f["make_pilot"]()
    db.session.commit()
    return f"/reports/pilot/{pilot.id}", f"/reports/pilot/{pilot.id}/create", {}


def _token_case(f, user):
    return "/integrations/tokens", "/integrations/tokens", {"name": "POS export"}


def _user_case(f, user):
    data = {
        "email": "new.lead@example.com",
        "name": "New Lead",
        "role": "change_lead",
        "site_id": "0",
        "locale": "",
        "password": "a-long-password",
        "is_active": "y",
    }
    return "/admin/users/new", "/admin/users/new", data


CASES = {
    "pilot": (Pilot, _pilot_case),
    "metric": (Metric, _metric_case),
    "retro item": (RetroItem, _item_case),
    "action": (ActionItem, _action_case),
    "adjustment": (Adjustment, _adjustment_case),
    "rollout plan": (RolloutPlan, _plan_case),
    "report": (Report, _report_case),
    "api token": (ApiToken, _token_case),
    "user": (User, _user_case),
}


@pytest.fixture
def fixtures(make_pilot, make_site):
    return {"make_pilot": make_pilot, "make_site": make_site}


@pytest.mark.parametrize("case", CASES)
def test_the_same_form_sent_twice_creates_one(case, client, auth, fixtures):
    model, build = CASES[case]
    user = auth.login(Role.ADMIN)
    page_url, post_url, data, *field = (*build(fixtures, user),)
    name = field[0] if field else "submission_key"
    page = client.get(page_url)
    assert page.status_code == 200
    data = {**data, name: submission_key(page.get_data(as_text=True), name)}
    before = count(model)

    first = client.post(post_url, data=data)
    assert first.status_code in (200, 302), first.get_data(as_text=True)[:800]
    assert count(model) == before + 1
    second = client.post(post_url, data=data)
    assert count(model) == before + 1, f"the resent {case} form created a second one"
    assert second.status_code == 302
    if first.status_code == 302:
        assert second.location == first.location
    answer = client.get(second.location).get_data(as_text=True)
    assert "This form had already been sent: it was saved once." in answer


def test_every_rendering_carries_a_fresh_key_and_a_new_key_creates_again(client, auth):
    user = auth.login(Role.CHANGE_LEAD)
    keys = [submission_key(client.get("/pilots/new").get_data(as_text=True)) for _ in range(2)]
    assert keys[0] != keys[1]
    for key in keys:
        data = {"name": "Twice on purpose", "owner_id": user.id, "submission_key": key}
        assert client.post("/pilots/new", data=data).status_code == 302
    assert count(Pilot) == 2


def test_a_form_sent_without_a_key_still_works(client, auth):
    user = auth.login(Role.CHANGE_LEAD)
    for _ in range(2):
        client.post("/pilots/new", data={"name": "Scripted", "owner_id": user.id})
    assert count(Pilot) == 2
    assert count(FormSubmission) == 0


def test_a_form_with_errors_keeps_its_key_unclaimed(client, auth):
    user = auth.login(Role.CHANGE_LEAD)
    key = submission_key(client.get("/pilots/new").get_data(as_text=True))
    invalid = client.post("/pilots/new", data={"name": "", "submission_key": key})
    assert invalid.status_code == 200
    assert submission_key(invalid.get_data(as_text=True)) == key
    assert count(FormSubmission) == 0
    fixed = {"name": "Fixed", "owner_id": user.id, "submission_key": key}
    assert client.post("/pilots/new", data=fixed).status_code == 302
    assert count(Pilot) == 1


def test_old_keys_are_purged_by_the_maintenance_command(app, client, auth, runner):
    user = auth.login(Role.CHANGE_LEAD)
    key = submission_key(client.get("/pilots/new").get_data(as_text=True))
    client.post("/pilots/new", data={"name": "Old", "owner_id": user.id, "submission_key": key})
    fresh = FormSubmission(key="k" * 20, endpoint="pilots.create", user_id=user.id)
    db.session.add(fresh)
    stored = db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    stored.created_at = clock.utc_now() - once.key_lifetime() - timedelta(minutes=1)
    db.session.commit()
    result = runner.invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0, result.output
    assert "1 expired form submission key" in result.output
    assert db.session.scalars(select(FormSubmission.key)).all() == ["k" * 20]


@pytest.mark.postgres
def test_two_sendings_at_the_same_moment_create_one(app, make_user):
    """Two requests with the same key in flight together (a double click on a slow line): the
    second one's claim waits for the first to commit, then answers with its redirect."""
    if not using_postgres():
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    user = make_user(Role.CHANGE_LEAD)
    db.session.commit()
    user = SimpleNamespace(id=user.id, email=user.email)
    clients = [app.test_client() for _ in range(2)]
    data = {"name": "Sent twice at once", "owner_id": user.id, "submission_key": "k" * 32}
    start = threading.Barrier(2)
    answers = []

    def send(browser):
        # logged in on the thread: its requests have their own app context (and current_user)
        browser.post("/auth/login", data={"email": user.email, "password": PASSWORD})
        start.wait(timeout=30)
        answers.append(browser.post("/pilots/new", data=data))

    threads = [threading.Thread(target=send, args=(browser,)) for browser in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [302, 302]
    assert answers[0].location == answers[1].location
    assert count(Pilot) == 1
