"""The public form writes with one Core statement chain; the ORM must read back what it wrote.

Expected values come from the posted answers themselves and from the masking rules in
``app/feedback/masking.py``: the writer must not change a value on the way in, on either
dialect (run with ``TEST_DATABASE_URL`` for PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Audience, FeedbackResponse
from tests.feedback.conftest import VALID_ANSWERS, link_for


def _stored() -> FeedbackResponse:
    db.session.expire_all()
    return db.session.scalars(select(FeedbackResponse)).one()


def test_customer_answers_read_back_exactly_as_posted(client, link):
    comment = "排队太久了，等了很久，请打电话13812345678 or mail li.lei@example.com"
    data = {**VALID_ANSWERS, "q_waiting": "2", "q_comment": comment}
    assert client.post(f"/feedback/f/{link.token}", data=data).status_code == 303

    stored = _stored()
    answers = {a.question_key: a for a in stored.answers}
    assert set(answers) == {"overall", "ease", "waiting", "recommend", "comment", "age_band"}
    assert stored.segment == "60+"
    assert stored.link_id == link.id
    assert answers["overall"].value_num == 4.0
    assert answers["waiting"].value_num == 2.0
    assert answers["recommend"].value_num == 9.0
    assert answers["recommend"].question_type.value == "nps"
    assert answers["age_band"].value_choices == ["60+"]
    text = answers["comment"].value_text
    assert "13812345678" not in text and "li.lei@example.com" not in text
    assert text.startswith("排队太久了，等了很久")
    assert answers["comment"].value_num is None and answers["comment"].value_choices is None
    # The automatic themes are attached to the comment answer, not to another one.
    assert all(tag.answer_id == answers["comment"].id for tag in answers["comment"].tags)
    assert answers["comment"].tags, "a waiting complaint gets at least one automatic theme"
    assert all(not answers[key].tags for key in ("overall", "recommend", "age_band"))


def test_staff_multi_choice_and_optional_blanks_read_back(client, feedback_pilot):
    site = feedback_pilot.sites_in(feedback_pilot.assignments[0].arm)[0]
    staff_link = link_for(feedback_pilot, site, Audience.STAFF)
    data = {
        "idempotency_key": "key-staff-000000001",
        "q_workload": "3",
        "q_ease": "2",
        "q_problems": ["network", "seniors"],
        "q_attitude": "1",
    }
    assert client.post(f"/feedback/f/{staff_link.token}", data=data).status_code == 303

    stored = _stored()
    answers = {a.question_key: a for a in stored.answers}
    assert stored.audience is Audience.STAFF
    assert sorted(answers["problems"].value_choices) == ["network", "seniors"]
    assert answers["attitude"].value_num == 1.0
    # blank optional questions (suggestions) leave no row behind
    assert set(answers) == {"workload", "ease", "problems", "attitude"}
