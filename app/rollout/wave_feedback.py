"""Feedback during rollout: every wave site's customer and staff links, and what they say.

When a wave starts (:func:`app.rollout.gates.decide`), each of its sites gets a customer and
a staff link of the pilot's current forms (the forms belong to the pilot, the links are per
site). The public form accepts answers on those links while the plan is active and the wave
has started, although the pilot itself is decided (see ``app.feedback.intake``).

:func:`wave_feedback` reads the responses of a wave's sites since their go-live and of the
pilot's own sites during the pilot, and hands them to ``analysis.rollout_feedback`` for the
gate page. Functions add and flush; the caller commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from flask_babel import get_locale
from sqlalchemy import select

from analysis.rollout_feedback import RolloutFeedbackResult, compare_feedback
from app.core.clock import local_day, organisation_zone
from app.extensions import db
from app.feedback import analytics, themes
from app.feedback.questionnaires import (
    current_form,
    ensure_forms,
    ensure_site_links,
    headline_key,
    pilot_links,
)
from app.models import (
    Arm,
    Audience,
    CommentTag,
    FeedbackAnswer,
    FeedbackForm,
    FeedbackResponse,
    FormLink,
    QuestionType,
    RolloutPlan,
    Wave,
    WaveSite,
)


def wave_members(plan: RolloutPlan, wave: Wave) -> list[WaveSite]:
    """The wave's sites (holdback sites are in no wave)."""
    return sorted(
        (ws for ws in plan.sites if ws.wave_id == wave.id and not ws.is_holdback),
        key=lambda ws: ws.site.code,
    )


def open_wave_feedback(plan: RolloutPlan, wave: Wave) -> list[FormLink]:
    """Customer and staff links of the pilot's current forms for every site of ``wave``."""
    ensure_forms(plan.pilot)
    return ensure_site_links(plan.pilot, [ws.site_id for ws in wave_members(plan, wave)])


def wave_links(plan: RolloutPlan, wave: Wave) -> dict[int, dict[Audience, FormLink]]:
    """The active links of the wave's sites: ``site_id -> audience -> link``."""
    ids = {ws.site_id for ws in wave_members(plan, wave)}
    out: dict[int, dict[Audience, FormLink]] = {}
    for link in pilot_links(plan.pilot_id):
        if link.site_id in ids:
            out.setdefault(link.site_id, {}).setdefault(link.audience, link)
    return out


@dataclass(frozen=True, slots=True)
class WaveFeedback:
    """The comparison for the gate page, with the questions it rests on."""

    result: RolloutFeedbackResult
    rating_question: dict[str, Any] | None
    """The customer form's main rating question (None when the form has none)."""
    nps_question: dict[str, Any] | None
    staff_question: dict[str, Any] | None
    theme_labels: dict[str, str]
    """Words for every theme tag shown."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.result.to_dict(),
            "rating_key": (self.rating_question or {}).get("key"),
            "nps_key": (self.nps_question or {}).get("key"),
            "staff_key": (self.staff_question or {}).get("key"),
        }


def _question(form: Any, key: str | None) -> dict[str, Any] | None:
    if form is None or key is None:
        return None
    return next((q for q in form.questions if q.get("key") == key), None)


def _nps_key(form: Any) -> str | None:
    if form is None:
        return None
    return next((q["key"] for q in form.questions if q.get("type") == QuestionType.NPS.value), None)


def feedback_frames(
    plan: RolloutPlan,
    wave: Wave,
    *,
    rating_keys: dict[Audience, str | None],
    nps_key: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``responses`` and ``tags`` frames for ``analysis.rollout_feedback.compare_feedback``.

    Wave rows: responses at the wave's sites from their go-live day on (the wave's start when
    a site has no go-live date). Pilot rows: responses at the pilot's own sites during the
    pilot (its start to its end day, when set).
    """
    pilot = plan.pilot
    since = {ws.site_id: ws.go_live_date or wave.start_date for ws in wave_members(plan, wave)}
    pilot_sites = {a.site_id for a in pilot.assignments if a.arm is Arm.PILOT}
    site_ids = set(since) | pilot_sites
    rows = db.session.execute(
        select(
            FeedbackResponse.id,
            FeedbackResponse.site_id,
            FeedbackResponse.audience,
            FeedbackResponse.submitted_at,
        ).where(
            FeedbackResponse.pilot_id == pilot.id,
            FeedbackResponse.site_id.in_(sorted(site_ids)),
        )
    ).all()
    records: dict[int, dict[str, Any]] = {}
    for response_id, site_id, audience, submitted_at in rows:
        day = local_day(submitted_at)
        if site_id in since and day >= since[site_id]:
            group = "wave"
        elif site_id in pilot_sites and _in_pilot(pilot, day):
            group = "pilot"
        else:
            continue
        records[response_id] = {
            "response_id": response_id,
            "group": group,
            "audience": audience.value,
            "rating": float("nan"),
            "nps": float("nan"),
        }
    keys = {k for k in (*rating_keys.values(), nps_key) if k}
    if records and keys:
        answers = db.session.execute(
            select(
                FeedbackAnswer.response_id, FeedbackAnswer.question_key, FeedbackAnswer.value_num
            ).where(
                FeedbackAnswer.response_id.in_(list(records)),
                FeedbackAnswer.question_key.in_(sorted(keys)),
                FeedbackAnswer.value_num.is_not(None),
            )
        ).all()
        for response_id, key, value in answers:
            record = records[response_id]
            if key == rating_keys.get(Audience(record["audience"])):
                record["rating"] = float(value)
            if record["audience"] == Audience.CUSTOMER.value and key == nps_key:
                record["nps"] = float(value)
    tag_rows = (
        db.session.execute(
            select(FeedbackAnswer.response_id, CommentTag.tag)
            .join(CommentTag, CommentTag.answer_id == FeedbackAnswer.id)
            .where(FeedbackAnswer.response_id.in_(list(records)))
        ).all()
        if records
        else []
    )
    responses = pd.DataFrame(
        list(records.values()), columns=["response_id", "group", "audience", "rating", "nps"]
    )
    tags = pd.DataFrame([tuple(r) for r in tag_rows], columns=["response_id", "tag"])
    return responses, tags


def _in_pilot(pilot: Any, day: date) -> bool:
    if pilot.start_date is not None and day < pilot.start_date:
        return False
    return pilot.end_date is None or day <= pilot.end_date


def remembered_wave_feedback(plan: RolloutPlan, wave: Wave, *, top: int = 5) -> WaveFeedback:
    """:func:`wave_feedback` for the wave page, remembered until the pilot's responses or
    the comment tags change, a form is revised, the wave's sites or dates move, or the
    reader's language differs (the gate's evaluation always computes it afresh)."""
    forms = db.session.execute(
        select(FeedbackForm.id, FeedbackForm.revision).where(
            FeedbackForm.pilot_id == plan.pilot_id, FeedbackForm.is_current.is_(True)
        )
    ).all()
    pilot = plan.pilot
    stamp = (
        plan.id, wave.id, wave.start_date, top, pilot.start_date, pilot.end_date,
        tuple(sorted((ws.site_id, ws.go_live_date) for ws in wave_members(plan, wave))),
        tuple(sorted(a.site_id for a in pilot.assignments if a.arm is Arm.PILOT)),
        tuple(sorted(tuple(f) for f in forms)),
        analytics.responses_stamp(pilot), analytics.tags_stamp(),
        str(get_locale()), str(organisation_zone()),
    )  # fmt: skip
    return analytics.remembered("wave_feedback", stamp, lambda: wave_feedback(plan, wave, top=top))


def wave_feedback(plan: RolloutPlan, wave: Wave, *, top: int = 5) -> WaveFeedback:
    """What the wave's sites said since their go-live, beside the pilot's own sites."""
    customer = current_form(plan.pilot_id, Audience.CUSTOMER)
    staff = current_form(plan.pilot_id, Audience.STAFF)
    rating_keys = {
        Audience.CUSTOMER: headline_key(customer) if customer else None,
        Audience.STAFF: headline_key(staff) if staff else None,
    }
    nps_key = _nps_key(customer)
    responses, tags = feedback_frames(plan, wave, rating_keys=rating_keys, nps_key=nps_key)
    result = compare_feedback(responses, tags, top=top)
    shown = {tag for group in (result.wave, result.pilot) for tag, _n in group.themes}
    return WaveFeedback(
        result=result,
        rating_question=_question(customer, rating_keys[Audience.CUSTOMER]),
        nps_question=_question(customer, nps_key),
        staff_question=_question(staff, rating_keys[Audience.STAFF]),
        theme_labels={tag: str(themes.theme_label(tag)) for tag in shown},
    )
