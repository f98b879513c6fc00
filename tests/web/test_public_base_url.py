"""``PUBLIC_BASE_URL``: links and QR codes printed on sheets and exports carry the public
address, not the one the lead browses from; unset, the request's address as before."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from app.extensions import db
from app.feedback import qr
from app.feedback import questionnaires as svc
from app.models import Audience, Role
from tests.conftest import PASSWORD
from tests.rollout.helpers import decided_pilot, make_plan

INTERNAL = {"base_url": "http://10.0.0.12:8000"}


def _sign_in_internally(client, make_user):
    """The lead browses from the internal address: the sign-in cookie belongs to that host."""
    user = make_user(Role.CHANGE_LEAD)
    db.session.commit()
    answer = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD}, **INTERNAL
    )
    assert answer.status_code == 302


@pytest.fixture
def customer_link(make_pilot):
    pilot = make_pilot(n_pilot=1, n_control=1)
    svc.ensure_forms(pilot)
    links = svc.ensure_links(pilot)
    db.session.commit()
    return next(lk for lk in links if lk.audience is Audience.CUSTOMER)


@pytest.mark.parametrize(
    ("setting", "expected_base"),
    [
        ("https://pilots.example.com", "https://pilots.example.com"),
        ("https://example.com/rollwise/", "https://example.com/rollwise"),
        (None, "http://10.0.0.12:8000"),
    ],
)
def test_sheets_and_qr_codes_carry_the_public_address(
    app, client, make_user, customer_link, setting, expected_base
):
    app.config["PUBLIC_BASE_URL"] = setting.rstrip("/") if setting else None
    link = customer_link
    expected = f"{expected_base}/feedback/f/{link.token}"
    _sign_in_internally(client, make_user)
    sheet = client.get(
        f"/feedback/pilots/{link.pilot_id}/sites/{link.site_id}/sheet", **INTERNAL
    ).get_data(as_text=True)
    assert expected in sheet
    assert qr.qr_svg_inline(expected, scale=10) in sheet
    png = client.get(f"/feedback/links/{link.id}/qr.png", **INTERNAL).get_data()
    assert png == qr.qr_png(expected)
    if setting:
        assert "10.0.0.12" not in sheet


def test_calendar_uids_use_the_public_host(app, client, make_user, make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site, n_scope=4)
    plan = make_plan(pilot, scope=others)
    db.session.commit()
    _sign_in_internally(client, make_user)
    uids = {}
    for setting in ("https://pilots.example.com", None):
        app.config["PUBLIC_BASE_URL"] = setting
        body = client.get(f"/rollout/{plan.id}/export.ics", **INTERNAL).get_data()
        uids[setting] = {str(event["uid"]) for event in Calendar.from_ical(body).walk("VEVENT")}
    assert all(uid.endswith("@pilots.example.com") for uid in uids["https://pilots.example.com"])
    assert all(uid.endswith("@10.0.0.12:8000") for uid in uids[None])
