"""The loop goes on into rollout: wave sites collect feedback, the gate shows it, the plan's
page says what to do next, and mentor sites' staff read their mentees' feedback."""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.core.numbers import num
from app.extensions import db
from app.feedback import questionnaires as svc
from app.feedback import responses
from app.feedback.responses import StaleTarget
from app.models import (
    Arm,
    Audience,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    MentorPair,
    PilotStatus,
    PlanStatus,
    Role,
    WaveStatus,
)
from app.rollout import gates
from app.rollout import plans as service
from app.rollout.plans import RolloutError
from app.rollout.wave_feedback import wave_members
from tests.rollout.helpers import decided_pilot, make_plan

VALID = {
    "q_overall": "4",
    "q_ease": "5",
    "q_recommend": "9",
}


@pytest.fixture
def rollout(make_pilot, make_site):
    """A decided pilot whose forms and pilot-site links exist, and a draft plan over 12 sites
    that did not take part in the pilot."""
    pilot, others = decided_pilot(make_pilot, make_site)
    svc.ensure_forms(pilot)
    svc.ensure_links(pilot)
    plan = make_plan(pilot, scope=others)
    db.session.commit()
    return pilot, plan


def _members(plan, number):
    return wave_members(plan, service.wave_of_number(plan, number))


def _link(pilot, site_id, audience=Audience.CUSTOMER):
    return svc.active_link(pilot.id, site_id, audience)


def _answers(form, **raw):
    answers, errors = responses.clean_answers(form, raw)
    assert not errors, errors
    return answers


# ------------------------------------------------------------------ links when a wave starts


def test_activating_then_starting_wave_1_gives_exactly_its_sites_links(rollout):
    pilot, plan = rollout
    outside_pilot = {a.site_id for a in pilot.assignments}
    forms_before = db.session.scalar(select(func.count(FeedbackForm.id)))
    service.activate_plan(plan, by=None)
    assert plan.status is PlanStatus.ACTIVE
    assert not [lk for lk in svc.pilot_links(pilot.id) if lk.site_id not in outside_pilot]

    wave = service.wave_of_number(plan, 1)
    gates.start_wave(plan, wave, by=None)
    db.session.commit()

    rollout_links = [lk for lk in svc.pilot_links(pilot.id) if lk.site_id not in outside_pilot]
    wave_ids = {ws.site_id for ws in _members(plan, 1)}
    assert wave_ids and {lk.site_id for lk in rollout_links} == wave_ids
    assert sorted((lk.site_id, lk.audience.value) for lk in rollout_links) == sorted(
        (site_id, audience) for site_id in wave_ids for audience in ("customer", "staff")
    )
    # the pilot's own forms are reused; the pilot is now rolling out
    assert db.session.scalar(select(func.count(FeedbackForm.id))) == forms_before
    assert pilot.status is PilotStatus.ROLLING_OUT
    # starting again is refused and creates nothing more
    with pytest.raises(RolloutError):
        gates.start_wave(plan, wave, by=None)


def test_only_a_draft_plan_with_sites_in_a_wave_can_be_activated(rollout):
    _pilot, plan = rollout
    service.activate_plan(plan, by=None)
    with pytest.raises(RolloutError, match="Only a draft plan"):
        service.activate_plan(plan, by=None)


# ------------------------------------------------------------------ the public form's guard


def test_a_wave_site_answers_after_the_pilot_is_decided_a_later_wave_site_cannot(client, rollout):
    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    gates.start_wave(plan, service.wave_of_number(plan, 1), by=None)
    first = _members(plan, 1)[0]
    later = _members(plan, 2)[0]
    svc.ensure_site_links(pilot, [later.site_id])  # a link exists, its wave has not started
    db.session.commit()
    assert pilot.status is PilotStatus.ROLLING_OUT

    open_link = _link(pilot, first.site_id)
    page = client.get(f"/feedback/f/{open_link.token}")
    assert page.status_code == 200 and b'name="q_overall"' in page.data
    sent = client.post(
        f"/feedback/f/{open_link.token}", data={**VALID, "idempotency_key": "rollout-wave-1-0001"}
    )
    assert sent.status_code == 303
    stored = db.session.scalars(select(FeedbackResponse)).all()
    assert [(r.site_id, r.link_id) for r in stored] == [(first.site_id, open_link.id)]

    closed_link = _link(pilot, later.site_id)
    page = client.get(f"/feedback/f/{closed_link.token}")
    assert page.status_code == 200 and b'name="q_overall"' not in page.data
    client.post(
        f"/feedback/f/{closed_link.token}",
        data={**VALID, "idempotency_key": "rollout-wave-2-0001"},
    )
    assert db.session.scalar(select(func.count(FeedbackResponse.id))) == 1

    # the pilot's own sites stay closed: the pilot is decided
    pilot_site = pilot.sites_in(Arm.PILOT)[0]
    page = client.get(f"/feedback/f/{_link(pilot, pilot_site.id).token}")
    assert b'name="q_overall"' not in page.data


def test_the_writer_checks_the_wave_in_the_same_statement(rollout):
    """The guarded write itself refuses a site whose wave has not started, and a wave site
    once the plan is cancelled (whatever the remembered target says)."""
    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    gates.start_wave(plan, service.wave_of_number(plan, 1), by=None)
    first = _members(plan, 1)[0]
    later = _members(plan, 2)[0]
    svc.ensure_site_links(pilot, [later.site_id])
    form = svc.current_form(pilot.id, Audience.CUSTOMER)
    answers = _answers(form, overall="5", ease="4", recommend="10")

    def write(site_id, key):
        return responses.submit_response(
            form,
            site_id,
            answers,
            idempotency_key=key,
            link=_link(pilot, site_id),
            guarded=True,
        )

    assert write(first.site_id, "guarded-wave-1-00001").created
    with pytest.raises(StaleTarget):
        write(later.site_id, "guarded-wave-2-00001")
    service.cancel_plan(plan, reason="test", by=None)
    with pytest.raises(StaleTarget):
        write(first.site_id, "guarded-wave-1-00002")


# ------------------------------------------------------------------ the gate shows the feedback


def _submit(form, site_id, when, key, **raw):
    return responses.submit_response(
        form,
        site_id,
        _answers(form, **raw),
        idempotency_key=key,
        submitted_at=when,
    )


def _noon(day):
    # noon in the organisation's zone is the same local day whatever the zone
    return datetime.combine(day, time(12)).replace(tzinfo=clock.organisation_zone())


def test_the_gate_page_shows_the_wave_feedback_numbers(client, auth, rollout):
    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    wave = service.wave_of_number(plan, 1)
    gates.start_wave(plan, wave, by=None)
    form = svc.current_form(pilot.id, Audience.CUSTOMER)
    staff_form = svc.current_form(pilot.id, Audience.STAFF)
    members = _members(plan, 1)
    later = _members(plan, 2)[0]
    ratings = [5, 2, 4, 3, 5, 4, 1]
    for i, rating in enumerate(ratings):
        ws = members[i % len(members)]
        when = _noon(ws.go_live_date + timedelta(days=i))
        _submit(form, ws.site_id, when, f"wave-fb-{i:012d}", overall=str(rating), ease="3",
                recommend=str(i + 3))  # fmt: skip
    _submit(staff_form, members[0].site_id, _noon(members[0].go_live_date), "wave-fb-staff-001",
            workload="2", ease="3", attitude="4")  # fmt: skip
    # left out: before its go-live, and a site of a wave that has not started
    _submit(form, members[0].site_id, _noon(members[0].go_live_date - timedelta(days=3)),
            "wave-fb-early-0001", overall="1", ease="1", recommend="0")  # fmt: skip
    _submit(form, later.site_id, _noon(later.go_live_date), "wave-fb-later-0001",
            overall="1", ease="1", recommend="0")  # fmt: skip
    for i, site in enumerate(pilot.sites_in(Arm.PILOT)):
        _submit(form, site.id, _noon(pilot.start_date + timedelta(days=i)), f"pilot-fb-{i:010d}",
                overall="4", ease="4", recommend="10")  # fmt: skip
    db.session.commit()

    # independent: straight from the stored answers, with the go-live rule applied here
    go_live = {ws.site_id: ws.go_live_date for ws in members}
    stored = db.session.execute(
        select(FeedbackResponse.site_id, FeedbackResponse.submitted_at, FeedbackAnswer.value_num)
        .join(FeedbackAnswer, FeedbackAnswer.response_id == FeedbackResponse.id)
        .where(
            FeedbackAnswer.question_key == "overall",
            FeedbackResponse.audience == Audience.CUSTOMER,
        )
    ).all()
    wave_values = [
        value
        for site_id, at, value in stored
        if site_id in go_live and clock.local_day(at) >= go_live[site_id]
    ]
    assert sorted(wave_values) == sorted(ratings)  # the filter of this test is right
    expected_mean = statistics.fmean(wave_values)
    expected_csat = sum(v >= 4 for v in wave_values) / len(wave_values)

    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/rollout/{plan.id}/waves/1").get_data(as_text=True)
    cell = re.search(r'data-testid="fb-wave-rating">([^<]+)<', page).group(1).strip()
    assert cell == num(expected_mean, 2)
    responses_cell = re.search(r'data-testid="fb-wave-responses">([^<]+)<', page).group(1)
    assert int(responses_cell) == len(ratings) + 1  # customers and the one staff answer
    csat_cell = re.search(r'data-testid="fb-wave-csat">([^<]+)<', page).group(1).strip()
    assert csat_cell.rstrip("%").strip() == num(100 * expected_csat, 0)
    assert 'data-testid="wave-qr-sheets"' in page
    for ws in members:
        assert f'data-testid="site-links-{ws.site.code}"' in page

    result = gates.evaluate_gate(plan, wave, by=None)
    assert result["feedback"]["wave"]["rating_mean"] == pytest.approx(expected_mean)
    assert result["feedback"]["wave"]["n_customer"] == len(ratings)


def test_the_wave_qr_sheets_have_a_customer_and_a_staff_code_per_site(client, auth, rollout):
    pilot, plan = rollout
    auth.login(Role.CHANGE_LEAD)
    before = client.get(f"/rollout/{plan.id}/waves/1/qr-sheets")
    assert before.status_code == 302  # not started: no codes yet
    service.activate_plan(plan, by=None)
    gates.start_wave(plan, service.wave_of_number(plan, 1), by=None)
    db.session.commit()
    page = client.get(f"/rollout/{plan.id}/waves/1/qr-sheets").get_data(as_text=True)
    members = _members(plan, 1)
    assert page.count("<svg") == 2 * len(members)
    for ws in members:
        for audience in (Audience.CUSTOMER, Audience.STAFF):
            assert f"/feedback/f/{_link(pilot, ws.site_id, audience).token}" in page
    assert "扫码告诉我们您的感受" in page and "员工反馈：扫码填写" in page
    # the pilot's link list names the wave sites as rollout sites, not as controls
    links_page = client.get(f"/feedback/pilots/{pilot.id}").get_data(as_text=True)
    assert links_page.count("rollout site") == 2 * len(members)


# ------------------------------------------------------------------ the next step


def _step(client, plan):
    page = client.get(f"/rollout/{plan.id}").get_data(as_text=True)
    kind = re.search(r'data-testid="next-step" data-step="([a-z]+)"', page).group(1)
    button = re.search(r'data-testid="next-step-button">([^<]+)<', page)
    return kind, button.group(1).strip() if button else None, page


def test_the_next_step_panel_leads_through_the_rollout(client, auth, rollout, monkeypatch):
    pilot, plan = rollout
    pilot.status = PilotStatus.DECIDED
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    assert _step(client, plan)[:2] == ("activate", "Activate the plan")

    client.post(f"/rollout/{plan.id}/activate")
    db.session.refresh(plan)
    assert plan.status is PlanStatus.ACTIVE
    assert _step(client, plan)[:2] == ("start", "Start wave 1")

    client.post(f"/rollout/{plan.id}/waves/1/decision", data={"action": "start"})
    wave = service.wave_of_number(plan, 1)
    db.session.refresh(wave)
    assert wave.status is WaveStatus.LIVE
    monkeypatch.setattr(clock, "today", lambda: wave.start_date)
    kind, button, page = _step(client, plan)
    assert (kind, button) == ("wait", None) and "Wave 1 is live" in page

    monkeypatch.setattr(clock, "today", lambda: wave.end_date)
    assert _step(client, plan)[:2] == ("evaluate", "Evaluate the gate of wave 1")

    wave.gate_result = {"outcome": "pass", "criteria": []}
    db.session.commit()
    assert _step(client, plan)[:2] == ("go", "Pass wave 1")
    client.post(f"/rollout/{plan.id}/waves/1/decision", data={"action": "go"})
    db.session.refresh(wave)
    assert wave.status is WaveStatus.PASSED
    assert _step(client, plan)[:2] == ("start", "Start wave 2")

    client.post(f"/rollout/{plan.id}/complete")  # too early: refused with a message
    db.session.refresh(plan)
    assert plan.status is PlanStatus.ACTIVE

    for w in plan.waves:
        w.status = WaveStatus.PASSED
    db.session.commit()
    assert _step(client, plan)[:2] == ("complete", "Sign off the rollout")
    client.post(f"/rollout/{plan.id}/complete")
    db.session.refresh(plan)
    db.session.refresh(pilot)
    assert plan.status is PlanStatus.DONE and pilot.status is PilotStatus.DONE
    kind, button, page = _step(client, plan)
    assert (kind, button) == ("done", None) and "The rollout is signed off." in page


def test_the_next_step_speaks_chinese_and_analysts_get_no_button(client, auth, rollout):
    _pilot, plan = rollout
    auth.login(Role.ANALYST)
    kind, button, page = _step(client, plan)
    assert kind == "activate" and button is None
    client.get("/", headers={"Accept-Language": "zh-CN"})
    page = client.get(f"/rollout/{plan.id}", headers={"Accept-Language": "zh-CN"})
    text = page.get_data(as_text=True)
    assert "下一步" in text and "草稿" in text


def test_a_held_or_stopped_wave_points_to_the_wave_page(rollout):
    _pilot, plan = rollout
    service.activate_plan(plan, by=None)
    wave = service.wave_of_number(plan, 1)
    gates.start_wave(plan, wave, by=None)
    gates.decide(plan, wave, "hold", reason="waiting for data", by=None)
    step = service.next_step(plan)
    assert (step.kind, step.wave, step.has_button) == ("held", wave, False)
    gates.decide(plan, wave, "stop", reason="harmful", by=None)
    assert service.next_step(plan).kind == "stopped"
    with pytest.raises(RolloutError, match="No wave passed|has not finished"):
        service.complete_plan(plan, by=None)


# ------------------------------------------------------------------ mentors


def test_mentor_site_staff_see_their_mentee_feedback_and_other_staff_do_not(
    client, auth, make_user, rollout
):
    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    gates.start_wave(plan, service.wave_of_number(plan, 1), by=None)
    mentee = _members(plan, 1)[0]
    mentor_site = pilot.sites_in(Arm.PILOT)[0]
    pair = service.mentor_of(plan, mentee.site_id)
    if pair is None:
        pair = MentorPair(plan=plan, mentee_site_id=mentee.site_id)
        db.session.add(pair)
    pair.mentor_site_id, pair.mentor_user_id = mentor_site.id, None
    form = svc.current_form(pilot.id, Audience.CUSTOMER)
    _submit(form, mentee.site_id, clock.utc_now().replace(tzinfo=UTC), "mentee-fb-000000001",
            overall="2", ease="2", recommend="3", comment="排队太久了，服务员很忙")  # fmt: skip
    db.session.commit()
    url = f"/feedback/staff/sites/{mentee.site_id}"

    auth.login(Role.STAFF, site=mentor_site)
    feed = client.get("/feedback/staff").get_data(as_text=True)
    assert 'data-testid="mentee-sites"' in feed and mentee.site.code in feed
    page = client.get(url)
    assert page.status_code == 200 and "排队太久了" in page.get_data(as_text=True)

    # another pilot site's staff (it may mentor other sites, not this one), and the staff of
    # a site of a later wave
    for other in (
        next(s for s in pilot.sites_in(Arm.PILOT) if s.id != mentor_site.id),
        _members(plan, 2)[0].site,
    ):
        auth.logout()
        auth.login(Role.STAFF, site=other)
        assert client.get(url).status_code == 403
        feed = client.get("/feedback/staff").get_data(as_text=True)
        assert f'href="{url}"' not in feed

    # once the plan is no longer active, the mentor's view ends
    service.cancel_plan(plan, reason="test", by=None)
    db.session.commit()
    auth.logout()
    auth.login(Role.STAFF, site=mentor_site)
    assert client.get(url).status_code == 403


# ------------------------------------------------------------------ wave-site staff, logged in


def test_wave_site_staff_answer_the_staff_check_in_while_logged_in_once_their_wave_starts(
    client, auth, rollout
):
    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    db.session.commit()
    wave_site = _members(plan, 1)[0].site
    later_site = _members(plan, 2)[0].site
    url = f"/feedback/staff/answer/{pilot.id}"
    answer_link = f'href="{url}"'

    auth.login(Role.STAFF, site=wave_site)
    assert answer_link not in client.get("/feedback/staff").get_data(as_text=True)
    assert client.get(url).status_code == 403  # the wave has not started

    gates.start_wave(plan, service.wave_of_number(plan, 1), by=None)
    db.session.commit()
    assert answer_link in client.get("/feedback/staff").get_data(as_text=True)
    page = client.get(url, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "How do you feel about rolling this change out further?" in page.get_data(as_text=True)
    data = {"idempotency_key": "wave-staff-0000001", "q_workload": "3", "q_ease": "4",
            "q_attitude": "4"}  # fmt: skip
    assert client.post(url, data=data).status_code == 303
    stored = db.session.scalar(
        select(FeedbackResponse).where(FeedbackResponse.idempotency_key == "wave-staff-0000001")
    )
    assert (stored.site_id, stored.audience, stored.respondent_id) == (
        wave_site.id, Audience.STAFF, None,
    )  # fmt: skip

    # a later wave's staff may not answer yet; once the plan is cancelled, nobody may
    auth.logout()
    auth.login(Role.STAFF, site=later_site)
    assert client.get(url).status_code == 403
    assert answer_link not in client.get("/feedback/staff").get_data(as_text=True)
    service.cancel_plan(plan, reason="test", by=None)
    db.session.commit()
    auth.logout()
    auth.login(Role.STAFF, site=wave_site)
    assert client.get(url).status_code == 403


def test_the_wave_page_remembers_its_feedback_until_a_new_answer_or_tag(app, rollout):
    from app.feedback import analytics, tagging
    from app.rollout.wave_feedback import remembered_wave_feedback, wave_feedback

    pilot, plan = rollout
    service.activate_plan(plan, by=None)
    wave = service.wave_of_number(plan, 1)
    gates.start_wave(plan, wave, by=None)
    form = svc.current_form(pilot.id, Audience.CUSTOMER)
    members = _members(plan, 1)
    for i, ws in enumerate(members[:3]):
        _submit(form, ws.site_id, _noon(ws.go_live_date + timedelta(days=i)),
                f"wave-memo-{i:011d}", overall="4", ease="3", recommend="9",
                comment="排队太久了")  # fmt: skip
    db.session.commit()
    analytics._remembered_overviews().clear()

    first = remembered_wave_feedback(plan, wave)
    assert first == wave_feedback(plan, wave)
    assert first.result.wave.n_responses == 3
    assert remembered_wave_feedback(plan, wave) == first  # remembered: the same numbers

    # a new answer at a wave site changes the page at once
    _submit(form, members[0].site_id, _noon(members[0].go_live_date + timedelta(days=5)),
            "wave-memo-new-00001", overall="1", ease="1", recommend="0")  # fmt: skip
    db.session.commit()
    after = remembered_wave_feedback(plan, wave)
    assert after == wave_feedback(plan, wave) != first
    assert after.result.wave.n_responses == 4

    # so does a tag a person adds to a comment
    answer = db.session.scalars(
        select(FeedbackAnswer).where(FeedbackAnswer.value_text.is_not(None))
    ).first()
    tagging.add_manual_tag(answer, "slow queue")
    tagged = remembered_wave_feedback(plan, wave)
    assert tagged == wave_feedback(plan, wave) != after
    assert "slow queue" in dict(tagged.result.wave.themes)
