"""Starting a pilot freezes its design; later changes need a reason and become deviations."""

from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import Arm, AuditEvent, PilotStatus, Role
from app.pilots import lifecycle as svc


def draft(make_pilot):
    pilot = make_pilot(
        n_pilot=2, n_control=2, status=PilotStatus.DRAFT, min_effect=1.0, hypothesis="Waits fall"
    )
    db.session.commit()
    return pilot


def events(pilot, **where):
    query = select(AuditEvent).where(AuditEvent.pilot_id == pilot.id)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return db.session.scalars(query.order_by(AuditEvent.id)).all()


def test_starting_freezes_the_design_and_records_it(client, auth, make_pilot):
    pilot = draft(make_pilot)
    lead = auth.login(Role.CHANGE_LEAD)
    response = client.post(f"/pilots/{pilot.id}/start", data={})
    assert response.headers["Location"].endswith(f"/pilots/{pilot.id}")
    db.session.refresh(pilot)
    assert pilot.status is PilotStatus.RUNNING and pilot.is_locked
    [started] = events(pilot, action="pilot.started")
    assert started.user_id == lead.id
    # the pre-registered design: arms, metrics, alpha, dates
    assert started.after["start_date"] == "2026-10-01"
    assert started.after["alpha"] == 0.05
    assert len(started.after["pilot_sites"]) == 2 and len(started.after["control_sites"]) == 2
    assert started.after["metrics"][0]["role"] == "primary"


def test_a_started_pilot_refuses_a_change_without_a_reason(client, auth, make_pilot):
    pilot = draft(make_pilot)
    auth.login(Role.CHANGE_LEAD)
    client.post(f"/pilots/{pilot.id}/start", data={})
    data = {"pre_start": "2026-09-03", "start_date": "2026-10-01", "end_date": "2026-11-11"}
    page = client.post(f"/pilots/{pilot.id}/wizard/3", data=data).get_data(as_text=True)
    assert "Give a reason for the change" in page
    db.session.refresh(pilot)
    assert pilot.end_date == date(2026, 10, 28)
    assert events(pilot, is_deviation=True) == []


def test_a_change_with_a_reason_is_a_deviation_with_before_and_after(client, auth, make_pilot):
    pilot = draft(make_pilot)
    lead = auth.login(Role.CHANGE_LEAD)
    client.post(f"/pilots/{pilot.id}/start", data={})
    data = {
        "pre_start": "2026-09-03",
        "start_date": "2026-10-01",
        "end_date": "2026-11-11",
        "reason": "Two extra weeks: the national holiday disturbed week 1.",
    }
    assert client.post(f"/pilots/{pilot.id}/wizard/3", data=data).status_code == 302
    [deviation] = events(pilot, is_deviation=True)
    assert deviation.user_id == lead.id
    assert deviation.before == {"end_date": "2026-10-28"}
    assert deviation.after == {"end_date": "2026-11-11"}
    assert deviation.reason.startswith("Two extra weeks")
    log = client.get(f"/pilots/{pilot.id}/audit").get_data(as_text=True)
    assert "national holiday" in log and 'data-testid="deviation"' in log
    dashboard = client.get(f"/pilots/{pilot.id}").get_data(as_text=True)
    assert "1 change to the pre-registered design" in dashboard


def test_removing_a_site_after_the_start_is_a_deviation_too(client, auth, make_pilot):
    pilot = draft(make_pilot)
    auth.login(Role.CHANGE_LEAD)
    client.post(f"/pilots/{pilot.id}/start", data={})
    control = next(a for a in pilot.assignments if a.arm is Arm.CONTROL)
    code = control.site.code
    client.post(f"/pilots/{pilot.id}/sites/remove", data={"remove-site_id": control.site_id})
    db.session.refresh(pilot)
    assert code in svc.design_snapshot(pilot)["control_sites"]  # refused: no reason
    client.post(
        f"/pilots/{pilot.id}/sites/remove",
        data={"remove-site_id": control.site_id, "remove-reason": "The store closed."},
    )
    db.session.refresh(pilot)
    assert code not in svc.design_snapshot(pilot)["control_sites"]
    [deviation] = events(pilot, is_deviation=True)
    assert code in deviation.before["control_sites"] and deviation.reason == "The store closed."


def test_changes_to_a_draft_are_audited_but_are_not_deviations(app, rctx, make_pilot, make_user):
    pilot = draft(make_pilot)
    lead = make_user(Role.CHANGE_LEAD)
    svc.save_design(pilot, lambda: setattr(pilot, "alpha", 0.1), by=lead)
    [event] = events(pilot, action="pilot.design_changed")
    assert (event.before, event.after, event.is_deviation) == (
        {"alpha": 0.05},
        {"alpha": 0.1},
        False,
    )


def test_a_pilot_cannot_be_started_twice(app, rctx, make_pilot, make_user):
    pilot = draft(make_pilot)
    lead = make_user(Role.CHANGE_LEAD)
    svc.start_pilot(pilot, by=lead)
    try:
        svc.start_pilot(pilot, by=lead)
    except svc.DesignError as exc:
        assert "already started" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a second start must be refused")


def test_every_step_of_a_started_pilot_asks_for_a_reason(client, auth, make_pilot):
    pilot = draft(make_pilot)
    auth.login(Role.CHANGE_LEAD)
    client.post(f"/pilots/{pilot.id}/start", data={})
    for step in (1, 2, 3, 4):
        page = client.get(f"/pilots/{pilot.id}/wizard/{step}").get_data(as_text=True)
        assert 'data-testid="locked-notice"' in page and 'name="' in page and "reason" in page
    review = client.get(f"/pilots/{pilot.id}/wizard/5").get_data(as_text=True)
    assert "Start the pilot" not in review
