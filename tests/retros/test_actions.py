"""Action items: carried forward across retros until closed, with their age; closing needs
an outcome; everyone's own list."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.extensions import db
from app.models import ActionStatus, Role
from app.retros import meetings as service
from app.retros.meetings import RetroError

D1 = date(2026, 10, 2)


@pytest.fixture
def running(make_pilot, make_user):
    pilot = make_pilot(n_pilot=2, n_control=2)
    lead = make_user(Role.CHANGE_LEAD)
    db.session.commit()
    return pilot, lead


def test_an_open_action_is_carried_into_every_later_retro_until_closed(running):
    pilot, lead = running
    day1, created = service.open_retro(pilot, D1, by=lead)
    assert created
    action = service.add_action(
        day1, "Fix the Wi-Fi", owner=lead, due_date=D1 + timedelta(1), by=lead
    )
    db.session.commit()
    assert action.created_on == D1

    assert service.carried_actions(pilot, D1) == []  # not carried into its own retro
    for offset in (1, 2, 3):
        day = D1 + timedelta(days=offset)
        carried = service.carried_actions(pilot, day)
        assert [c.action.id for c in carried] == [action.id]
        assert carried[0].age_days == offset
        assert carried[0].overdue is (offset >= 2)  # due on day 1 after

    service.close_action(action, outcome="Router replaced.", on=D1 + timedelta(3), by=lead)
    db.session.commit()
    # closed on day 3: still shown (closed) that day, gone afterwards
    shown = service.carried_actions(pilot, D1 + timedelta(3))
    assert shown[0].closed_that_day and not shown[0].overdue
    assert service.carried_actions(pilot, D1 + timedelta(4)) == []
    # history is kept: the day-2 retro still saw it open
    assert [c.action.id for c in service.carried_actions(pilot, D1 + timedelta(2))] == [action.id]


def test_a_second_attempt_opens_the_existing_retro(running):
    pilot, lead = running
    first, created = service.open_retro(pilot, D1, by=lead)
    db.session.commit()
    again, created_again = service.open_retro(pilot, D1, by=lead)
    assert created and not created_again
    assert again.id == first.id


def test_closing_needs_an_outcome_and_a_closed_status(running):
    pilot, lead = running
    retro, _ = service.open_retro(pilot, D1, by=lead)
    action = service.add_action(retro, "Print menus", owner=None, due_date=None, by=lead)
    with pytest.raises(RetroError):
        service.close_action(action, outcome="  ", on=D1, by=lead)
    with pytest.raises(RetroError):
        service.close_action(action, outcome="x", status=ActionStatus.IN_PROGRESS, on=D1, by=lead)
    service.close_action(
        action, outcome="Dropped: no budget", status=ActionStatus.DROPPED, on=D1, by=lead
    )
    assert action.status is ActionStatus.DROPPED and action.closed_on == D1
    with pytest.raises(RetroError):
        service.close_action(action, outcome="again", on=D1, by=lead)


def test_reopening_a_closed_action_carries_it_again(running):
    pilot, lead = running
    retro, _ = service.open_retro(pilot, D1, by=lead)
    action = service.add_action(retro, "Train staff", owner=lead, due_date=None, by=lead)
    service.close_action(action, outcome="done", on=D1 + timedelta(1), by=lead)
    service.update_action(action, status=ActionStatus.OPEN, owner=lead, due_date=None, by=lead)
    assert action.closed_on is None and action.outcome is None
    assert service.carried_actions(pilot, D1 + timedelta(5))[0].action is action


def test_due_date_before_the_retro_is_refused(running):
    pilot, lead = running
    retro, _ = service.open_retro(pilot, D1, by=lead)
    with pytest.raises(RetroError):
        service.add_action(retro, "x", owner=None, due_date=D1 - timedelta(1), by=lead)
    with pytest.raises(RetroError):
        service.add_action(retro, "   ", owner=None, due_date=None, by=lead)


def test_my_actions_lists_open_actions_across_pilots_overdue_first(make_pilot, make_user):
    me = make_user(Role.STAFF)
    other = make_user(Role.CHANGE_LEAD)
    first, second = make_pilot(), make_pilot()
    r1, _ = service.open_retro(first, D1, by=other)
    r2, _ = service.open_retro(second, D1, by=other)
    not_due = service.add_action(r1, "later", owner=me, due_date=D1 + timedelta(30), by=other)
    late = service.add_action(r2, "late", owner=me, due_date=D1 + timedelta(1), by=other)
    service.add_action(r2, "someone else's", owner=other, due_date=None, by=other)
    closed = service.add_action(r1, "closed", owner=me, due_date=None, by=other)
    service.close_action(closed, outcome="ok", on=D1, by=me)
    db.session.commit()
    rows = service.actions_of_user(me, D1 + timedelta(5))
    assert [c.action.id for c in rows] == [late.id, not_due.id]
    assert rows[0].overdue and rows[0].days_overdue == 4
    everything = service.actions_of_user(me, D1 + timedelta(5), include_closed=True)
    assert [c.action.id for c in everything][-1] == closed.id


def test_retro_dates_are_checked(running):
    pilot, _lead = running
    today = date(2026, 10, 10)
    with pytest.raises(RetroError):
        service.check_retro_date(pilot, pilot.start_date - timedelta(days=1), today)
    with pytest.raises(RetroError):
        service.check_retro_date(pilot, today + timedelta(days=2), today)
    service.check_retro_date(pilot, today + timedelta(days=1), today)
    service.check_retro_date(pilot, pilot.start_date, today)


def test_notes_belong_to_the_formats_columns_and_link_only_pilot_sites(running, make_site):
    pilot, lead = running
    retro, _ = service.open_retro(pilot, D1, by=lead)
    outsider = make_site()
    inside = pilot.assignments[0].site
    item = service.add_item(
        retro, "problems", "Queue at the door", site_ids=[inside.id, outsider.id]
    )
    assert [s.id for s in item.sites] == [inside.id]
    with pytest.raises(RetroError):
        service.add_item(retro, "stop", "not a column of this format")
    with pytest.raises(RetroError):
        service.add_item(retro, "ideas", "   ")
