"""The daily brief's numbers against values computed by hand from tests/retros/conftest.py.

Every expected number below is worked out in the comment next to it from the tables
``PRIMARY`` / ``GUARDRAIL`` and ``seed_feedback`` in the conftest.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event

from app.core.labels import category_key
from app.extensions import db
from app.models import ActionItem, ActionStatus, Retrospective
from app.retros.brief import daily_brief
from tests.retros.conftest import DATA_DAY, PREVIOUS_DAY, RETRO_DAY, seed_feedback


def test_brief_reviews_the_previous_day(small_pilot):
    brief = daily_brief(small_pilot.pilot, RETRO_DAY)
    assert brief.data_day == DATA_DAY
    assert brief.previous_day == PREVIOUS_DAY
    assert brief.n_sites == 4


def test_primary_metric_pilot_vs_control_vs_day_before_and_pre_period(small_pilot):
    line = daily_brief(small_pilot.pilot, RETRO_DAY).primary
    assert line.role == "primary" and line.direction == "decrease"
    # data day: pilot = P1 only = 8 (P2 sent nothing); control = (12 + 13) / 2 = 12.5
    assert line.pilot == pytest.approx(8.0)
    assert line.control == pytest.approx(12.5)
    assert (line.n_pilot, line.n_control) == (1, 2)
    assert line.difference == pytest.approx(-4.5)
    # day before: pilot (9 + 11) / 2 = 10, control (12 + 14) / 2 = 13, difference -3
    assert line.difference_prev == pytest.approx(-3.0)
    assert line.difference_change == pytest.approx(-1.5)  # -4.5 - (-3)
    assert line.pilot_change == pytest.approx(-2.0)  # 8 - 10
    # pre-period site-days: pilot (10 + 12 + 14) / 3 = 12, control (11 + 13 + 15) / 3 = 13
    assert line.pilot_pre == pytest.approx(12.0)
    assert line.control_pre == pytest.approx(13.0)
    assert line.pilot_vs_pre == pytest.approx(-4.0)
    assert line.control_vs_pre == pytest.approx(-0.5)
    assert line.did_vs_pre == pytest.approx(-3.5)  # -4 - (-0.5)
    # lower is better for this metric: a negative difference is good
    assert line.tone(line.difference) == "good"


def test_guardrail_without_a_day_before_degrades_to_missing_change(small_pilot):
    brief = daily_brief(small_pilot.pilot, RETRO_DAY)
    guard = next(m for m in brief.metrics.lines if m.role == "guardrail")
    assert guard.pilot == pytest.approx(0.9)
    assert guard.control == pytest.approx(0.75)  # (0.8 + 0.7) / 2
    assert guard.difference == pytest.approx(0.15)
    assert guard.difference_prev is None and guard.difference_change is None
    assert guard.pilot_pre is None and guard.did_vs_pre is None
    assert guard.tone(guard.difference) == "good"  # higher is better


def test_sites_without_data_and_without_feedback(small_pilot):
    seed_feedback(small_pilot)
    brief = daily_brief(small_pilot.pilot, RETRO_DAY)
    assert [g.code for g in brief.sites_without_data] == ["P2"]
    # C2's responses fall on the day before and the retro day, none on the data day
    assert [g.code for g in brief.sites_without_feedback] == ["C2"]


def test_feedback_counts_and_satisfaction_by_audience_and_segment(small_pilot):
    seed_feedback(small_pilot)
    fb = daily_brief(small_pilot.pilot, RETRO_DAY).feedback
    assert fb.available
    # data day (UTC): customers r1, r2 (P1), r3 (P2, 23:00) at pilot sites, r4 (C1, 00:00)
    assert fb.counts == {"customer": {"pilot": 3, "control": 1}, "staff": {"pilot": 1}}
    assert fb.total == 5
    by = {(s.group, s.arm): s for s in fb.by_audience}
    # pilot customers rated 5, 2, 4: mean 11/3, satisfied (>= 4) 2 of 3
    assert by["customer", "pilot"].n == 3
    assert by["customer", "pilot"].mean == pytest.approx(11 / 3)
    assert by["customer", "pilot"].satisfied_share == pytest.approx(2 / 3)
    assert by["customer", "control"].mean == pytest.approx(3.0)
    assert by["customer", "control"].satisfied_share == pytest.approx(0.0)
    assert by["staff", "pilot"].mean == pytest.approx(4.0)
    # seniors (60+): pilot 5 and 4 -> mean 4.5, all satisfied; control one 3
    assert fb.senior("pilot").n == 2
    assert fb.senior("pilot").mean == pytest.approx(4.5)
    assert fb.senior("pilot").satisfied_share == pytest.approx(1.0)
    assert fb.senior("control").satisfied_share == pytest.approx(0.0)
    # age bands in their natural order (the seniors' row stands out in bold, not by place)
    groups = list(dict.fromkeys(s.group for s in fb.by_segment))
    assert groups == sorted(groups, key=category_key)
    assert groups[-1] == "60+"
    segs = {(s.group, s.arm): s for s in fb.by_segment}
    assert segs["30_59", "pilot"].mean == pytest.approx(2.0)


def test_new_negative_comments_and_top_themes(small_pilot):
    responses = seed_feedback(small_pilot)
    fb = daily_brief(small_pilot.pilot, RETRO_DAY).feedback
    # no earlier retro: "new" means the data day only -> r2
    assert fb.negative_total == 1
    assert [c.response_id for c in fb.negative_comments] == [responses["r2"].id]
    comment = fb.negative_comments[0]
    assert (comment.site_code, comment.rating, comment.text) == ("P1", 2.0, "too slow")
    # tags on the data day: speed x2 (r1, r2), wifi x1
    assert fb.themes == [("speed", 2), ("wifi", 1)]
    assert {c.response_id for c in fb.comments} == {responses["r1"].id, responses["r2"].id}


def test_negative_comments_reach_back_to_the_previous_retro(small_pilot):
    responses = seed_feedback(small_pilot)
    db.session.add(Retrospective(pilot=small_pilot.pilot, date=PREVIOUS_DAY))
    db.session.commit()
    fb = daily_brief(small_pilot.pilot, RETRO_DAY).feedback
    # the previous retro (10-03) reviewed 10-02, so 10-03 and 10-04 are new: r2 and "old"
    assert fb.new_since == PREVIOUS_DAY
    assert {c.response_id for c in fb.negative_comments} == {
        responses["r2"].id,
        responses["old"].id,
    }


def test_open_actions_overdue_first(small_pilot):
    pilot = small_pilot.pilot
    late = ActionItem(
        pilot=pilot, title="late", created_on=date(2026, 10, 2), due_date=date(2026, 10, 3)
    )
    older = ActionItem(pilot=pilot, title="older, not due", created_on=date(2026, 10, 1))
    done = ActionItem(
        pilot=pilot,
        title="closed before",
        created_on=date(2026, 10, 1),
        status=ActionStatus.DONE,
        closed_on=date(2026, 10, 3),
        outcome="ok",
    )
    today_new = ActionItem(pilot=pilot, title="opened on the day", created_on=RETRO_DAY)
    db.session.add_all([late, older, done, today_new])
    db.session.commit()
    actions = daily_brief(pilot, RETRO_DAY).actions
    assert [c.action.title for c in actions] == ["late", "older, not due"]
    assert actions[0].overdue and actions[0].days_overdue == 2
    assert actions[0].age_days == 3 and actions[1].age_days == 4


def test_brief_degrades_without_any_data(make_pilot):
    pilot = make_pilot(n_pilot=2, n_control=2)
    db.session.commit()
    brief = daily_brief(pilot, pilot.start_date + timedelta(days=3))
    assert not brief.metrics.available
    assert brief.metrics.note == "no_data_for_day"
    assert brief.metrics.latest_day_with_data is None
    assert not brief.feedback.available and brief.feedback.note == "no_feedback_yet"
    assert len(brief.sites_without_data) == 4
    assert brief.sites_without_feedback == []
    assert brief.actions == []


def test_brief_uses_a_fixed_number_of_queries(small_pilot, make_site):
    """Aggregate SQL: more sites must not mean more queries (no N+1)."""

    def count_queries() -> int:
        statements = []

        def listener(*args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            db.session.expire_all()
            daily_brief(small_pilot.pilot, RETRO_DAY)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    seed_feedback(small_pilot)
    before = count_queries()
    from app.models import Arm, Assignment

    for _ in range(12):
        site = make_site()
        small_pilot.pilot.assignments.append(Assignment(site=site, arm=Arm.CONTROL))
    db.session.commit()
    assert count_queries() == before
    assert before <= 25
