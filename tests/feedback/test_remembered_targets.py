"""The public form remembers a link's target per process; the write still checks the truth.

Each test loads the form first (so the target is remembered), then changes the link, the
pilot or the questions behind the app's back, as another worker or an admin would, and
then submits. Run on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (one-statement write).
"""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.feedback import intake, responses
from app.feedback import questionnaires as svc
from app.models import Audience, FeedbackForm, FeedbackResponse, PilotStatus
from tests.feedback.conftest import VALID_ANSWERS, response_count

VALID = {**VALID_ANSWERS, "idempotency_key": "key-remembered-000001"}


@pytest.fixture
def remembered(app, client, link):
    """Load the form once, as the phone does, so the target is remembered."""
    assert client.get(f"/feedback/f/{link.token}").status_code == 200
    with app.test_request_context():
        target = intake.recall(link.token)
    assert target is not None and target.remembered
    return target


def test_a_submission_uses_the_remembered_target_without_reading_it_again(
    app, client, link, remembered
):
    statements: list[str] = []

    def collect(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", collect)
    try:
        assert client.post(f"/feedback/f/{link.token}", data=VALID).status_code == 303
    finally:
        event.remove(db.engine, "before_cursor_execute", collect)
    assert response_count() == 1
    writes = [s for s in statements if s.startswith(("INSERT", "WITH"))]
    reads = [s for s in statements if s.startswith("SELECT")]
    assert reads == [], reads  # the link, pilot and form were not looked up again
    # PostgreSQL: response, answers and tags in one statement; SQLite: response and answers
    assert len(writes) == (1 if db.engine.dialect.name == "postgresql" else 2), writes
    assert "form_links" in writes[0]  # ... but the write checked the link is still active


def test_a_link_revoked_elsewhere_is_404_and_stores_nothing(client, link, remembered):
    svc.revoke_link(link, by=None)
    db.session.commit()
    assert client.post(f"/feedback/f/{link.token}", data=VALID).status_code == 404
    assert response_count() == 0


@pytest.mark.parametrize("status", [PilotStatus.ANALYSING, PilotStatus.DONE])
def test_a_pilot_closed_elsewhere_shows_the_closed_page_and_stores_nothing(
    client, link, remembered, status
):
    link.pilot.status = status
    db.session.commit()
    page = client.post(f"/feedback/f/{link.token}", data=VALID, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "This survey is not open at the moment" in page.get_data(as_text=True)
    assert response_count() == 0


def test_questions_edited_in_place_are_the_ones_the_answers_are_checked_against(
    client, link, remembered
):
    form = svc.current_form(link.pilot_id, Audience.CUSTOMER)
    questions = copy.deepcopy(form.questions)
    questions.append(
        {
            "key": "table",
            "type": "text",
            "label_en": "Your table number?",
            "label_zh": "您的桌号？",
            "required": True,
        }
    )
    edited, new_version = svc.update_form(form, {"questions": questions}, by=None)
    db.session.commit()
    assert not new_version and edited.revision == remembered.form.revision + 1
    page = client.post(f"/feedback/f/{link.token}", data=VALID, headers={"Accept-Language": "en"})
    assert page.status_code == 422  # the new required question is missing
    assert "Your table number?" in page.get_data(as_text=True)
    assert response_count() == 0
    answered = client.post(f"/feedback/f/{link.token}", data={**VALID, "q_table": "12"})
    assert answered.status_code == 303
    stored = db.session.scalar(select(FeedbackResponse))
    assert {a.question_key: a.value_text for a in stored.answers}["table"] == "12"


def test_a_new_version_receives_answers_sent_from_a_page_of_the_old_one(client, link, add_response):
    add_response(link.pilot, link.site, datetime(2026, 10, 2, 4), overall=5, ease=4, recommend=9)
    db.session.commit()
    assert client.get(f"/feedback/f/{link.token}").status_code == 200  # remembers version 1
    old = svc.current_form(link.pilot_id, Audience.CUSTOMER)
    questions = [q for q in old.questions if q["key"] != "recommend"]
    new, created = svc.update_form(old, {"questions": questions}, by=None)
    db.session.commit()
    assert created
    assert client.post(f"/feedback/f/{link.token}", data=VALID).status_code == 303
    stored = db.session.scalars(
        select(FeedbackResponse).order_by(FeedbackResponse.id.desc())
    ).first()
    assert stored.form_id == new.id
    assert "recommend" not in {a.question_key for a in stored.answers}


def test_a_resend_with_a_remembered_target_stores_one_response(client, link, remembered):
    first = client.post(f"/feedback/f/{link.token}", data=VALID)
    second = client.post(f"/feedback/f/{link.token}", data=VALID)
    assert first.status_code == second.status_code == 303
    assert response_count() == 1


def test_a_guarded_write_refuses_an_outdated_revision(app, link, remembered):
    form = db.session.get(FeedbackForm, remembered.form.id)
    form.revision += 1
    db.session.commit()
    answers, errors = responses.clean_answers(
        remembered.form, {"overall": "3", "ease": "3", "recommend": "7"}
    )
    assert not errors
    with app.test_request_context(), pytest.raises(responses.StaleTarget):
        responses.submit_response(
            remembered.form,
            remembered.site.id,
            answers,
            idempotency_key="key-outdated-00000001",
            link=remembered,
            guarded=True,
        )
    db.session.rollback()
    assert response_count() == 0


def test_the_form_page_is_always_read_afresh(client, link, remembered):
    link.site.name = "Renamed restaurant"
    db.session.commit()
    page = client.get(f"/feedback/f/{link.token}")
    assert "Renamed restaurant" in page.get_data(as_text=True)
