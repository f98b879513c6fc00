"""What the planner, the prediction model and the estimator wrote in English, and what an
audit event recorded, read back into the reader's words (zh-CN and English)."""

from __future__ import annotations

from flask_babel import force_locale

from analysis.planning import ReadinessWeights, SiteInput, readiness
from app.rollout.reasons import change_text, estimator_note, reason_text


def _site(**overrides) -> SiteInput:
    values = dict(
        site_id="R001", region="East", size_weight=1.0, management_score=71.0,
        digital_readiness=84.0, staff_capability=50.0, attitude=None, senior_share=0.2,
    )  # fmt: skip
    values.update(overrides)
    return SiteInput(**values)


def _readiness_reason():
    result = readiness(_site(), ReadinessWeights())
    return next(r.to_dict() for r in result.reasons if r.code == "readiness_score")


def test_the_readiness_breakdown_names_its_parts_in_chinese(app):
    reason = _readiness_reason()
    with app.test_request_context(), force_locale("zh_CN"):
        text = reason_text(reason)
    assert "management" not in text and "digital" not in text and " x " not in text
    assert "管理" in text and "数字化准备度" in text and "× " in text
    assert "71" in text and "84" in text


def test_the_readiness_breakdown_keeps_its_numbers_in_english(app):
    with app.test_request_context(), force_locale("en"):
        text = reason_text(_readiness_reason())
    assert "management score 71 × " in text and "digital readiness 84 × " in text


def test_the_planner_gives_the_breakdown_in_parts_and_the_words_come_from_them(app):
    reason = _readiness_reason()
    assert [c["component"] for c in reason["params"]["components"]] == [
        "management", "digital", "capability",
    ]  # fmt: skip
    reworded = dict(reason, params=dict(reason["params"], parts="(reworded in analysis)"))
    with app.test_request_context(), force_locale("en"):
        assert reason_text(reworded) == reason_text(reason)
        assert "management score 71 × 0.44" in reason_text(reworded)


def test_a_plan_made_before_the_parts_were_kept_still_reads_in_words(app):
    reason = _readiness_reason()
    older = dict(reason, params={k: v for k, v in reason["params"].items() if k != "components"})
    with app.test_request_context(), force_locale("zh_CN"):
        assert reason_text(older) == reason_text(reason)


def test_the_model_note_in_parts_names_the_attribute_and_its_range(app):
    params = {"note": "(English)", "kind": "range", "attribute": "digital_readiness",
              "value": 22.3, "low": 40.1, "high": 90.0}  # fmt: skip
    reason = {"code": "extrapolation_model", "params": params, "text": "(English)"}
    level = {"note": "(English)", "kind": "level", "attribute": "size_tier", "value": "large"}
    with app.test_request_context(), force_locale("zh_CN"):
        text = reason_text(reason)
        level_text = reason_text({"code": "extrapolation_model", "params": level, "text": ""})
    assert "English" not in text and "digital_readiness" not in text
    assert "数字化准备度" in text and "22.3" in text and "[40.1, 90]" in text
    assert "large" not in level_text and "size_tier" not in level_text


def test_the_model_note_names_the_attribute_not_its_key(app):
    note = "digital_readiness=22.3 outside the pilot sites' range [40.1, 90]"
    reason = {"code": "extrapolation_model", "params": {"note": note}, "text": note}
    with app.test_request_context(), force_locale("zh_CN"):
        text = reason_text(reason)
    assert "digital_readiness" not in text and "outside" not in text
    assert "数字化准备度" in text and "22.3" in text and "[40.1, 90]" in text


def test_an_unknown_model_note_is_not_shown_in_english(app):
    reason = {"code": "extrapolation_model", "params": {"note": "something new"}, "text": "x"}
    with app.test_request_context(), force_locale("zh_CN"):
        assert "something" not in reason_text(reason)


def test_a_history_change_reads_fields_and_values_in_words(app):
    with app.test_request_context(), force_locale("zh_CN"):
        status = change_text({"wave": 1, "status": "planned"}, {"wave": 1, "status": "live"})
        item = change_text(None, {"site": "R002", "item": "week1_review", "done": True})
    assert "status" not in status and "planned" not in status and "live" not in status
    assert " → " in status
    assert "week1_review" not in item and "item" not in item and "True" not in item
    assert "R002" in item


def test_a_history_change_in_english_says_yes_and_the_checklist_item(app):
    with app.test_request_context(), force_locale("en"):
        text = change_text(None, {"site": "R002", "item": "week1_review", "done": True})
    assert text == "Site: R002, Item: First-week review done, Done: yes"


def test_the_estimators_notes_are_translated(app):
    note = "wave 2027-01-04 has 3 sites: its bootstrap interval is rough"
    with app.test_request_context(), force_locale("zh_CN"):
        text = estimator_note(note)
        other = estimator_note("an unforeseen note")
    assert "2027-01-04" in text and "3" in text and "bootstrap" not in text
    assert "unforeseen" not in other
