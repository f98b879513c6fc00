"""The retro pages end to end through the test client (CSRF off in TestConfig)."""

from __future__ import annotations

import re
import zlib
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ActionItem,
    ActionStatus,
    Adjustment,
    AdjustmentScope,
    Retrospective,
    Role,
)
from app.retros import meetings as retro_service
from tests.retros.conftest import RETRO_DAY, seed_feedback


@pytest.fixture
def lead(auth):
    return auth.login(Role.CHANGE_LEAD)


def day_url(pilot, day: date) -> str:
    return f"/retros/pilot/{pilot.id}/day/{day.isoformat()}"


def n_retros(pilot) -> int:
    return db.session.scalar(
        select(func.count(Retrospective.id)).where(Retrospective.pilot_id == pilot.id)
    )


def test_opening_a_day_twice_opens_the_same_retro(client, lead, small_pilot):
    pilot = small_pilot.pilot
    data = {"day": RETRO_DAY.isoformat(), "retro_format": "well_problems_ideas"}
    first = client.post(f"/retros/pilot/{pilot.id}/open", data=data)
    assert first.status_code == 302 and first.location.endswith(day_url(pilot, RETRO_DAY))
    second = client.post(f"/retros/pilot/{pilot.id}/open", data=data, follow_redirects=True)
    assert second.status_code == 200
    assert b"already open" in second.data
    assert n_retros(pilot) == 1


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("", b"Choose a day."),
        ("not-a-date", b"Choose a day."),
        ("2026-09-01", b"The pilot starts later than this date."),
        ("2099-01-01", b"at most one day ahead"),
    ],
)
def test_bad_days_re_render_with_a_field_message(client, lead, small_pilot, day, message):
    pilot = small_pilot.pilot
    response = client.post(
        f"/retros/pilot/{pilot.id}/open", data={"day": day, "retro_format": "well_problems_ideas"}
    )
    assert response.status_code == 200
    assert message in response.data
    assert n_retros(pilot) == 0


def test_day_page_shows_the_brief_before_anyone_types(client, lead, small_pilot):
    seed_feedback(small_pilot)
    response = client.get(day_url(small_pilot.pilot, RETRO_DAY))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="brief"' in page
    assert "\u22124.50" in page  # pilot − control of the primary metric, a true minus
    assert "too slow" in page  # the new strongly negative comment
    assert "Start this retro" in page
    assert "P2" in page  # no data from P2


def test_notes_actions_and_their_errors(client, lead, small_pilot):
    pilot = small_pilot.pilot
    retro, _ = retro_service.open_retro(pilot, RETRO_DAY, by=lead)
    db.session.commit()
    site = small_pilot.sites["P1"]
    ok = client.post(
        f"/retros/{retro.id}/items",
        data={"category": "problems", "text": "Seniors struggle", "site_ids": [str(site.id)]},
    )
    assert ok.status_code == 302
    db.session.refresh(retro)
    assert [(i.category, i.text, [s.code for s in i.sites]) for i in retro.items] == [
        ("problems", "Seniors struggle", ["P1"])
    ]
    empty = client.post(f"/retros/{retro.id}/items", data={"category": "problems", "text": " "})
    assert empty.status_code == 200 and b"A note needs some text." in empty.data
    wrong = client.post(f"/retros/{retro.id}/items", data={"category": "stop", "text": "x"})
    assert wrong.status_code == 200 and b"Not a valid choice" in wrong.data

    late = client.post(
        f"/retros/{retro.id}/actions",
        data={"title": "Fix", "owner_id": "0", "due_date": "2026-01-01"},
    )
    assert late.status_code == 200 and b"The due date is before the retro." in late.data
    added = client.post(
        f"/retros/{retro.id}/actions",
        data={"title": "Fix the Wi-Fi", "owner_id": str(lead.id), "due_date": "2026-10-07"},
    )
    assert added.status_code == 302
    action = db.session.scalars(select(ActionItem)).one()
    assert (action.title, action.owner_id, action.created_on) == (
        "Fix the Wi-Fi",
        lead.id,
        RETRO_DAY,
    )

    # the next day's retro carries it, with its age
    page = client.get(day_url(pilot, RETRO_DAY + timedelta(days=1))).get_data(as_text=True)
    assert "Fix the Wi-Fi" in page and "1 days" in page

    item = retro.items[0]
    deleted = client.post(f"/retros/{retro.id}/items/{item.id}/delete")
    assert deleted.status_code == 302
    db.session.expire_all()
    assert retro.items == []


def test_closing_asks_for_an_outcome(client, lead, small_pilot):
    retro, _ = retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    action = retro_service.add_action(retro, "Print menus", owner=lead, due_date=None, by=lead)
    db.session.commit()
    form = client.get(f"/retros/actions/{action.id}/close")
    assert form.status_code == 200 and b"Outcome" in form.data
    missing = client.post(
        f"/retros/actions/{action.id}/close", data={"status": "done", "outcome": ""}
    )
    assert missing.status_code == 200 and b"Say briefly what came of the action." in missing.data
    done = client.post(
        f"/retros/actions/{action.id}/close",
        data={"status": "done", "outcome": "Printed 40 cards", "next": "/retros/my-actions"},
    )
    assert done.status_code == 302 and done.location.endswith("/retros/my-actions")
    db.session.refresh(action)
    assert action.status is ActionStatus.DONE and action.outcome == "Printed 40 cards"
    again = client.get(f"/retros/actions/{action.id}/close", follow_redirects=True)
    assert b"already closed" in again.data


def test_next_never_leaves_the_site(client, lead, small_pilot):
    retro, _ = retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    action = retro_service.add_action(retro, "x", owner=lead, due_date=None, by=lead)
    db.session.commit()
    response = client.post(
        f"/retros/actions/{action.id}/close",
        data={"status": "done", "outcome": "ok", "next": "//evil.example.com/"},
    )
    assert response.status_code == 302
    assert "evil" not in response.location


def test_staff_owner_closes_their_own_action_but_cannot_edit_retros(
    client, auth, small_pilot, make_user
):
    pilot = small_pilot.pilot
    lead = make_user(Role.CHANGE_LEAD)
    staff = auth.login(Role.STAFF, site=small_pilot.sites["P1"])
    retro, _ = retro_service.open_retro(pilot, RETRO_DAY, by=lead)
    mine = retro_service.add_action(retro, "Count menus", owner=staff, due_date=None, by=lead)
    theirs = retro_service.add_action(retro, "Lead's task", owner=lead, due_date=None, by=lead)
    db.session.commit()
    assert b"Count menus" in client.get("/retros/my-actions").data
    closed = client.post(
        f"/retros/actions/{mine.id}/close", data={"status": "done", "outcome": "Counted"}
    )
    assert closed.status_code == 302
    handing_over = client.post(
        f"/retros/actions/{mine.id}",
        data={"status": "open", "owner_id": str(lead.id), "due_date": ""},
    )
    assert b"Only a change lead can hand an action to someone else." in handing_over.data
    assert client.get(f"/retros/actions/{theirs.id}/close").status_code == 403
    assert (
        client.post(
            f"/retros/{retro.id}/items", data={"category": "ideas", "text": "x"}
        ).status_code
        == 403
    )


def test_staff_read_retros_only_when_the_pilot_allows_it(client, auth, small_pilot):
    pilot = small_pilot.pilot
    auth.login(Role.STAFF, site=small_pilot.sites["P1"])
    assert client.get(f"/retros/pilot/{pilot.id}").status_code == 403
    pilot.retros_visible_to_staff = True
    db.session.commit()
    page = client.get(f"/retros/pilot/{pilot.id}")
    assert page.status_code == 200
    assert b"open-retro-form" not in page.data  # read only
    assert (
        client.post(f"/retros/pilot/{pilot.id}/open", data={"day": "2026-10-05"}).status_code == 403
    )


def test_change_lead_lets_pilot_site_staff_read_the_retros(client, auth, small_pilot, make_user):
    pilot = small_pilot.pilot
    pilot_staff = make_user(Role.STAFF, site=small_pilot.sites["P1"])
    control_staff = make_user(Role.STAFF, site=small_pilot.sites["C1"])
    auth.login(Role.CHANGE_LEAD)
    response = client.post(f"/retros/pilot/{pilot.id}/visibility", data={"visible": "y"})
    assert response.status_code == 302
    db.session.refresh(pilot)
    assert pilot.retros_visible_to_staff
    auth.logout()
    auth.login(user=pilot_staff)
    assert client.get(f"/retros/pilot/{pilot.id}").status_code == 200
    auth.logout()
    auth.login(user=control_staff)  # would contaminate the control: never
    assert client.get(f"/retros/pilot/{pilot.id}").status_code == 403
    auth.logout()
    auth.login(Role.ADMIN)
    client.post(f"/retros/pilot/{pilot.id}/visibility", data={})
    db.session.refresh(pilot)
    assert not pilot.retros_visible_to_staff


def test_analyst_reads_but_does_not_edit(client, auth, small_pilot):
    pilot = small_pilot.pilot
    auth.login(Role.ANALYST)
    page = client.get(day_url(pilot, RETRO_DAY))
    assert page.status_code == 200 and b"Start this retro" not in page.data
    assert (
        client.post(f"/retros/pilot/{pilot.id}/open", data={"day": "2026-10-05"}).status_code == 403
    )
    reader_redirect = client.get(f"/retros/pilot/{pilot.id}?day=2026-10-05")
    assert reader_redirect.status_code == 302
    assert reader_redirect.location.endswith(day_url(pilot, RETRO_DAY))


def test_recording_an_adjustment_with_a_condition(client, lead, small_pilot):
    retro, _ = retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    db.session.commit()
    url = f"/retros/{retro.id}/adjustments/new"
    form = client.get(url)
    assert form.status_code == 200
    assert b"2026-10-06" in form.data  # effective date defaults to the next day
    seniors = {
        "title": "Assist seniors",
        "effective_date": "2026-10-06",
        "scope": "condition",
        "attribute": "senior_share",
        "op": ">",
    }
    bad = client.post(url, data={**seniors, "value": "lots"})
    assert bad.status_code == 200 and b"The value must be a number." in bad.data
    no_sites = client.post(
        url, data={"title": "x", "effective_date": "2026-10-06", "scope": "selected_sites"}
    )
    assert no_sites.status_code == 200 and b"Choose at least one pilot site." in no_sites.data
    ok = client.post(url, data={**seniors, "value": "30 %", "is_reusable_practice": "y"})
    assert ok.status_code == 302
    adjustment = db.session.scalars(select(Adjustment)).one()
    assert adjustment.scope is AdjustmentScope.CONDITION
    assert adjustment.condition == {"attribute": "senior_share", "op": ">", "value": 0.3}
    assert [s.code for s in adjustment.sites] == ["P1"]  # P1 35 %, P2 10 %; C1 is a control
    page = client.get(ok.location).get_data(as_text=True)
    assert "Exploratory." in page
    assert "Share of senior customers &gt; 30 %" in page
    assert 'data-testid="adjustment-chart"' in page


def test_minutes_in_markdown_text_and_pdf(client, lead, small_pilot):
    retro, _ = retro_service.open_retro(small_pilot.pilot, RETRO_DAY, by=lead)
    retro.attendees = "陈琳, 王芳"
    retro_service.add_item(retro, "went_well", "排队时间明显缩短")
    retro_service.add_item(retro, "problems", "Wi-Fi # down")
    retro_service.add_action(retro, "Fix the Wi-Fi", owner=lead, due_date=None, by=lead)
    db.session.commit()
    md = client.get(f"/retros/{retro.id}/minutes.md")
    assert md.status_code == 200 and md.mimetype == "text/markdown"
    text = md.get_data(as_text=True)
    assert text.startswith("# Retro Oct 5, 2026")
    assert "## Went well\n\n- 排队时间明显缩短" in text
    assert "Wi-Fi \\# down" in text
    assert "- [ ] Fix the Wi-Fi" in text
    chat = client.get(f"/retros/{retro.id}/minutes.txt").get_data(as_text=True)
    assert "1. 排队时间明显缩短" in chat and "#" not in chat.replace("# down", "")
    pdf = client.get(f"/retros/{retro.id}/minutes.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert b"Noto-Sans-CJK" in _inflated(pdf.data)  # Chinese set in the Noto CJK font
    assert client.get(f"/retros/{retro.id}/minutes.docx").status_code == 404


def _inflated(pdf: bytes) -> bytes:
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"".join(out)


def test_timeline_joins_retros_adjustments_actions_gaps_and_feedback(client, lead, small_pilot):
    seed_feedback(small_pilot)
    pilot = small_pilot.pilot
    retro, _ = retro_service.open_retro(pilot, RETRO_DAY, by=lead)
    retro_service.add_action(retro, "Fix the Wi-Fi", owner=lead, due_date=None, by=lead)
    db.session.add(
        Adjustment(
            pilot=pilot, retro=retro, effective_date=date(2026, 10, 6), title="Assist seniors"
        )
    )
    db.session.commit()
    response = client.get(f"/retros/pilot/{pilot.id}/timeline?all=1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-day="2026-10-04"' in page and "\u22124.50" in page  # the primary difference
    assert "Assist seniors" in page and "Fix the Wi-Fi" in page
    assert "strongly negative" in page
    assert 'data-testid="timeline-chart"' in page  # drawn by app.core.charts, adjustment marked
    assert "Assist seniors" in page.split('data-testid="timeline-chart"')[1].split("</figure>")[0]


def test_unknown_objects_are_404(client, lead, small_pilot):
    assert client.get("/retros/pilot/99999").status_code == 404
    assert client.get(f"/retros/pilot/{small_pilot.pilot.id}/day/2026-13-45").status_code == 404
    assert client.get("/retros/adjustments/99999").status_code == 404
    assert client.get("/retros/actions/99999").status_code == 404


@pytest.mark.parametrize(
    "junk",
    [
        {},
        {"day": "2026-02-30", "retro_format": "nope"},
        {"facilitator_id": "abc", "retro_format": "start_stop_continue", "summary": "x" * 20000},
        {"category": "<script>", "text": "x", "site_ids": ["abc", "-1"], "response_ids": ["9"]},
        {"title": "x" * 500, "owner_id": "99999", "due_date": "31/12/2026"},
        {
            "effective_date": "yesterday",
            "scope": "everything",
            "attribute": "password_hash",
            "op": "; drop",
            "value": "1e999",
            "site_ids": ["x"],
        },
        {"status": "done", "outcome": "x" * 5000, "next": "javascript:alert(1)"},
    ],
)
def test_nothing_a_user_types_gives_a_server_error(client, lead, small_pilot, junk):
    pilot = small_pilot.pilot
    retro, _ = retro_service.open_retro(pilot, RETRO_DAY, by=lead)
    action = retro_service.add_action(retro, "x", owner=lead, due_date=None, by=lead)
    db.session.commit()
    urls = [
        f"/retros/pilot/{pilot.id}/open",
        f"/retros/{retro.id}/details",
        f"/retros/{retro.id}/items",
        f"/retros/{retro.id}/actions",
        f"/retros/{retro.id}/adjustments/new",
        f"/retros/actions/{action.id}",
        f"/retros/actions/{action.id}/close",
    ]
    for url in urls:
        response = client.post(url, data=junk)
        assert response.status_code < 500, (url, junk)
    for url in (
        f"/retros/pilot/{pilot.id}?day=garbage",
        f"/retros/pilot/{pilot.id}/day/2026-02-30",
        f"/retros/{retro.id}/minutes.exe",
        "/retros/my-actions?closed=maybe",
    ):
        assert client.get(url).status_code < 500, url


def test_two_leads_opening_the_same_day_at_once_end_in_one_retro(
    client, lead, small_pilot, monkeypatch
):
    """The unique (pilot, date) constraint settles the race; the loser lands on the winner's."""
    pilot = small_pilot.pilot
    retro_service.open_retro(pilot, RETRO_DAY, by=lead)
    db.session.commit()
    monkeypatch.setattr(retro_service, "get_retro", lambda *a, **k: None)  # the check missed it
    response = client.post(
        f"/retros/pilot/{pilot.id}/open",
        data={"day": RETRO_DAY.isoformat(), "retro_format": "well_problems_ideas"},
    )
    assert response.status_code == 302
    assert response.location.endswith(day_url(pilot, RETRO_DAY))
    monkeypatch.undo()
    assert n_retros(pilot) == 1
