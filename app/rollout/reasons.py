"""Planner reasons in the reader's language.

``analysis.planning`` returns reasons as ``{"code", "params", "text"}``; the English text is
kept for exports and logs, and this module renders each known code through the catalogue.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from app.core.labels import READINESS_COMPONENT_WORDS, READINESS_TIER_WORDS, SITE_ATTRIBUTE_WORDS
from app.core.reasons import render

TEMPLATES = {
    "readiness_score": _l("Readiness %(score)s (%(parts)s)."),
    "tier": _l("Readiness tier: %(tier)s (cut points %(high)s and %(medium)s)."),
    "readiness_unknown": _l("No readiness data: placed in the low tier."),
    "missing": _l("No %(component)s on record: its weight was spread over the others."),
    "load_size": _l("Counts %(weight)s against the weekly capacity."),
    "load_senior": _l("+%(extra)s load: %(share)s senior customers need assisted ordering."),
    "order_random": _l("Random position within the %(tier)s tier (stepped-wedge design)."),
    "order_readiness": _l("Placed by readiness: more ready sites go first."),
    "wave": _l("Wave %(wave)s, go-live %(go_live)s (week %(week)s of the wave)."),
    "region_wave": _l("Waves are kept within region %(region)s."),
    "holdback": _l(
        "Held back at random within the %(tier)s tier as a comparison site: it keeps the old "
        "process until the last wave has passed its gate."
    ),
    "mentor_low": _l("Needs a mentor: %(tier)s readiness."),
    "mentor_resistant": _l("Needs a mentor: staff attitude %(attitude)s of 5."),
    "mentor_none": _l("No mentor has capacity left in wave %(wave)s (limit %(limit)s per wave)."),
    "mentor_same_region": _l("Mentor %(mentor)s: the most similar pilot site in %(region)s."),
    "mentor_other_region": _l(
        "Mentor %(mentor)s from %(mentor_region)s: no pilot site in %(region)s had capacity."
    ),
    "extrapolation": _l(
        "%(attribute)s %(value)s is outside the pilot sites' range [%(low)s, %(high)s]: the "
        "prediction is an extrapolation."
    ),
    "extrapolation_region": _l(
        "No pilot site in region %(region)s: the prediction is an extrapolation."
    ),
    "extrapolation_model": _l("The prediction model flags this site: %(note)s"),
    "capability_staffing": _l(
        "Staff capability estimated from staffing (%(staff)s staff); no score on record."
    ),
    "attitude_source": _l("Staff attitude %(attitude)s of 5 from %(n)s staff answers."),
    "adaptation": _l("Adaptation from the pilot applies: %(title)s %(condition)s"),
    "moved": _l("Moved by hand: %(reason)s"),
    "moved_holdback": _l("Moved by hand to the holdback: %(reason)s"),
}


def _prepare(code: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The template key and the parameters as the sentence shows them."""
    key = code
    if code.startswith("tier_"):
        key = "tier"
    elif code.startswith("missing_"):
        key = "missing"
        params["component"] = READINESS_COMPONENT_WORDS.get(code[len("missing_") :], code)
    if "tier" in params:
        params["tier"] = READINESS_TIER_WORDS.get(params["tier"], params["tier"])
    if "attribute" in params:
        params["attribute"] = SITE_ATTRIBUTE_WORDS.get(params["attribute"], params["attribute"])
    if key == "load_senior" and isinstance(params.get("share"), float):
        params["share"] = f"{params['share']:.0%}"
    if key == "readiness_score" and isinstance(params.get("score"), float):
        params["score"] = f"{params['score']:.0f}"
    if key == "moved" and params.get("to") is None:
        key = "moved_holdback"
    return key, params


def reason_text(reason: Any) -> str:
    """One reason (a dict from the planner or a plain string) as a translated sentence."""
    return render(reason, TEMPLATES, _prepare)
