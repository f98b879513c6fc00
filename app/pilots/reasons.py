"""Why a site was proposed as a pilot or a control site, in the reader's language.

``analysis.selection`` gives each site's reasons as ``{"code", "params", "text"}``; the
English text is kept (exports, the analysis CLI, assignments made before codes existed),
and this module renders each known code through the translation catalogue.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.labels import ARM_WORDS, SITE_ATTRIBUTE_LABELS, by_value, metric_label, unit_label
from app.core.reasons import render
from app.extensions import db
from app.models import Arm, Metric, SizeTier

TEMPLATES = {
    "stratum_share": _l(
        "%(by)s %(stratum)s: %(sites)s of %(eligible)s sites, %(slots)s of %(n)s pilot slots by "
        "proportion."
    ),
    "problem_rank_high": _l(
        "%(metric)s %(value)s: rank %(rank)s of %(members)s %(where)s (highest %(top)s): the "
        "problem is clearly present."
    ),
    "problem_rank_low": _l(
        "%(metric)s %(value)s: rank %(rank)s of %(members)s %(where)s (lowest %(top)s): the "
        "problem is clearly present."
    ),
    "random_order": _l("Chosen in a seeded random order (no problem metric given)."),
    "volume_share": _l(
        "%(name)s %(volume)s = %(share)s of total volume (pilot total %(running)s, cap %(cap)s)."
    ),
    "nearest_match": _l(
        "Nearest unused match for pilot %(pilot)s (standardised distance %(distance)s)."
    ),
    "match_detail": _l("Control vs pilot: %(pairs)s."),
    "drawn_in_stratum": _l(
        "Drawn at random within %(by)s = %(stratum)s (%(taken)s of %(candidates)s candidates)."
    ),
    "drawn_in_all": _l("Drawn at random among all %(candidates)s candidates (%(taken)s taken)."),
    "best_draw": _l("Draw %(draw)s of %(draws)s kept for the best balance (max |SMD| %(smd)s)."),
    "pool_member": _l(
        "In the pool where the problem is present: %(metric)s %(value)s before the start."
    ),
    "pair_member": _l(
        "Pair %(pair)s with %(partners)s; drawn at random as the %(arm)s site (seed %(seed)s)."
    ),
    "swapped": _l("Moved to the %(arm)s sites by the change lead."),
    "region": _l("Region %(region)s."),
    "size_tier": _l("Size: %(tier)s."),
}

PERCENT_PARAMS = ("share", "running", "cap")


def _prepare(code: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The template key and the parameters as the sentence shows them."""
    key = code
    by = params.get("by")
    if isinstance(by, str) and by:
        # strata are named by a site attribute and one of its values ("size_tier", "small")
        if by == "size_tier" and isinstance(params.get("stratum"), str):
            params["stratum"] = by_value(SizeTier).get(params["stratum"], params["stratum"])
        params["by"] = SITE_ATTRIBUTE_LABELS.get(by, by)
    for name in PERCENT_PARAMS:
        if isinstance(params.get(name), int | float):
            params[name] = f"{params[name]:.1%}" if name != "cap" else f"{params[name]:.0%}"
    if code == "problem_rank":
        key = "problem_rank_low" if params.get("direction") == "low" else "problem_rank_high"
        params["top"] = f"{params.get('top')}%"
        params["where"] = (
            _("in %(by)s %(stratum)s", by=params["by"], stratum=params["stratum"])
            if params.get("by")
            else _("among all sites")
        )
    elif code == "volume_share" and isinstance(params.get("volume"), int | float):
        params["volume"] = f"{params['volume']:,.4g}"
    elif code == "match_detail":
        params["pairs"] = ", ".join(
            _(
                "%(covariate)s %(control)s vs %(pilot)s",
                covariate=_covariate_words(c),
                control=a,
                pilot=b,
            )
            for c, a, b in params.get("pairs") or []
        )
    elif code == "drawn_in_stratum" and not params.get("by"):
        key = "drawn_in_all"
    elif code in ("pair_member", "swapped"):
        params["arm"] = by_value(Arm, labels=ARM_WORDS).get(params.get("arm"), params.get("arm"))
    elif code == "size_tier":
        params["tier"] = by_value(SizeTier).get(params.get("tier"), params.get("tier"))
    if isinstance(params.get("metric"), str):
        params["metric"], unit = _metric_words(params["metric"])
        if code == "pool_member" and unit:
            params["value"] = f"{params.get('value')} {unit}"
    return key, params


def _covariate_words(name: str) -> str:
    """A matching covariate in words: a site attribute's label, or a metric's level or trend
    before the start (``"avg_wait_min level"``)."""
    if name in SITE_ATTRIBUTE_LABELS:
        return str(SITE_ATTRIBUTE_LABELS[name])
    key, _sep, part = name.rpartition(" ")
    if part == "level" and key:
        return _("%(metric)s before the start (average)", metric=_metric_words(key)[0])
    if part == "trend" and key:
        return _("%(metric)s before the start (trend per day)", metric=_metric_words(key)[0])
    return _metric_words(name)[0]


def _metric_words(key: str) -> tuple[str, str]:
    """A metric's name in the reader's language and its unit (the key itself when the
    metric is gone): reasons store keys, readers see names."""
    known = g.setdefault("metric_words", {})  # one query per page, not one per reason
    if not known:
        for metric in db.session.scalars(select(Metric)):
            known[metric.key] = (metric_label(metric), unit_label(metric.unit))
    return known.get(key, (key, ""))


def site_reason_text(reason: Any) -> str:
    """One reason (a dict from the selection or a plain string) as a translated sentence."""
    return render(reason, TEMPLATES, _prepare)
