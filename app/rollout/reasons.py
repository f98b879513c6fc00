"""Planner reasons in the reader's language.

``analysis.planning`` returns reasons as ``{"code", "params", "text"}``; the English text is
kept for exports and logs, and this module renders each known code through the catalogue.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

from app.core.labels import (
    LIST_SEPARATOR,
    READINESS_COMPONENT_WORDS,
    READINESS_TIER_WORDS,
    SITE_ATTRIBUTE_LABELS,
    SITE_ATTRIBUTE_WORDS,
    by_value,
    recorded_field_label,
    recorded_value_label,
)
from app.core.reasons import format_value, render
from app.models import SizeTier

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
    "extrapolation_model_range": _l(
        "The prediction model flags this site: its %(attribute)s, %(value)s, is outside the "
        "pilot sites' range [%(low)s, %(high)s]."
    ),
    "extrapolation_model_level": _l(
        "The prediction model flags this site: no pilot site had its %(attribute)s "
        "(%(value)s); the overall effect is shown."
    ),
    "extrapolation_model_other": _l(
        "The prediction model flags this site: it is unlike the pilot sites."
    ),
    "capability_staffing": _l(
        "Staff capability estimated from staffing (%(staff)s staff); no score on record."
    ),
    "attitude_source": _l("Staff attitude %(attitude)s of 5 from %(n)s staff answers."),
    "adaptation": _l("Adaptation from the pilot applies: %(title)s %(condition)s"),
    "moved": _l("Moved by hand: %(reason)s"),
    "moved_holdback": _l("Moved by hand to the holdback: %(reason)s"),
}


#: One component of a readiness score: its value and the weight it counted with.
READINESS_PART = _l("%(component)s %(value)s × %(weight)s")

# Plans made before the planner kept its readiness parts and the prediction model's notes in
# parts stored them only in English ("management score 71 x 0.44, …"): read back here.
_ENGLISH_COMPONENTS = {
    "management score": "management",
    "digital readiness": "digital",
    "staff capability": "capability",
    "staff attitude": "attitude",
}
_PART = re.compile(
    r"(" + "|".join(_ENGLISH_COMPONENTS) + r") (-?[\d.]+(?:e-?\d+)?|nan) x (-?[\d.]+)"
)
_NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?|nan|inf)"
_NOTE_RANGE = re.compile(
    rf"(\w+)={_NUMBER} outside the pilot sites' range \[{_NUMBER}, {_NUMBER}\]"
)
_NOTE_LEVEL = re.compile(r"no pilot site had (\w+)=(.*?); the overall effect is shown")


def _number(text: str) -> Any:
    try:
        return format_value(float(text))
    except ValueError:
        return text


def readiness_parts(parts: Any, components: Any = None) -> str:
    """The planner's readiness parts in the reader's language: from ``components`` (the
    planner's ``[{"component", "value", "weight"}]``), else read back from the English
    ``parts`` of plans made before the planner gave them; ``parts`` as written when they are
    neither."""
    if components:
        found = [(c["component"], c["value"], c["weight"]) for c in components]
    else:
        found = [
            (_ENGLISH_COMPONENTS[name], float(value), float(weight))
            for name, value, weight in _PART.findall(str(parts or ""))
        ]
    if not found:
        return str(parts or "")
    return str(LIST_SEPARATOR).join(
        str(READINESS_PART)
        % {
            "component": READINESS_COMPONENT_WORDS.get(name, name),
            "value": format_value(float(value)),
            "weight": format_value(float(weight)),
        }
        for name, value, weight in found
    )


def _attribute_word(name: str) -> str:
    return str(SITE_ATTRIBUTE_WORDS.get(name) or SITE_ATTRIBUTE_LABELS.get(name, name))


def _model_note(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The prediction model's note in words: from its parts (``kind``, ``attribute``,
    ``value``, ``low``, ``high``; see ``app.rollout.plans``), or read back from the English
    note of plans made before the parts were kept."""
    kind = params.get("kind")
    if kind == "range":
        return "extrapolation_model_range", {
            "attribute": _attribute_word(str(params["attribute"])),
            **{k: format_value(float(params[k])) for k in ("value", "low", "high")},
        }
    if kind == "level":
        name, value = str(params["attribute"]), str(params["value"])
        if name == "size_tier":
            value = str(by_value(SizeTier).get(value, value))
        return "extrapolation_model_level", {"attribute": _attribute_word(name), "value": value}
    note = str(params.get("note") or "")
    match = _NOTE_RANGE.search(note)
    if match:
        name, value, low, high = match.groups()
        return "extrapolation_model_range", {
            "attribute": _attribute_word(name),
            "value": _number(value),
            "low": _number(low),
            "high": _number(high),
        }
    match = _NOTE_LEVEL.search(note)
    if match:
        name, value = match.groups()
        if name == "size_tier":
            value = str(by_value(SizeTier).get(value, value))
        return "extrapolation_model_level", {"attribute": _attribute_word(name), "value": value}
    return "extrapolation_model_other", {}


def _prepare(code: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The template key and the parameters as the sentence shows them."""
    key = code
    if code == "extrapolation_model":
        return _model_note(params)
    if code == "readiness_score":
        params["parts"] = readiness_parts(params.get("parts"), params.pop("components", None))
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


def recorded_text(data: Any) -> str:
    """What an audit event recorded (its ``before`` or ``after``) in words: "Wave: 2,
    Status: Live" rather than ``wave: 2, status: live``."""
    if isinstance(data, dict):
        return str(LIST_SEPARATOR).join(
            f"{recorded_field_label(k)}: {recorded_text(v)}"
            for k, v in data.items()
            if k != "settings"
        )
    if isinstance(data, list | tuple):
        return str(LIST_SEPARATOR).join(recorded_text(v) for v in data)
    if data is None:
        return "—"
    if isinstance(data, float):
        return format_value(data)
    return str(recorded_value_label(data))


def change_text(before: Any, after: Any) -> str:
    """An audit event's change: "before → after", or the one side that was recorded."""
    sides = [recorded_text(side) for side in (before, after) if side]
    return " → ".join(sides)


#: The staggered-adoption estimator's notes (``analysis.staggered``), by their English shape.
ESTIMATOR_NOTES = (
    (
        re.compile(r"wave (\S+) has (\d+) sites: its bootstrap interval is rough"),
        _l("The wave starting %(day)s has %(n)s sites: its interval is rough."),
        ("day", "n"),
    ),
    (
        re.compile(r"(\d+) treated site-day\(s\) could not be imputed"),
        _l(
            "%(n)s site-days after go-live could not be compared (no comparable days or "
            "sites) and were left out."
        ),
        ("n",),
    ),
    (
        re.compile(r"no never-treated sites"),
        _l("No site stayed without the change: later waves are the only comparison."),
        (),
    ),
    (
        re.compile(r"plain TWFE failed"),
        _l("The plain two-way fixed-effects estimate for contrast could not be computed."),
        (),
    ),
)
ESTIMATOR_NOTE_OTHER = _l("A technical note from the estimator.")


def estimator_note(note: Any) -> str:
    """One note of the staggered-adoption estimator in the reader's language."""
    text = str(note or "")
    for pattern, template, names in ESTIMATOR_NOTES:
        match = pattern.search(text)
        if match:
            return str(template) % dict(zip(names, match.groups(), strict=True))
    return str(ESTIMATOR_NOTE_OTHER)
