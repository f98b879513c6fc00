"""A small pilot with data and feedback, and helpers to create and read its reports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest

from app.extensions import db
from app.models import (
    Audience,
    FeedbackAnswer,
    FeedbackResponse,
    Observation,
    QuestionType,
    Report,
    Role,
)

N_PILOT, N_CONTROL = 6, 6
DAYS = 14  # before and after the start


@pytest.fixture
def report_pilot(make_pilot, add_guardrail, make_feedback_form):
    """6 pilot and 6 control sites, 14 days before and after the start, a primary metric that
    falls by about 2 at the pilot sites, a guardrail with a margin, and feedback answers."""

    def make(
        name: str = "Self-ordering pilot", effect: float = -2.0, seed: int = 7, noise=0.6, **kw
    ):
        rng = np.random.default_rng(seed)
        start = kw.pop("start_date", datetime(2026, 10, 1).date())
        pilot = make_pilot(
            N_PILOT,
            N_CONTROL,
            name=name,
            start_date=start,
            pre_start=start - timedelta(days=DAYS),
            end_date=start + timedelta(days=DAYS - 1),
            min_effect=1.0,
            **kw,
        )
        primary = pilot.metric_links[0].metric
        guard = add_guardrail(pilot, margin=3.0, unit="CNY")
        rows = []
        for assignment in pilot.assignments:
            is_pilot = assignment.arm.value == "pilot"
            level = rng.normal(10, 1.5)
            ticket = rng.normal(60, 4)
            for offset in range(-DAYS, DAYS):
                day = start + timedelta(days=offset)
                treated = is_pilot and offset >= 0
                rows.append(
                    {
                        "site_id": assignment.site_id,
                        "metric_id": primary.id,
                        "date": day,
                        "value": float(level + (effect if treated else 0) + rng.normal(0, noise)),
                    }
                )
                rows.append(
                    {
                        "site_id": assignment.site_id,
                        "metric_id": guard.id,
                        "date": day,
                        "value": float(ticket + rng.normal(0, 1.0)),
                    }
                )
        db.session.execute(Observation.__table__.insert(), rows)
        form = make_feedback_form(
            pilot,
            ["overall", "recommend"],
            title_en="How was your visit?",
            title_zh="您的用餐体验如何？",
        )
        _add_feedback(pilot, form, start, rng)
        db.session.commit()
        return pilot

    return make


def _add_feedback(pilot, form, start, rng) -> None:
    for assignment in pilot.assignments:
        is_pilot = assignment.arm.value == "pilot"
        for offset in (-5, -2, 2, 5):
            for k in range(6):
                p_happy = 0.85 if is_pilot and offset > 0 else 0.75
                rating = 5 if rng.random() < p_happy else int(rng.integers(1, 4))
                response = FeedbackResponse(
                    form_id=form.id,
                    pilot_id=pilot.id,
                    site_id=assignment.site_id,
                    audience=Audience.CUSTOMER,
                    submitted_at=datetime.combine(
                        start + timedelta(days=offset), time(12, k), tzinfo=UTC
                    ),
                    segment="60+" if k % 3 == 0 else "30_59",
                )
                response.answers = [
                    FeedbackAnswer(
                        question_key="overall",
                        question_type=QuestionType.RATING,
                        value_num=float(rating),
                    ),
                    FeedbackAnswer(
                        question_key="recommend",
                        question_type=QuestionType.NPS,
                        value_num=float(min(10, rating * 2)),
                    ),
                ]
                db.session.add(response)


@pytest.fixture
def analyst_client(app, auth):
    auth.login(Role.ANALYST)
    return auth


def create_report(client, pilot) -> Report:
    """POST the create form (runs synchronously under TESTING) and return the new report."""
    response = client.post(f"/reports/pilot/{pilot.id}/create")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    report_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    db.session.expire_all()
    return db.session.get(Report, report_id)
