"""A small pilot with hand-made observations and feedback, for the brief's numbers.

Pilot start 2026-10-01; the retro of 2026-10-05 reviews 2026-10-04 (the data day) against
2026-10-03 and the pre-period. Sites P1, P2 (pilot) and C1, C2 (control).

Feedback days are local days in Asia/Shanghai (UTC+8, TestConfig's default time zone):
``at(day, hour)`` is a UTC hour, so local 2026-10-04 runs from 10-03 16:00 to 10-04 16:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models import (
    Arm,
    Audience,
    CommentTag,
    FeedbackAnswer,
    FeedbackResponse,
    Observation,
    QuestionType,
)

RETRO_DAY = date(2026, 10, 5)
DATA_DAY = date(2026, 10, 4)
PREVIOUS_DAY = date(2026, 10, 3)

#: (site, day, value) of the primary metric (better = decrease)
PRIMARY = [
    ("P1", date(2026, 9, 10), 10.0),
    ("P1", date(2026, 9, 11), 12.0),
    ("P2", date(2026, 9, 10), 14.0),
    ("C1", date(2026, 9, 10), 11.0),
    ("C2", date(2026, 9, 10), 13.0),
    ("C2", date(2026, 9, 11), 15.0),
    ("P1", PREVIOUS_DAY, 9.0),
    ("P2", PREVIOUS_DAY, 11.0),
    ("C1", PREVIOUS_DAY, 12.0),
    ("C2", PREVIOUS_DAY, 14.0),
    ("P1", DATA_DAY, 8.0),  # P2 sends nothing on the data day
    ("C1", DATA_DAY, 12.0),
    ("C2", DATA_DAY, 13.0),
]
#: the guardrail (better = increase), observed on the data day only
GUARDRAIL = [("P1", DATA_DAY, 0.9), ("C1", DATA_DAY, 0.8), ("C2", DATA_DAY, 0.7)]


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


@pytest.fixture
def small_pilot(make_site, make_pilot, add_guardrail, make_feedback_form):
    sites = {
        "P1": make_site(code="P1", senior_share=0.35, region="North"),
        "P2": make_site(code="P2", senior_share=0.10, region="East"),
        "C1": make_site(code="C1", senior_share=0.40, region="North"),
        "C2": make_site(code="C2", senior_share=0.05, region="South"),
    }
    pilot = make_pilot(n_pilot=2, n_control=2, sites=list(sites.values()))
    primary = pilot.primary_metric
    guardrail = add_guardrail(pilot, key="satisfaction", unit="share")
    for metric, rows in ((primary, PRIMARY), (guardrail, GUARDRAIL)):
        for code, day, value in rows:
            db.session.add(
                Observation(site_id=sites[code].id, metric_id=metric.id, date=day, value=value)
            )
    customer = make_feedback_form(
        pilot, ["overall", "comment"], title_en="Customers", title_zh="顾客"
    )
    staff = make_feedback_form(
        pilot, ["attitude"], audience=Audience.STAFF, title_en="Staff", title_zh="员工"
    )
    world = SimpleNamespace(pilot=pilot, sites=sites, primary=primary, guardrail=guardrail)
    world.forms = {Audience.CUSTOMER: customer, Audience.STAFF: staff}

    def respond(
        code,
        day,
        rating,
        segment=None,
        *,
        audience=Audience.CUSTOMER,
        comment=None,
        flagged=False,
        hour=12,
        tags=(),
    ):
        form = world.forms[audience]
        key = "overall" if audience is Audience.CUSTOMER else "attitude"
        response = FeedbackResponse(
            form=form,
            pilot_id=pilot.id,
            site_id=sites[code].id,
            audience=audience,
            submitted_at=at(day, hour),
            segment=segment,
            is_flagged_negative=flagged,
        )
        response.answers.append(
            FeedbackAnswer(question_key=key, question_type=QuestionType.RATING, value_num=rating)
        )
        if comment:
            answer = FeedbackAnswer(
                question_key="comment", question_type=QuestionType.TEXT, value_text=comment
            )
            answer.tags = [CommentTag(tag=t) for t in tags]
            response.answers.append(answer)
        db.session.add(response)
        db.session.flush()
        return response

    world.respond = respond
    db.session.commit()
    return world


def seed_feedback(world) -> dict[str, FeedbackResponse]:
    """The data day's feedback (and one flagged comment on the day before)."""
    r = world.respond
    out = {
        "r1": r("P1", DATA_DAY, 5, "60+", comment="很方便", tags=["speed"]),
        "r2": r(
            "P1", DATA_DAY, 2, "30_59", comment="too slow", flagged=True, tags=["speed", "wifi"]
        ),
        "r3": r("P2", DATA_DAY, 4, "60+", hour=15),  # 23:00 local, still the data day
        "r4": r("C1", PREVIOUS_DAY, 3, "60+", hour=16),  # 00:00 local on the data day
        "staff": r("P1", DATA_DAY, 4, audience=Audience.STAFF),
        "old": r("C2", PREVIOUS_DAY, 1, "60+", comment="太慢了", flagged=True),
        # 00:00 local on the retro day: not the data day any more
        "next": r("C2", DATA_DAY, 1, "60+", comment="after the day", flagged=True, hour=16),
    }
    db.session.commit()
    return out


__all__ = ["Arm", "DATA_DAY", "PREVIOUS_DAY", "RETRO_DAY", "seed_feedback"]
