"""The rollout pages: generate through the form, edit with reasons, staff see their card."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Role, RolloutPlan, WaveSite
from tests.rollout.helpers import decided_pilot, make_plan


def _form(pilot, others, **overrides):
    data = {
        "name": "Spring rollout",
        "scope": [str(s.id) for s in others],
        "start_date": "2027-01-04",
        "sites_per_week": "4",
        "sizing": "count",
        "wave_count": "3",
        "weight_management": "35",
        "weight_digital": "30",
        "weight_capability": "15",
        "weight_attitude": "20",
        "holdback_percent": "10",
        "randomize": "y",
        "seed": "5",
        "mentor_limit": "2",
        "predict_by": "digital_readiness",
        "min_days_live": "14",
        "checklist_percent": "100",
        "signoff_role": "change_lead",
    }
    data.update(overrides)
    return data


def test_a_change_lead_generates_a_plan_through_the_form(client, auth, make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/rollout/pilots/{pilot.id}/new")
    assert page.status_code == 200 and b"stepped-wedge" in page.data
    response = client.post(f"/rollout/pilots/{pilot.id}/new", data=_form(pilot, others))
    assert response.status_code == 302
    plan = db.session.scalar(select(RolloutPlan))
    assert plan.name == "Spring rollout" and len(plan.sites) == len(others)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.data and b'data-testid="wave-table"' in page.data
    for fmt in ("csv", "xlsx", "ics"):
        assert client.get(f"/rollout/{plan.id}/export.{fmt}").status_code == 200
    assert client.get(f"/rollout/{plan.id}/print").status_code == 200
    assert client.get(f"/rollout/{plan.id}/waves/1").status_code == 200


def test_bad_input_re_renders_with_field_messages(client, auth, make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    auth.login(Role.CHANGE_LEAD)
    for overrides, message in [
        ({"sites_per_week": "0"}, b"Between 0.5 and 500."),
        ({"sites_per_week": "abc"}, b"Not a valid float value"),
        ({"wave_count": ""}, b"Give the number of waves."),
        (
            {
                "weight_management": "0",
                "weight_digital": "0",
                "weight_capability": "0",
                "weight_attitude": "0",
            },
            b"At least one weight",
        ),
        ({"holdback_percent": "90"}, b"Between 0 and 50."),
        ({"scope": []}, b"Choose at least one site."),
        ({"sites_per_week": "1"}, b"raise the capacity"),  # a large site counts 2
    ]:
        response = client.post(
            f"/rollout/pilots/{pilot.id}/new", data=_form(pilot, others, **overrides)
        )
        assert response.status_code == 200, overrides
        assert message in response.data, overrides
    assert db.session.scalar(select(RolloutPlan)) is None


def test_a_pilot_not_decided_for_rollout_cannot_get_a_plan(client, auth, make_pilot):
    pilot = make_pilot()
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/rollout/pilots/{pilot.id}")
    assert b"not-decided" in page.data
    response = client.post(f"/rollout/pilots/{pilot.id}/new", data={})
    assert response.status_code == 302


def test_moving_a_site_from_the_plan_page(client, auth, make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    ws = next(ws for ws in plan.sites if ws.wave and ws.wave.number == 1)
    url = f"/rollout/{plan.id}/sites/{ws.site_id}/move"
    response = client.post(url, data={"target": "2", "reason": "", "next": "plan"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(WaveSite, ws.id).wave.number == 1  # no reason, no move
    response = client.post(
        url, data={"target": "2", "reason": "manager asked", "next": "plan"}, follow_redirects=True
    )
    assert b"moved" in response.data
    db.session.expire_all()
    assert db.session.get(WaveSite, ws.id).wave.number == 2
    history = client.get(f"/rollout/{plan.id}").data
    assert b'data-testid="plan-history"' in history and b"manager asked" in history
    assert client.post(url, data={"target": "99", "reason": "x"}).status_code == 302


def test_wave_dates_form_shows_field_errors(client, auth, make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    w2 = plan.waves[1]
    response = client.post(
        f"/rollout/{plan.id}/waves/1/dates",
        data={"start_date": "2027-01-04", "end_date": w2.start_date.isoformat(), "reason": "x"},
    )
    assert response.status_code == 200
    assert b"choose an earlier gate date" in response.data


def test_staff_see_only_their_own_sites_card(client, auth, make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    own, other = others[0], others[1]
    auth.login(Role.STAFF, site=own)
    card = client.get(f"/rollout/{plan.id}/sites/{own.id}")
    assert card.status_code == 200 and b'data-testid="checklist"' in card.data
    assert b"mentor-form" not in card.data  # read only
    assert client.get(f"/rollout/{plan.id}/sites/{other.id}").status_code == 403
    assert client.get(f"/rollout/{plan.id}").status_code == 403
    mine = client.get("/rollout/my-site")
    assert mine.status_code == 302 and f"/sites/{own.id}" in mine.headers["Location"]


def test_analysts_read_but_cannot_change(client, auth, make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    db.session.commit()
    auth.login(Role.ANALYST)
    page = client.get(f"/rollout/{plan.id}")
    assert page.status_code == 200 and b"move-" not in page.data
    ws = plan.sites[0]
    response = client.post(
        f"/rollout/{plan.id}/sites/{ws.site_id}/move", data={"target": "holdback", "reason": "x"}
    )
    assert response.status_code == 403


def test_gate_evaluation_decisions_and_sign_off_through_the_pages(
    client, auth, make_pilot, make_site, make_metric
):
    from tests.rollout.test_gates import _setup

    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    base = f"/rollout/{plan.id}/waves/{wave.number}"
    response = client.post(base + "/evaluate", data={"as_of": due.isoformat()})
    assert response.status_code == 302
    page = client.get(base)
    assert b'data-testid="gate-table"' in page.data and b"Hold" in page.data
    assert client.post(base + "/signoff", data={"note": "ok"}).status_code == 302
    client.post(base + "/evaluate", data={"as_of": due.isoformat()})
    client.post(base + "/decision", data={"action": "go", "reason": ""})
    db.session.expire_all()
    assert db.session.get(type(wave), wave.id).status.value == "passed"
    page = client.get(base)
    assert b'data-testid="decision-form"' not in page.data  # nothing left to decide


def test_pages_render_in_chinese(client, auth, make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot, holdback_share=0.2, seed=1)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    client.get("/lang/zh_CN")
    for url in (
        f"/rollout/{plan.id}",
        f"/rollout/{plan.id}/print",
        f"/rollout/{plan.id}/waves/1",
        f"/rollout/{plan.id}/sites/{plan.sites[0].site_id}",
        f"/rollout/pilots/{pilot.id}/new",
        f"/rollout/{plan.id}/export.csv",
    ):
        assert client.get(url).status_code == 200, url
