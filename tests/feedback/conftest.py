"""Fixtures of the feedback tests: a pilot with forms and links, and a way to add answers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.feedback import questionnaires as svc
from app.feedback import responses
from app.models import Audience, FeedbackResponse, FormLink

_keys = itertools.count(1)

#: A complete, valid answer to the customer template, as the public form posts it.
VALID_ANSWERS = {
    "idempotency_key": "key-0123456789abcdef",
    "q_overall": "4",
    "q_ease": "5",
    "q_recommend": "9",
    "q_age_band": "60+",
}


def response_count() -> int:
    return db.session.scalar(select(func.count(FeedbackResponse.id)))


@pytest.fixture
def feedback_pilot(make_pilot):
    """A running pilot (2 pilot + 2 control sites) with both forms and all links."""
    pilot = make_pilot(n_pilot=2, n_control=2)
    svc.ensure_forms(pilot)
    svc.ensure_links(pilot)
    db.session.commit()
    return pilot


@pytest.fixture
def link(feedback_pilot):
    """The customer link of the first pilot site."""
    site = feedback_pilot.sites_in(feedback_pilot.assignments[0].arm)[0]
    return link_for(feedback_pilot, site)


def link_for(pilot, site, audience=Audience.CUSTOMER) -> FormLink:
    return next(
        lk for lk in svc.pilot_links(pilot.id) if lk.site_id == site.id and lk.audience is audience
    )


@pytest.fixture
def add_response():
    """``add_response(pilot, site, when, audience=..., **answers)`` stores one response."""

    def add(pilot, site, when: datetime, audience=Audience.CUSTOMER, **raw):
        form = svc.current_form(pilot.id, audience)
        answers, errors = responses.clean_answers(form, {k: str(v) for k, v in raw.items()})
        assert not errors, errors
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return responses.submit_response(
            form,
            site.id,
            answers,
            idempotency_key=f"test-key-{next(_keys):08d}",
            submitted_at=when,
        ).response

    return add
