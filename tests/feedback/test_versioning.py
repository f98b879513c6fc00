"""Form versions: edited in place until answers exist, then a new version; old answers keep it."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.feedback import questionnaires as svc
from app.models import Audience, AuditEvent, FeedbackForm, PilotStatus, Role


def _questions(form):
    return copy.deepcopy(form.questions)


def test_editing_a_form_without_answers_changes_it_in_place(feedback_pilot):
    form = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    questions = _questions(form)
    questions[0]["label_en"] = "All in all, how was today?"
    target, new_version = svc.update_form(form, {"questions": questions}, by=None)
    assert (target.id, target.version, new_version) == (form.id, 1, False)
    assert target.questions[0]["label_en"] == "All in all, how was today?"


def test_once_answers_exist_an_edit_creates_a_new_version(feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    old = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    response = add_response(
        feedback_pilot, site, datetime(2026, 10, 2, 4), overall=5, ease=4, recommend=9
    )
    questions = _questions(old)
    questions = [q for q in questions if q["key"] != "waiting"]
    questions.append(
        {
            "key": "staff_help",
            "type": "yes_no",
            "label_en": "Did staff help you?",
            "label_zh": "店员帮助您了吗？",
            "required": False,
        }
    )
    new, created = svc.update_form(old, {"questions": questions}, by=None)
    db.session.commit()
    assert created and new.version == 2 and new.id != old.id
    assert svc.current_form(feedback_pilot.id, Audience.CUSTOMER).id == new.id
    db.session.refresh(old)
    assert not old.is_current
    assert "waiting" in [q["key"] for q in old.questions]  # the old version is untouched
    assert response.form_id == old.id
    # new answers use the new version
    later = add_response(
        feedback_pilot,
        site,
        datetime(2026, 10, 3, 4),
        overall=4,
        ease=4,
        recommend=8,
        staff_help="yes",
    )
    assert later.form_id == new.id


def test_invalid_questions_are_refused(feedback_pilot):
    form = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    bad = [{"key": "Bad Key", "type": "rating", "label_en": "x", "label_zh": ""}]
    with pytest.raises(svc.FeedbackError):
        svc.update_form(form, {"questions": bad}, by=None)


def test_questions_are_read_only_once_the_pilot_is_analysed(feedback_pilot):
    feedback_pilot.status = PilotStatus.ANALYSING
    form = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    with pytest.raises(svc.FeedbackError):
        svc.update_form(form, {"questions": _questions(form)}, by=None)


def test_an_edit_while_running_is_audited_as_a_deviation(feedback_pilot):
    form = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    svc.update_form(form, {"questions": _questions(form)}, by=None)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "feedback_form.edit"))
    assert event.is_deviation


def test_the_editor_page_saves_a_new_version(client, auth, feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    add_response(feedback_pilot, site, datetime(2026, 10, 2, 4), overall=5, ease=4, recommend=9)
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    url = f"/feedback/pilots/{feedback_pilot.id}/forms/customer"
    page = client.get(url, headers={"Accept-Language": "en"})
    assert "This version already has answers" in page.get_data(as_text=True)
    form = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    data = {"title_en": "New title", "title_zh": "新标题", "intro_en": "", "intro_zh": ""}
    for i, q in enumerate(form.questions):
        data[f"questions-{i}-key"] = q["key"]
        data[f"questions-{i}-kind"] = q["type"]
        data[f"questions-{i}-label_en"] = q["label_en"]
        data[f"questions-{i}-label_zh"] = q["label_zh"]
        if q.get("required"):
            data[f"questions-{i}-required"] = "y"
        data[f"questions-{i}-options"] = "\n".join(
            f"{o['value']} | {o['label_en']} | {o['label_zh']}" for o in q.get("options", [])
        )
    response = client.post(url, data=data, headers={"Accept-Language": "en"})
    assert response.status_code == 302
    versions = db.session.scalars(
        select(FeedbackForm).where(
            FeedbackForm.pilot_id == feedback_pilot.id, FeedbackForm.audience == Audience.CUSTOMER
        )
    ).all()
    assert sorted(f.version for f in versions) == [1, 2]
    current = svc.current_form(feedback_pilot.id, Audience.CUSTOMER)
    assert current.title_en == "New title"
    assert [q["key"] for q in current.questions] == [q["key"] for q in form.questions]
    assert current.questions[-1]["options"] == form.questions[-1]["options"]


def test_the_editor_shows_problems_instead_of_saving(client, auth, feedback_pilot):
    auth.login(Role.CHANGE_LEAD)
    url = f"/feedback/pilots/{feedback_pilot.id}/forms/customer"
    data = {
        "title_en": "T",
        "title_zh": "T",
        "questions-0-key": "only",
        "questions-0-kind": "single_choice",
        "questions-0-label_en": "Pick",
        "questions-0-label_zh": "选",
        "questions-0-options": "a",
    }
    response = client.post(url, data=data, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "a choice question needs two options" in response.get_data(as_text=True)
