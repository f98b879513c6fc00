"""Staff see the recent feedback of their own site only; they can answer the staff form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Audience, FeedbackResponse, ResponseChannel, Role


def test_staff_see_their_own_site_and_nothing_from_other_sites(
    client, auth, feedback_pilot, add_response
):
    mine, other = feedback_pilot.assignments[0].site, feedback_pilot.assignments[1].site
    now = datetime.now(UTC) - timedelta(hours=1)
    add_response(
        feedback_pilot, mine, now, overall=5, ease=5, recommend=10, comment="我们店的服务很好"
    )
    add_response(feedback_pilot, other, now, overall=1, ease=1, recommend=0, comment="隔壁店太慢了")
    add_response(
        feedback_pilot,
        mine,
        now,
        Audience.STAFF,
        workload=2,
        ease=3,
        attitude=1,
        suggestions="同事的匿名意见",
    )
    auth.login(Role.STAFF, site=mine)
    page = client.get("/feedback/staff", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "我们店的服务很好" in text
    assert "隔壁店太慢了" not in text
    assert "同事的匿名意见" not in text  # colleagues' answers stay private
    assert text.count('data-testid="feedback-item"') == 1


def test_a_site_id_in_the_url_does_not_open_another_site(
    client, auth, feedback_pilot, add_response
):
    mine, other = feedback_pilot.assignments[0].site, feedback_pilot.assignments[1].site
    add_response(
        feedback_pilot, other, datetime.now(UTC), overall=1, ease=1, recommend=0, comment="别的店"
    )
    auth.login(Role.STAFF, site=mine)
    text = client.get(f"/feedback/staff?site={other.id}&site_id={other.id}").get_data(as_text=True)
    assert "别的店" not in text


def test_older_feedback_drops_out_of_the_feed(client, auth, feedback_pilot, add_response):
    mine = feedback_pilot.assignments[0].site
    add_response(
        feedback_pilot,
        mine,
        datetime.now(UTC) - timedelta(days=40),
        overall=4,
        ease=4,
        recommend=8,
        comment="很久以前的评论",
    )
    auth.login(Role.STAFF, site=mine)
    assert "很久以前的评论" not in client.get("/feedback/staff?days=30").get_data(as_text=True)


def test_staff_answer_the_staff_form_while_logged_in_anonymously(client, auth, feedback_pilot):
    mine = feedback_pilot.assignments[0].site
    user = auth.login(Role.STAFF, site=mine)
    url = f"/feedback/staff/answer/{feedback_pilot.id}"
    page = client.get(url, headers={"Accept-Language": "en"})
    assert "How do you feel about rolling this change out further?" in page.get_data(as_text=True)
    data = {
        "idempotency_key": "staff-answer-0000001",
        "q_workload": "3",
        "q_ease": "4",
        "q_attitude": "2",
    }
    response = client.post(url, data=data)
    assert response.status_code == 303
    stored = db.session.scalar(select(FeedbackResponse))
    assert stored.site_id == mine.id
    assert stored.channel is ResponseChannel.LOGGED_IN
    assert stored.audience is Audience.STAFF
    assert stored.respondent_id is None and user.id  # anonymous by default


def test_staff_cannot_answer_for_a_pilot_their_site_is_not_in(
    client, auth, feedback_pilot, make_site
):
    auth.login(Role.STAFF, site=make_site())
    assert client.get(f"/feedback/staff/answer/{feedback_pilot.id}").status_code == 403
