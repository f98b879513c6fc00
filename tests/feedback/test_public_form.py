"""The public QR form: languages, validation, idempotency, honeypot, tokens, closed pilots."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.feedback import questionnaires as svc
from app.feedback import responses
from app.models import Audience, FeedbackAnswer, FeedbackResponse, PilotStatus
from tests.feedback.conftest import VALID_ANSWERS, link_for, response_count

VALID = VALID_ANSWERS


def test_form_speaks_chinese_to_a_chinese_browser(client, link):
    page = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "总体来说，您今天满意吗？" in text
    assert "Overall, how satisfied" not in text
    assert link.site.name in text


def test_form_speaks_english_and_offers_a_switch(client, link):
    page = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": "en-GB"})
    text = page.get_data(as_text=True)
    assert "Overall, how satisfied are you today?" in text
    assert 'data-lang="zh_CN"' in text  # the visible switch
    switched = client.get(f"/lang/zh_CN?next=/feedback/f/{link.token}", follow_redirects=True)
    assert "总体来说" in switched.get_data(as_text=True)


def test_a_valid_answer_is_stored_once_and_thanked(client, link):
    response = client.post(f"/feedback/f/{link.token}", data=VALID)
    assert response.status_code == 303
    assert response.location.endswith(f"/feedback/f/{link.token}/thanks")
    thanks = client.get(response.location, headers={"Accept-Language": "en"})
    assert "Thank you for your feedback!" in thanks.get_data(as_text=True)
    stored = db.session.scalar(select(FeedbackResponse))
    assert stored.site_id == link.site_id
    assert stored.segment == "60+"
    assert stored.link_id == link.id
    assert {a.question_key: a.value_num for a in stored.answers}["overall"] == 4.0


def test_double_tap_and_resend_store_one_response(client, link):
    first = client.post(f"/feedback/f/{link.token}", data=VALID)
    second = client.post(f"/feedback/f/{link.token}", data=VALID)
    assert first.status_code == second.status_code == 303
    assert response_count() == 1
    client.post(f"/feedback/f/{link.token}", data={**VALID, "idempotency_key": "another-key-0001"})
    assert response_count() == 2


def test_a_rating_of_7_re_renders_the_form_with_a_message(client, link):
    data = {**VALID, "q_overall": "7"}
    response = client.post(
        f"/feedback/f/{link.token}", data=data, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Choose a number from 1 to 5." in text
    assert 'data-testid="error-overall"' in text
    assert 'value="5" checked' in text  # the other answers are kept
    assert response_count() == 0


def test_a_missing_required_answer_is_named(client, link):
    data = {k: v for k, v in VALID.items() if k != "q_ease"}
    response = client.post(
        f"/feedback/f/{link.token}", data=data, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert "Please answer this question." in response.get_data(as_text=True)
    assert response_count() == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("q_recommend", "11"),
        ("q_recommend", "-1"),
        ("q_overall", "4.5"),
        ("q_overall", "abc"),
        ("q_age_band", "90+"),
        ("q_overall", "1e9"),
        ("q_overall", "inf"),
        ("q_recommend", "nan"),
        ("q_overall", "-Infinity"),
    ],
)
def test_out_of_range_or_junk_answers_never_cause_a_server_error(client, link, field, value):
    response = client.post(f"/feedback/f/{link.token}", data={**VALID, field: value})
    assert response.status_code == 422
    assert response_count() == 0


def test_long_comments_are_refused_with_a_message(client, link):
    data = {**VALID, "q_comment": "很好" * 501}
    response = client.post(
        f"/feedback/f/{link.token}", data=data, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert "under 1000 characters" in response.get_data(as_text=True)


def test_honeypot_answers_look_successful_but_are_not_stored(client, link):
    data = {**VALID, "website": "http://spam.example"}
    response = client.post(f"/feedback/f/{link.token}", data=data)
    assert response.status_code == 303
    assert response_count() == 0


def test_a_missing_idempotency_key_is_refused(client, link):
    data = {k: v for k, v in VALID.items() if k != "idempotency_key"}
    assert client.post(f"/feedback/f/{link.token}", data=data).status_code == 422
    assert response_count() == 0


def test_the_thank_you_redirect_follows_the_mount_point(client, link):
    """The thank-you address is remembered per token; an app mounted under a prefix must
    still get its own prefix (and the unprefixed app none)."""
    mounted = client.post(
        f"/feedback/f/{link.token}",
        data={**VALID, "idempotency_key": "mounted-key-00000001"},
        base_url="http://localhost/rollwise/",
    )
    plain = client.post(
        f"/feedback/f/{link.token}", data={**VALID, "idempotency_key": "plain-key-0000000001"}
    )
    assert (mounted.status_code, plain.status_code) == (303, 303)
    assert urlsplit(mounted.location).path == f"/rollwise/feedback/f/{link.token}/thanks"
    assert urlsplit(plain.location).path == f"/feedback/f/{link.token}/thanks"
    assert response_count() == 2


@pytest.mark.parametrize("key", ["short-key", "key with spaces 0001", "k" * 65, "键" * 20])
def test_a_malformed_idempotency_key_is_refused_and_the_answers_are_kept(client, link, key):
    page = client.post(f"/feedback/f/{link.token}", data={**VALID, "idempotency_key": key})
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "The form is incomplete. Reload the page and try again." in text
    # the re-rendered page carries a fresh, valid key and the answers given
    fresh = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', text).group(1)
    assert fresh != key and responses.idempotency_key_error(fresh) is None
    assert 'id="q_overall-4" value="4" checked' in text  # VALID answers overall = 4
    assert response_count() == 0


def test_free_text_is_masked_before_storage_and_never_logged(client, link, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "服务员态度很好。我的电话13812345678，邮箱wang.fang@163.com"
    client.post(f"/feedback/f/{link.token}", data={**VALID, "q_comment": secret})
    stored = db.session.scalar(select(FeedbackAnswer).where(FeedbackAnswer.value_text.is_not(None)))
    assert stored.value_text == "服务员态度很好。我的电话[phone]，邮箱[email]"
    everything = caplog.text
    assert "13812345678" not in everything and "wang.fang" not in everything
    # the raw text is in no column of any table
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()):
            assert "13812345678" not in repr(tuple(row))


def test_comments_get_themes_and_strong_negatives_are_flagged(client, link):
    data = {**VALID, "q_overall": "1", "q_comment": "排队太久了，服务员态度恶劣，我要投诉"}
    client.post(f"/feedback/f/{link.token}", data=data)
    stored = db.session.scalar(select(FeedbackResponse))
    assert stored.is_flagged_negative
    comment = next(a for a in stored.answers if a.value_text)
    assert {"waiting", "staff"} <= {t.tag for t in comment.tags}


def test_unknown_token_is_404(client):
    assert client.get("/feedback/f/not-a-real-token").status_code == 404
    assert client.post("/feedback/f/not-a-real-token", data=VALID).status_code == 404


def test_revoked_token_is_404_and_the_new_one_works(client, link):
    replacement = svc.revoke_link(link, by=None)
    db.session.commit()
    assert client.get(f"/feedback/f/{link.token}").status_code == 404
    assert client.post(f"/feedback/f/{link.token}", data=VALID).status_code == 404
    assert client.get(f"/feedback/f/{link.token}/thanks").status_code == 404
    assert client.get(f"/feedback/f/{replacement.token}").status_code == 200
    assert response_count() == 0


@pytest.mark.parametrize("status", [PilotStatus.ANALYSING, PilotStatus.DONE, PilotStatus.DECIDED])
def test_a_pilot_that_is_not_running_shows_a_friendly_closed_page(client, link, status):
    link.pilot.status = status
    db.session.commit()
    page = client.get(f"/feedback/f/{link.token}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "This survey is not open at the moment" in page.get_data(as_text=True)
    assert client.post(f"/feedback/f/{link.token}", data=VALID).status_code == 200
    assert response_count() == 0


def test_a_draft_pilot_collects_baseline_answers_from_the_pre_period_start(client, link):
    pilot = link.pilot
    pilot.status = PilotStatus.DRAFT
    db.session.commit()
    assert svc.form_is_open(pilot, today=pilot.pre_start)
    assert not svc.form_is_open(pilot, today=pilot.pre_start.replace(year=2020))


def test_the_staff_form_link_shows_the_staff_questions(client, feedback_pilot):
    site = feedback_pilot.assignments[0].site
    staff_link = link_for(feedback_pilot, site, Audience.STAFF)
    page = client.get(f"/feedback/f/{staff_link.token}", headers={"Accept-Language": "en"})
    assert "How do you feel about rolling this change out further?" in page.get_data(as_text=True)


def test_the_public_form_needs_a_csrf_token_from_the_page(app, client, link):
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post(f"/feedback/f/{link.token}", data=VALID)
    assert refused.status_code == 400
    page = client.get(f"/feedback/f/{link.token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', page).group(1)
    data = {**VALID, "csrf_token": csrf, "idempotency_key": key}
    assert client.post(f"/feedback/f/{link.token}", data=data).status_code == 303
    assert response_count() == 1
