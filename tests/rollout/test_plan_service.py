"""Generating and editing rollout plans through the service layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Adjustment,
    AdjustmentScope,
    Audience,
    AuditEvent,
    Decision,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    MentorPair,
    QuestionType,
    Role,
    WaveStatus,
)
from app.rollout import plans as service
from app.rollout.plans import RolloutError
from tests.rollout.helpers import PLAN_START, decided_pilot, make_plan


def test_a_plan_needs_the_decision_to_roll_out(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    pilot.decision = Decision.EXTEND
    with pytest.raises(RolloutError, match="roll out"):
        make_plan(pilot)


def test_default_scope_is_every_non_pilot_site_each_in_one_wave_or_the_holdback(
    make_pilot, make_site
):
    pilot, others = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot, holdback_share=0.2, randomize=True, seed=3)
    pilot_site_ids = {s.id for s in pilot.sites_in(pilot.assignments[0].arm)}
    in_plan = [ws.site_id for ws in plan.sites]
    assert len(in_plan) == len(set(in_plan))
    assert not pilot_site_ids & set(in_plan)
    assert set(in_plan) >= {s.id for s in others}  # controls are in scope too
    for ws in plan.sites:
        assert (ws.wave is None) == ws.is_holdback
        assert ws.reasons and ws.checklist
    assert sum(ws.is_holdback for ws in plan.sites) == round(0.2 * len(in_plan))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "rollout.plan_created"))


def test_same_seed_gives_the_same_plan(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    first = make_plan(pilot, randomize=True, holdback_share=0.1, seed=11)
    second = make_plan(pilot, randomize=True, holdback_share=0.1, seed=11)

    def layout(plan):
        return sorted(
            (ws.site.code, ws.wave.number if ws.wave else None, ws.go_live_date)
            for ws in plan.sites
        )

    assert layout(first) == layout(second)


def test_capacity_counts_large_sites_more(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot, sites_per_week=3.0)
    loads = {ws.site.size_tier.value: ws.capacity_load for ws in plan.sites}
    assert loads["small"] < loads["medium"] < loads["large"]
    assert all(row["load"] <= 3.0 for row in service.capacity_use(plan))
    assert not service.plan_warnings(plan)


def test_adaptations_whose_condition_matches_join_the_checklist(make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    others[0].senior_share = 0.45
    others[1].senior_share = 0.05
    db.session.add(
        Adjustment(
            pilot=pilot,
            effective_date=pilot.start_date + timedelta(days=7),
            title="Staff assist seniors",
            scope=AdjustmentScope.CONDITION,
            condition={"attribute": "senior_share", "op": ">=", "value": 0.3},
        )
    )
    db.session.flush()
    plan = make_plan(pilot)
    by_site = {ws.site_id: ws for ws in plan.sites}
    titles = [i["title"] for i in by_site[others[0].id].checklist]
    assert "Staff assist seniors" in titles
    assert "Staff assist seniors" not in [i["title"] for i in by_site[others[1].id].checklist]
    assert any(r["code"] == "adaptation" for r in by_site[others[0].id].reasons)


def _staff_attitude(pilot, site, ratings):
    form = FeedbackForm(pilot=pilot, audience=Audience.STAFF, title_en="s", title_zh="s")
    db.session.add(form)
    for rating in ratings:
        response = FeedbackResponse(
            form=form,
            pilot_id=pilot.id,
            site_id=site.id,
            audience=Audience.STAFF,
            submitted_at=datetime(2026, 10, 5, tzinfo=UTC),
        )
        response.answers.append(
            FeedbackAnswer(
                question_key="attitude", question_type=QuestionType.RATING, value_num=rating
            )
        )
        db.session.add(response)
    db.session.flush()


def test_resistant_staff_lower_readiness_and_get_a_mentor_in_their_region(make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    target = others[0]
    target.management_score, target.digital_readiness = 90.0, 90.0
    _staff_attitude(pilot, target, [1, 2, 1])
    plan = make_plan(pilot)
    ws = service.get_plan_site(plan, target.id)
    assert any(r["code"] == "attitude_source" for r in ws.reasons)
    pair = service.mentor_of(plan, target.id)
    assert pair is not None and pair.mentor_site is not None
    assert pair.mentor_site.region == target.region
    assert "resistant" in pair.reason
    assert any(i["key"] == "mentor" for i in ws.checklist)


def test_mentor_limit_per_wave_is_respected(make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site, n_scope=15)
    for s in others:
        s.management_score, s.digital_readiness = 20.0, 20.0  # all low readiness
    plan = make_plan(pilot, mentor_limit=1, wave_count=2)
    wave_of = {ws.site_id: ws.wave_id for ws in plan.sites}
    counts = {}
    for pair in plan.mentor_pairs:
        if pair.mentor_site_id:
            key = (pair.mentor_site_id, wave_of[pair.mentee_site_id])
            counts[key] = counts.get(key, 0) + 1
    assert counts and max(counts.values()) == 1
    unpaired = [p for p in plan.mentor_pairs if p.mentor_site_id is None]
    assert unpaired and all("capacity" in p.reason for p in unpaired)


def test_moving_a_site_needs_a_reason_is_audited_and_updates_capacity(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    ws = next(ws for ws in plan.sites if ws.wave and ws.wave.number == 1)
    target = service.wave_of_number(plan, 3)
    before = {
        w["wave"].number: len(w["sites"])
        for w in map(lambda w: service.wave_summary(plan, w), plan.waves)
    }
    with pytest.raises(RolloutError):
        service.move_site(plan, ws, target, reason="  ", by=None)
    service.move_site(plan, ws, target, reason="site manager on leave", by=None)
    assert ws.wave is target and target.start_date <= ws.go_live_date <= target.end_date
    after = {w.number: len(service.wave_summary(plan, w)["sites"]) for w in plan.waves}
    assert after[1] == before[1] - 1 and after[3] == before[3] + 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "rollout.site_moved"))
    assert event.reason == "site manager on leave"
    assert event.before["wave"] == 1 and event.after["wave"] == 3
    service.move_site(plan, ws, None, reason="keep as comparison", by=None)
    assert ws.is_holdback and ws.go_live_date is None


def test_sites_cannot_move_in_or_out_of_a_started_wave(make_pilot, make_site):
    from app.rollout.gates import decide

    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    first = service.wave_of_number(plan, 1)
    decide(plan, first, "start", reason=None, by=None)
    ws = next(ws for ws in plan.sites if ws.wave is first)
    with pytest.raises(RolloutError, match="started"):
        service.move_site(plan, ws, service.wave_of_number(plan, 2), reason="x", by=None)
    other = next(ws for ws in plan.sites if ws.wave and ws.wave.number == 2)
    with pytest.raises(RolloutError, match="not started"):
        service.move_site(plan, other, first, reason="x", by=None)


def test_changing_wave_dates_shifts_go_lives_and_refuses_overlaps(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    w1, w2 = service.wave_of_number(plan, 1), service.wave_of_number(plan, 2)
    go_lives = sorted(ws.go_live_date for ws in plan.sites if ws.wave is w1)
    with pytest.raises(RolloutError) as info:
        service.change_wave_dates(plan, w1, w1.start_date, w2.start_date, reason="x", by=None)
    assert info.value.field == "end_date"
    with pytest.raises(RolloutError):
        service.change_wave_dates(plan, w1, w1.start_date, w1.start_date, reason="x", by=None)
    earlier = PLAN_START - timedelta(days=7)
    service.change_wave_dates(
        plan, w1, earlier, w1.end_date - timedelta(days=7), reason="training ready", by=None
    )
    assert sorted(ws.go_live_date for ws in plan.sites if ws.wave is w1) == [
        d - timedelta(days=7) for d in go_lives
    ]
    assert plan.start_date == earlier


def test_swapping_a_mentor_to_a_named_staff_member_is_audited(make_pilot, make_site, make_user):
    pilot, others = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    pilot_site = pilot.assignments[0].site
    helper = make_user(Role.STAFF, site=pilot_site, name="Helper Li")
    mentee = others[0]
    service.swap_mentor(plan, mentee, f"user:{helper.id}", reason="knows the team", by=None)
    pair = service.mentor_of(plan, mentee.id)
    assert pair.mentor_user is helper and pair.mentor_site is None
    ws = service.get_plan_site(plan, mentee.id)
    assert any(i.get("mentor") == "Helper Li" for i in ws.checklist)
    with pytest.raises(RolloutError):
        service.swap_mentor(plan, mentee, "site:999999", reason="x", by=None)
    service.swap_mentor(plan, mentee, "", reason="not needed", by=None)
    assert service.mentor_of(plan, mentee.id) is None
    assert not any(i.get("key") == "mentor" for i in ws.checklist)
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "rollout.mentor_changed")
    )
    assert db.session.scalars(select(MentorPair)).all() is not None


def test_checklist_items_are_ticked_and_counted(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    ws = plan.sites[0]
    service.set_checklist_item(plan, ws, "training", True, by=None)
    done, total = service.checklist_progress([ws])
    assert done == 1 and total == len(ws.checklist)
    with pytest.raises(RolloutError):
        service.set_checklist_item(plan, ws, "nope", True, by=None)


def test_a_cancelled_plan_cannot_be_edited(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    service.cancel_plan(plan, reason="superseded", by=None)
    with pytest.raises(RolloutError, match="closed"):
        service.move_site(plan, plan.sites[0], None, reason="x", by=None)
    assert all(w.status is WaveStatus.PLANNED for w in plan.waves)
