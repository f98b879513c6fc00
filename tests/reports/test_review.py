"""Sign-off: only analysts approve, never the pilot's owner; approval is final and audited."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import AuditEvent, Decision, Observation, PilotStatus, Report, ReportStatus, Role
from app.models.report import SnapshotImmutableError
from app.reports import snapshots as service
from tests.reports.conftest import create_report


def _review(client, report, **data):
    return client.post(f"/reports/{report.id}/review", data=data)


def _reload(report: Report) -> Report:
    db.session.expire_all()
    return db.session.get(Report, report.id)


def test_an_analyst_approves_and_the_decision_is_recorded_against_the_snapshot(
    client, auth, report_pilot
):
    pilot = report_pilot()
    analyst = auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    recommended = report.results["recommendation"]["decision"]

    response = _review(client, report, decision=recommended, comment="Looks right.", approve="1")
    assert response.status_code == 302

    report = _reload(report)
    assert report.status is ReportStatus.APPROVED
    assert report.reviewer_id == analyst.id
    assert report.reviewed_at is not None
    assert report.pilot.decision is Decision(recommended)
    assert report.pilot.decision_report_id == report.id
    assert report.pilot.decided_at is not None
    assert report.pilot.status is PilotStatus.DECIDED
    events = {e.action: e for e in db.session.scalars(db.select(AuditEvent))}
    assert {"report.create", "report.approve", "pilot.decide"} <= set(events)
    assert events["pilot.decide"].after["decision_report_id"] == report.id
    assert events["pilot.decide"].is_deviation is False

    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'data-testid="approved-banner"' in page
    assert analyst.name in page
    assert f'action="/reports/{report.id}/review"' not in page


def test_an_approved_report_is_read_only(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    decision = report.results["recommendation"]["decision"]
    _review(client, report, decision=decision, comment="", approve="1")
    approved_at = _reload(report).reviewed_at

    auth.logout()
    auth.login(Role.ANALYST)  # another analyst tries to change it
    _review(client, report, comment="Redo it", request_changes="1")
    _review(client, report, decision="stop", comment="No", approve="1")
    report = _reload(report)
    assert report.status is ReportStatus.APPROVED
    assert report.reviewed_at == approved_at
    assert report.pilot.decision is Decision(decision)

    report.review_comment = "edited"
    with pytest.raises(SnapshotImmutableError):
        db.session.commit()
    db.session.rollback()


def test_change_leads_and_admins_cannot_approve(client, auth, report_pilot):
    pilot = report_pilot()
    for role in (Role.CHANGE_LEAD, Role.ADMIN):
        auth.logout()
        auth.login(role)
        report = create_report(client, pilot)  # they may create the snapshot ...
        response = _review(client, report, decision="roll_out", comment="", approve="1")
        assert response.status_code == 403  # ... but not sign it off
        assert _reload(report).status is ReportStatus.DRAFT


def test_the_owner_of_a_pilot_cannot_approve_its_report(client, auth, report_pilot, make_user):
    owner = make_user(Role.ANALYST)
    pilot = report_pilot(owner=owner)
    auth.login(user=owner)
    report = create_report(client, pilot)
    assert _review(client, report, decision="roll_out", approve="1").status_code == 403
    assert _review(client, report, comment="x", request_changes="1").status_code == 403
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'data-testid="review-refusal"' in page
    assert _reload(report).status is ReportStatus.DRAFT


def test_staff_cannot_see_reports(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    auth.logout()
    auth.login(Role.STAFF, site=pilot.assignments[0].site)
    assert client.get(f"/reports/{report.id}").status_code == 403
    assert client.get(f"/reports/pilot/{pilot.id}").status_code == 403
    assert client.get(f"/reports/{report.id}/export.json").status_code == 403


def test_request_changes_needs_a_comment(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    _review(client, report, comment="  ", request_changes="1")
    assert _reload(report).status is ReportStatus.DRAFT
    _review(client, report, comment="Check the guardrail margin.", request_changes="1")
    report = _reload(report)
    assert report.status is ReportStatus.CHANGES_REQUESTED
    assert report.review_comment == "Check the guardrail margin."
    assert "report.request_changes" in db.session.scalars(db.select(AuditEvent.action)).all()


def test_overriding_the_rule_needs_a_comment_and_is_logged_as_a_deviation(
    client, auth, report_pilot
):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    recommended = report.results["recommendation"]["decision"]
    other = next(d.value for d in Decision if d.value != recommended)
    _review(client, report, decision=other, comment="", approve="1")
    assert _reload(report).status is ReportStatus.DRAFT
    _review(client, report, decision=other, comment="Budget freeze.", approve="1")
    assert _reload(report).status is ReportStatus.APPROVED
    decide = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "pilot.decide")
    ).one()
    assert decide.is_deviation is True
    assert decide.after["recommended"] == recommended


def test_a_stale_snapshot_cannot_be_approved(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    report = create_report(client, pilot)
    db.session.scalars(db.select(Observation).limit(1)).first().value += 2
    db.session.commit()
    _review(client, report, decision="roll_out", comment="", approve="1")
    assert _reload(report).status is ReportStatus.DRAFT


def test_explorations_are_labelled_and_cannot_be_approved(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    key = pilot.primary_metric.key
    response = client.post(
        f"/reports/pilot/{pilot.id}/explore", data={"method": "did", "metrics": [key]}
    )
    assert response.status_code == 302
    report = db.session.scalars(db.select(Report)).one()
    assert report.is_exploration
    assert report.parameters["compare"]["method"] == "did"
    assert report.parameters["compare"]["metrics"] == [key]
    assert report.results["comparison"]["metrics"][key]["method"].startswith("did")
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'data-testid="exploration-label"' in page
    assert "Exploration results" in page
    _review(client, report, decision="roll_out", comment="", approve="1")
    assert _reload(report).status is ReportStatus.DRAFT
    # the pilot's reports page headlines the pre-registered snapshot, not the exploration
    assert service.latest_preregistered(pilot) is None


def test_exploration_input_mistakes_do_not_500(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.ANALYST)
    for data in (
        {"method": "nonsense", "metrics": [pilot.primary_metric.key]},
        {"method": "did", "metrics": ["unknown"]},
        {"method": "did"},
        {"method": "did", "metrics": [pilot.metric_links[1].metric.key]},  # primary left out
    ):
        response = client.post(f"/reports/pilot/{pilot.id}/explore", data=data)
        assert response.status_code == 302, data
    assert db.session.scalars(db.select(Report)).all() == []


def test_only_analysts_explore(client, auth, report_pilot):
    pilot = report_pilot()
    auth.login(Role.CHANGE_LEAD)
    response = client.post(
        f"/reports/pilot/{pilot.id}/explore",
        data={"method": "did", "metrics": [pilot.primary_metric.key]},
    )
    assert response.status_code == 403
