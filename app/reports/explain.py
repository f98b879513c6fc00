"""A plain explanation beside every result, in the reader's language.

The order follows ``/work/shared/EXPLAINING.md`` (and ``docs/reports.md``): what is shared by
every metric -- which sites and days were compared, and how -- is said once above the
results (:func:`overview`); each metric then gets its own text (:func:`explain_metric`):

1. the decision in one line (for a guardrail, whether it held inside its margin);
2. the difference in the metric's units with its likely range, the relative change second;
3. how sure, in words ("less than once in 1,000"), the p-value in brackets;
4. what the comparison assumes and whether the data support it (pre-trend, balance, few or
   a single pilot site);
5. when the result is unclear, what would make it clear (more days or sites, from the power
   calculation).

Terms a reader might not know link to the glossary (``/glossary#term``). Snapshots keep
numbers and codes; every word here is rendered at read time through ``gettext``. The
engine's English warnings and reasons are turned into the reader's language by
:func:`warning_text` and :func:`reason_text`.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from babel.lists import format_list
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from analysis.power import days_for_power_by_se, sites_for_power_by_se
from app.core.engine_reasons import reason_text
from app.core.glossary import term_url
from app.core.labels import (
    ASSIGNMENT_METHOD_LABELS,
    SEQUENTIAL_STATUS_LABELS,
    SITE_ATTRIBUTE_LABELS,
    by_value,
    segment_value_label,
)
from app.core.numbers import finite, num, p_expr
from app.models import AssignmentMethod, SizeTier
from app.reports import sentences as say
from app.reports.snapshots import guardrail_state

TARGET_POWER = 0.8
MAX_WEEKS = 52
FEW_PILOT_SITES = 6
"""Below this many pilot sites the text says that the result rests on few places."""
WEAK_CHECK_SITES = 10
"""With fewer pilot sites (or fewer than 3 lead weeks) a passed pre-trend check is weak."""


# ---------------------------------------------------------------- small pieces


def link(key: str, text: Any) -> Markup:
    """``text`` linked to the glossary entry ``key``."""
    return Markup('<a class="glossary-link" href="{}">{}</a>').format(term_url(key), text)


def html(template: str, **params: Any) -> Markup:
    """A translated template filled with ``params``; plain strings are escaped, ``Markup``
    (glossary links) is kept. Templates are looked up without values (``_(msgid)``) so that
    the values can be Markup."""
    safe = escape(template)  # the template is escaped; so are plain-string values
    return safe % params if params else safe


def words_list(items: list[str]) -> str:
    """``["A", "B", "C"]`` as "A, B and C" ("A、B和C") in the reader's language."""
    return format_list([str(i) for i in items], locale=get_locale()) if items else ""


def _metric_key_names(meta: dict[str, Any], locale: str) -> dict[str, str]:
    return {key: say.metric_name(m, key, locale) for key, m in meta.items()}


def chance_words(p: float | None) -> str:
    """How often chance alone gives a difference this large, in words: "less than once in
    1,000", "about 3 times in 100", "about 4 times in 10"."""
    if not finite(p):
        return ""
    if p < 0.001:
        return _("less than once in %(n)s", n=format_decimal(1000, format="#,##0"))
    for n in (1000, 100, 10):
        k = round(p * n)
        if p < 10 / n or n == 10:
            k = max(1, min(k, n))
            size = format_decimal(n, format="#,##0")
            if k == 1:
                return _("about once in %(n)s", n=size)
            if k == n:
                return _("almost always")
            return _("about %(k)s times in %(n)s", k=k, n=size)
    return ""  # pragma: no cover - the loop always returns


def _days_between(results: dict[str, Any], key: str) -> tuple[int, int]:
    """Days with data before the start and during the pilot (from the daily series)."""
    comp = results["comparison"]
    start = comp["parameters"].get("start")
    end = comp["parameters"].get("end")
    dates = (results.get("daily", {}).get(key) or {}).get("dates") or []
    pre = sum(1 for d in dates if start and d < start)
    post = sum(1 for d in dates if start and d >= start and (not end or d <= end))
    return pre, post


def _date(text: str | None) -> str:
    return format_date(date.fromisoformat(text[:10]), format="medium") if text else "—"


# ---------------------------------------------------------------- shared text


def method_gloss(key: str) -> Markup:
    """What a method does, in plain words, with its name linked to the glossary."""
    if key == "did":
        return html(
            _(
                "compared how pilot and control sites changed from before to during the pilot "
                "(%(term)s)"
            ),
            term=link("difference-in-differences", _("difference-in-differences")),
        )
    if key == "ancova":
        return html(
            _(
                "compared the sites' averages during the pilot, allowing for where each site "
                "stood before the start (%(term)s)"
            ),
            term=link("ancova", _("pre-period adjustment")),
        )
    if key == "permutation":
        return html(
            _(
                "checked the difference against every other way the pilot sites could have "
                "been chosen among the same sites (%(term)s)"
            ),
            term=link("permutation-test", _("permutation test")),
        )
    if key == "paired":
        return html(
            _("compared each pilot site with the alike site it was paired with (%(term)s)"),
            term=link("matched-pairs", _("matched pairs")),
        )
    if key == "welch":
        return html(
            _(
                "compared the average change of the pilot sites with that of the control "
                "sites (%(term)s)"
            ),
            term=link("t-test", _("t-test")),
        )
    return html(_("compared pilot with control sites"))


def method_why(res: dict[str, Any]) -> str:
    """Why this method was the headline, in plain words (the engine's reason is technical)."""
    key = say.method_key(res)
    reason = str(res.get("method_reason") or "")
    if "requested explicitly" in reason or res.get("forced_method_invalid"):
        return _("The analyst chose this method for this exploration.")
    n_pilot = res.get("n_pilot_sites") or 0
    if key == "ancova":
        return _(
            "It was chosen because every site has a steady record before the start, which "
            "removes most of the differences between sites."
        )
    if key == "did":
        return _(
            "It was chosen because the record before the start is short or patchy and each "
            "group has many sites."
        )
    if key == "paired":
        return _("It follows the design: the pilot site of each pair was drawn at random.")
    if key == "permutation":
        if n_pilot == 1:
            return _("It was chosen because there is a single pilot site.")
        if "matched groups" in reason:
            return _(
                "It was chosen because there are few matched groups; it follows the draw "
                "inside each group exactly."
            )
        if "short or patchy" in reason:
            return _(
                "It was chosen because the record before the start is short or patchy and "
                "the groups are too small for the usual formulas."
            )
        return _("It was chosen because with few sites the usual formulas are unreliable.")
    return ""


def assignment_words(params: dict[str, Any], methods: set[str]) -> Markup:
    """How the sites were chosen: randomized within pairs, drawn within strata, matched or by
    hand (from the snapshot's design and the pilot's assignments)."""
    if params.get("pairs"):
        return html(
            _("drawn at random within %(term)s of alike sites"),
            term=link("matched-pairs", _("matched pairs")),
        )
    if params.get("strata") or methods == {AssignmentMethod.RANDOM_STRATIFIED.value}:
        return html(_("drawn at random within groups of alike sites"))
    if AssignmentMethod.MATCHED.value in methods:
        return html(
            _("with %(term)s matched to the pilot sites on their history and characteristics"),
            term=link("control-site", _("control sites")),
        )
    if methods:
        words = ", ".join(
            str(ASSIGNMENT_METHOD_LABELS[AssignmentMethod(m)]).lower() for m in sorted(methods)
        )
        if methods <= {AssignmentMethod.MANUAL.value, AssignmentMethod.PROPOSED.value}:
            return html(_("chosen by hand"))
        return html(_("(how the sites were chosen: %(how)s)"), how=words)
    return html("")


def overview(results: dict[str, Any], assignment_methods: set[str], locale: str) -> list[Markup]:
    """What every metric shares, said once above the results: the sites and days compared,
    the method (when all metrics share it), how to read the numbers."""
    comp = results["comparison"]
    params = comp["parameters"]
    metrics = comp["metrics"]
    n_pilot, n_control = comp.get("n_pilot_sites") or 0, comp.get("n_control_sites") or 0
    first = next(iter(metrics), None)
    pre_days, post_days = _days_between(results, first) if first else (0, 0)
    design = results.get("design") or {}
    how = assignment_words(params, assignment_methods)
    out = [
        html(
            _(
                "%(n_pilot)s pilot sites were compared with %(n_control)s %(control)s %(how)s, "
                "over %(pre)s days before the start (from %(pre_start)s) and %(post)s days of "
                "the pilot (%(start)s to %(end)s)."
            ),
            n_pilot=n_pilot,
            n_control=n_control,
            control=link("control-site", _("control sites")),
            how=how,
            pre=pre_days,
            post=post_days,
            pre_start=_date(design.get("pre_start")),
            start=_date(params.get("start")),
            end=_date(
                params.get("end")
                or ((results.get("daily", {}).get(first) or {}).get("dates") or [None])[-1]
            ),
        )
    ]
    keys = {say.method_key(r) for r in metrics.values() if not r.get("error")}
    if len(keys) == 1:
        res = next(r for r in metrics.values() if not r.get("error"))
        out.append(
            html(
                _("Method: every metric %(gloss)s. %(why)s"),
                gloss=method_gloss(keys.pop()),
                why=method_why(res),
            )
        )
    out.append(
        html(
            _(
                "Each result gives the difference in the metric's own unit with its %(interval)s, "
                "and how often chance alone would give a difference that large (the %(p)s)."
            ),
            interval=link("interval", _("likely range")),
            p=link("p-value", _("p-value")),
        )
    )
    if len(metrics) > 1:
        out.append(
            html(
                _(
                    "Because %(n)s metrics were compared at once, how sure each result is "
                    "allows for the others (%(term)s)."
                ),
                n=len(metrics),
                term=link("adjusted-p-value", _("adjusted p-value")),
            )
        )
    out.extend(shared_cautions(comp))
    flagged = [
        balance_variable_label(
            r["variable"], _metric_key_names(results.get("metrics_meta", {}), locale)
        )
        for r in (comp.get("balance") or {}).get("rows") or []
        if r.get("flagged") and not str(r.get("variable", "")).startswith("pre:")
    ]
    if flagged:
        out.append(
            html(
                _(
                    "Before the start, pilot and control sites differed in: %(what)s (see %(term)s "
                    "below); a difference there can bias the comparison."
                ),
                what=words_list(flagged),
                term=link("balance", _("balance")),
            )
        )
    return out


def _weak_check(res: dict[str, Any]) -> bool:
    trend = (res.get("diagnostics") or {}).get("pretrend") or {}
    if trend.get("error") or trend.get("passed") is not True:
        return False
    return (res.get("n_pilot_sites") or 0) < WEAK_CHECK_SITES or (trend.get("n_leads") or 0) < 3


def shared_cautions(comp: dict[str, Any]) -> list[Markup]:
    """Cautions that hold for every metric, said once: a single pilot site, few pilot sites,
    a pre-trend check too weak to trust."""
    out: list[Markup] = []
    n_pilot = comp.get("n_pilot_sites") or 0
    if n_pilot == 1:
        out.append(single_site_text())
    elif 1 < n_pilot < FEW_PILOT_SITES:
        out.append(
            html(
                _("The results rest on only %(n)s pilot sites: one unusual site can move them."),
                n=n_pilot,
            )
        )
    if any(_weak_check(r) for r in comp["metrics"].values()):
        out.append(
            html(
                _(
                    "With few sites or few weeks before the start, the check that pilot and "
                    "control sites moved alike (%(term)s) can miss a slow drift."
                ),
                term=link("parallel-trends", _("pre-trend check")),
            )
        )
    return out


# ---------------------------------------------------------------- one metric


def _worse_side(res: dict[str, Any]) -> int:
    """+1 when a rise is worse, −1 when a fall is worse."""
    return -1 if res.get("direction", "increase") == "increase" else 1


def decision_line(res: dict[str, Any], guardrail_state: str | None = None) -> str:
    """Better / worse / no clear difference / not yet enough data, in one line; for a
    guardrail whether it held inside its margin."""
    if res.get("error") or not finite(res.get("effect")):
        return _("Not enough data to compare.")
    verdict = res.get("verdict")
    if res.get("role") == "guardrail" and guardrail_state:
        harmful = res["effect"] * _worse_side(res) > 0
        if guardrail_state == "cleared":
            if harmful:
                return _("Worse, but within the guardrail's margin: the guardrail holds.")
            return _("The guardrail holds: no harm beyond its margin.")
        if guardrail_state == "breached":
            return _("Worse by more than the guardrail's margin: the guardrail is broken.")
        return _("Not yet clear whether the guardrail holds.")
    if verdict == "better":
        return _("Better.")
    if verdict == "worse":
        return _("Worse.")
    if verdict == "equivalent":
        return _("No difference large enough to matter.")
    min_effect = res.get("min_effect")
    lo, hi = res.get("ci_low"), res.get("ci_high")
    if (
        finite(min_effect)
        and finite(lo)
        and finite(hi)
        and (hi >= abs(min_effect) or lo <= -abs(min_effect))
    ):
        return _("No clear difference yet: not yet enough data.")
    return _("No clear difference.")


def _amount(x: float, meta: dict[str, Any] | None, digits: int) -> str:
    return say.amount(abs(x), meta, digits)


def difference_text(res: dict[str, Any], meta: dict[str, Any] | None, locale: str) -> str:
    """The difference in the metric's units, its likely range, the relative change second."""
    name = say.metric_name(meta, res.get("metric", ""), locale)
    digits = say.digits_for(res, meta)
    effect, lo, hi = res["effect"], res.get("ci_low"), res.get("ci_high")
    s = say.scale(meta)
    if round(effect * s, digits) == 0:
        text = _(
            "At the pilot sites, %(metric)s did not change compared with the control sites",
            metric=name,
        )
    elif effect > 0:
        text = _(
            "At the pilot sites, %(metric)s rose by %(amount)s compared with the control sites",
            metric=name,
            amount=_amount(effect, meta, digits),
        )
    else:
        text = _(
            "At the pilot sites, %(metric)s fell by %(amount)s compared with the control sites",
            metric=name,
            amount=_amount(effect, meta, digits),
        )
    if finite(lo) and finite(hi):
        if hi <= 0:
            rng = _(
                "likely between %(a)s and %(b)s lower",
                a=_amount(hi, meta, digits),
                b=_amount(lo, meta, digits),
            )
        elif lo >= 0:
            rng = _(
                "likely between %(a)s and %(b)s higher",
                a=_amount(lo, meta, digits),
                b=_amount(hi, meta, digits),
            )
        else:
            rng = _(
                "it could plausibly be anywhere from %(a)s lower to %(b)s higher",
                a=_amount(lo, meta, digits),
                b=_amount(hi, meta, digits),
            )
    else:
        rng = _("its likely range could not be computed")
    rel = res.get("relative_effect")
    if finite(rel) and round(abs(rel) * 100) >= 1:
        size = format_decimal(round(abs(rel) * 100), format="0")
        rel_text = _("about %(n)s %% more", n=size) if rel > 0 else _("about %(n)s %% less", n=size)
        return _("%(text)s (%(range)s; %(relative)s).", text=text, range=rng, relative=rel_text)
    return _("%(text)s (%(range)s).", text=text, range=rng)


def sure_text(res: dict[str, Any]) -> str:
    """How sure, in words, the p-value in brackets (the adjusted one when it differs)."""
    p, p_adj = res.get("p_value"), res.get("p_adjusted")
    if not finite(p):
        return _("How sure this is cannot be assessed.")
    shown = p_adj if finite(p_adj) else p
    bracket = p_expr(p)
    if finite(p_adj) and abs(p_adj - p) > 1e-12:
        bracket = _(
            "%(p)s; %(adjusted)s once the other metrics are allowed for",
            p=p_expr(p),
            adjusted=p_expr(p_adj),
        )
    alpha = res.get("alpha") or 0.05
    if shown < alpha:
        return _(
            "A difference this large would appear by chance alone %(words)s (%(p)s).",
            words=chance_words(shown),
            p=bracket,
        )
    return _(
        "A difference this large would appear by chance alone %(words)s (%(p)s), so chance "
        "explains it as well as the change does.",
        words=chance_words(shown),
        p=bracket,
    )


def guardrail_text(
    res: dict[str, Any], meta: dict[str, Any] | None, state: str | None
) -> Markup | None:
    """For a guardrail, the result against its margin, with both linked to the glossary."""
    margin = res.get("margin")
    if res.get("role") != "guardrail" or not finite(margin) or not state:
        return None
    digits = say.digits_for(res, meta)
    values = {
        "margin": say.amount(abs(margin), meta, digits),
        "term": link("margin", _("margin")),
        "guardrail": link("guardrail", _("guardrail")),
    }
    if state == "cleared":
        return html(
            _(
                "This stays inside the %(term)s of %(margin)s agreed before the start: the "
                "%(guardrail)s holds."
            ),
            **values,
        )
    if state == "breached":
        return html(
            _("The harm is larger than the %(term)s of %(margin)s agreed before the start."),
            **values,
        )
    return html(
        _(
            "Harm larger than the %(term)s of %(margin)s agreed before the start cannot yet "
            "be ruled out."
        ),
        **values,
    )


def single_site_text() -> Markup:
    """One pilot site: an observation, not evidence (said once, above the results)."""
    return html(
        _(
            "With %(term)s, a result cannot be told apart from that site's own ups and downs. "
            "Treat each result as an observation, not as evidence."
        ),
        term=link("single-pilot-site", _("a single pilot site")),
    )


def site_rank(res: dict[str, Any], site_rows: list[dict[str, Any]]) -> tuple[int, int] | None:
    """``(rank, n)`` of the single pilot site's change among every site's change, the best
    first (in the metric's better direction); None without one pilot site among others."""
    pilot = [r for r in site_rows if r.get("arm") == "pilot" and finite(r.get("change"))]
    ranked = [r for r in site_rows if finite(r.get("change"))]
    if len(pilot) != 1 or len(ranked) < 2:
        return None
    better_first = sorted(ranked, key=lambda r: r["change"] * _worse_side(res))
    return better_first.index(pilot[0]) + 1, len(ranked)


def site_rank_text(res: dict[str, Any], name: str, site_rows: list[dict[str, Any]]) -> Markup:
    """The single pilot site's rank on one metric, when the snapshot has every site's change."""
    rank = site_rank(res, site_rows)
    if rank is None:
        return html(
            _("How the pilot site ranks among all sites on %(metric)s is not known."),
            metric=name,
        )
    return html(
        _(
            "Compared with every other site in turn, the pilot site's change in %(metric)s "
            "ranks %(rank)s of %(n)s (1 = best)."
        ),
        metric=name,
        rank=rank[0],
        n=rank[1],
    )


def assumption_texts(
    res: dict[str, Any], meta: dict[str, Any] | None, results: dict[str, Any], locale: str
) -> list[Markup]:
    """What the comparison assumes and whether the data support it."""
    out: list[Markup] = []
    key = res.get("metric", "")
    n_pilot = res.get("n_pilot_sites") or 0
    diag = res.get("diagnostics") or {}
    trend = diag.get("pretrend")
    term = link("parallel-trends", _("pre-trend check"))
    name = say.metric_name(meta, key, locale)
    pre_days, _post = _days_between(results, key)
    if n_pilot == 1:
        out.append(site_rank_text(res, name, (results.get("site_effects") or {}).get(key) or []))
    if pre_days == 0:
        out.append(
            html(
                _(
                    "There are no data from before the start, so whether pilot and control "
                    "sites moved alike beforehand cannot be checked (%(term)s)."
                ),
                term=term,
            )
        )
    elif not trend or trend.get("error"):
        out.append(
            html(
                _(
                    "The weeks before the start are too few to check whether pilot and control "
                    "sites moved alike (%(term)s)."
                ),
                term=term,
            )
        )
    elif trend.get("passed") is False:
        leads = [
            pt["effect"]
            for pt in trend.get("points") or []
            if pt.get("week") is not None and pt["week"] < -1 and finite(pt.get("effect"))
        ]
        # leads are the pilot-minus-control gap relative to the last week before the start:
        # a positive gap earlier means the pilot sites were falling relative to the controls.
        drift = -sum(leads) / len(leads) if leads else 0.0
        if drift * _worse_side(res) < 0:
            moving = _("already improving faster than control sites")
        elif drift * _worse_side(res) > 0:
            moving = _("already getting worse faster than control sites")
        else:
            moving = _("already moving differently from control sites")
        out.append(
            html(
                _(
                    "Read with care: in the weeks before the start, pilot sites were %(moving)s, "
                    "so part of the difference may have happened anyway (%(term)s: %(p)s)."
                ),
                moving=moving,
                term=term,
                p=p_expr(trend.get("p_value")),
            )
        )
    else:
        weeks = sum(1 for pt in trend.get("points") or [] if (pt.get("week") or 0) < 0)
        out.append(
            html(
                _(
                    "In the %(weeks)s weeks before the start, %(metric)s moved alike at pilot "
                    "and control sites, which supports the comparison (%(term)s)."
                ),
                weeks=weeks,
                metric=name,
                term=term,
            )
        )
    own = next(
        (
            r
            for r in (diag.get("balance") or {}).get("rows") or []
            if r.get("variable") == f"pre:{key}" and r.get("flagged") and finite(r.get("smd"))
        ),
        None,
    )
    if own:
        side = _("above") if own["smd"] > 0 else _("below")
        text = html(
            _(
                "Before the start, the pilot sites were already %(side)s the control sites on "
                "this metric (%(term)s %(smd)s)."
            ),
            side=side,
            term=link("balance", _("standardized difference")),
            smd=num(own["smd"], 2, signed=True),
        )
        if abs(own["smd"]) > 0.5:
            text += Markup(" ") + html(
                _(
                    "Sites that stand out tend to drift back towards the average on their own "
                    "(%(term)s), so read the effect with caution."
                ),
                term=link("regression-to-the-mean", _("regression to the mean")),
            )
        out.append(text)
    return out


def weeks_needed(res: dict[str, Any], results: dict[str, Any]) -> dict[str, Any] | None:
    """More days or sites for 80 % power to detect the smallest effect worth acting on (a
    guardrail's margin): the snapshot's own calculation for the metric the recommendation
    extended, else the standard error scaled by ``analysis.power``."""
    key = res.get("metric")
    ext = (results.get("recommendation") or {}).get("extension") or {}
    target = res.get("min_effect") or res.get("margin")
    out: dict[str, Any] = {"effect": target, "weeks": None, "sites": None, "method": None}
    if ext.get("metric") == key and ext.get("method") in ("power", "se_scaling"):
        out.update(weeks=ext.get("weeks"), method=ext["method"])
    if not target:
        out["method"] = "no_min_effect"
        return out
    se, alpha = res.get("se"), res.get("alpha") or 0.05
    _pre, post = _days_between(results, key)
    if not finite(se) or se <= 0 or post < 1:
        out["method"] = out["method"] or "not_computable"
        return out
    if out["method"] is None:
        needed = days_for_power_by_se(se, post, target, alpha, TARGET_POWER)
        weeks = max(0, math.ceil((needed - post) / 7))
        out.update(weeks=weeks if weeks <= MAX_WEEKS else None, method="se_scaling")
    n_p, n_c = res.get("n_pilot_sites") or 0, res.get("n_control_sites") or 0
    if n_p >= 2 and n_c >= 1:
        out["sites"] = math.ceil(sites_for_power_by_se(se, n_p, n_c, target, alpha, TARGET_POWER))
    return out


def clearer_text(
    res: dict[str, Any], meta: dict[str, Any] | None, results: dict[str, Any]
) -> Markup | None:
    """What would make an unclear result clear: more days or more sites."""
    unclear = res.get("verdict") == "inconclusive" or (
        res.get("role") == "guardrail" and guardrail_state_of(res, results) == "unclear"
    )
    if not unclear or res.get("error"):
        return None
    need = weeks_needed(res, results)
    digits = say.digits_for(res, meta)
    power = link("power", _("8 times in 10"))
    if need["method"] == "no_min_effect":
        return html(
            _(
                "No %(term)s was agreed for this metric, so the extra days needed cannot be "
                "worked out."
            ),
            term=link("min-effect", _("smallest effect worth acting on")),
        )
    if need["method"] == "not_computable":
        return html(_("The extra days needed cannot be worked out from these data."))
    effect = say.amount(abs(need["effect"]), meta, digits)
    n_p = res.get("n_pilot_sites") or 0
    weeks, sites = need["weeks"], need["sites"]
    if weeks:
        text = html(
            _(
                "With these %(n)s pilot sites, about %(weeks)s more weeks would detect a change "
                "of %(effect)s %(power)s."
            ),
            n=n_p,
            weeks=weeks,
            effect=effect,
            power=power,
        )
    elif weeks == 0:
        text = html(
            _(
                "The planned length should already detect a change of %(effect)s %(power)s, so "
                "the effect is probably smaller than that."
            ),
            effect=effect,
            power=power,
        )
    else:
        text = html(
            _(
                "More days alone would not be enough to detect a change of %(effect)s "
                "%(power)s; more sites are needed."
            ),
            effect=effect,
            power=power,
        )
    if sites and sites > n_p and weeks is None:
        text += Markup(" ") + html(
            _(
                "About %(sites)s pilot sites instead of %(n)s (with control sites in the same "
                "proportion) would be needed."
            ),
            sites=sites,
            n=n_p,
        )
    elif sites and sites > n_p and weeks:
        text += Markup(" ") + html(
            _(
                "Alternatively, about %(sites)s pilot sites instead of %(n)s (with control sites "
                "in the same proportion) would do it in the same time."
            ),
            sites=sites,
            n=n_p,
        )
    return text


def guardrail_state_of(res: dict[str, Any], results: dict[str, Any]) -> str | None:
    """``cleared`` / ``breached`` / ``unclear`` for a guardrail with a margin, else None."""
    if res.get("role") != "guardrail" or not finite(res.get("margin")):
        return None
    rec = (results.get("recommendation") or {}).get("guardrails") or {}
    return rec.get(res.get("metric")) or guardrail_state(res)


def explain_metric(
    res: dict[str, Any],
    meta: dict[str, Any] | None,
    results: dict[str, Any],
    locale: str,
    shared_method: bool,
) -> dict[str, Any]:
    """``{"decision": str, "paragraphs": [Markup, ...]}`` for one metric, in EXPLAINING.md's
    order; the method is named only when the metrics do not share it (``shared_method``)."""
    state = guardrail_state_of(res, results)
    decision = decision_line(res, state)
    if res.get("error") or not finite(res.get("effect")):
        return {
            "decision": decision,
            "paragraphs": [
                html(
                    _("It could not be analysed: %(reason)s"),
                    reason=reason_text(res.get("error") or ""),
                )
            ],
        }
    paragraphs: list[Markup] = [html(difference_text(res, meta, locale))]
    guard = guardrail_text(res, meta, state)
    if guard:
        paragraphs[0] += Markup(" ") + guard
    paragraphs.append(html(sure_text(res)))
    if not shared_method:
        paragraphs.append(
            html(
                _("Method: %(gloss)s. %(why)s"),
                gloss=method_gloss(say.method_key(res)),
                why=method_why(res),
            )
        )
    paragraphs.extend(assumption_texts(res, meta, results, locale))
    clearer = clearer_text(res, meta, results)
    if clearer:
        paragraphs.append(clearer)
    return {"decision": decision, "paragraphs": paragraphs}


def explanations(
    results: dict[str, Any], assignment_methods: set[str], locale: str
) -> dict[str, Any]:
    """The shared overview and every metric's explanation."""
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    keys = {say.method_key(r) for r in comp["metrics"].values() if not r.get("error")}
    shared = len(keys) == 1
    return {
        "overview": overview(results, assignment_methods, locale),
        "metrics": {
            key: explain_metric(res, meta.get(key), results, locale, shared)
            for key, res in comp["metrics"].items()
        },
    }


# ---------------------------------------------------------------- diagnostics in words


def balance_variable_label(variable: str, metric_names: dict[str, str]) -> str:
    """A balance row's characteristic in words: ``pre:avg_wait`` → "Average wait before the
    start", ``region=North`` → "Region: North", ``senior_share`` → its label."""
    text = str(variable)
    if text.startswith("pre:"):
        key = text[4:]
        return _("%(metric)s before the start", metric=metric_names.get(key, key))
    attr, sep, level = text.partition("=")
    name = str(SITE_ATTRIBUTE_LABELS.get(attr, attr))
    if attr == "size_tier":
        level = str(by_value(SizeTier).get(level, level))
    return _("%(name)s: %(level)s", name=name, level=level) if sep else name


def sequential_text(seq: dict[str, Any], meta: dict[str, Any] | None, locale: str) -> Markup:
    """The sequential monitor's status, first crossing and repeated interval in words."""
    status = SEQUENTIAL_STATUS_LABELS.get(seq.get("status"), seq.get("status"))
    s = say.scale(meta)
    lo, hi = seq.get("repeated_ci_low"), seq.get("repeated_ci_high")
    lo = lo * s if finite(lo) else None
    hi = hi * s if finite(hi) else None
    unit = say.unit_of(meta)

    def amt(x: float) -> str:
        return f"{num(x, 2)} {unit}".strip()

    if lo is not None and hi is not None:
        rng = _(
            "the likely range, allowing for the daily looks, is %(low)s to %(high)s",
            low=amt(lo),
            high=amt(hi),
        )
    elif hi is not None:
        rng = _(
            "allowing for the daily looks, the difference is at most %(high)s (no lower limit yet)",
            high=amt(hi),
        )
    elif lo is not None:
        rng = _(
            "allowing for the daily looks, the difference is at least %(low)s (no upper limit yet)",
            low=amt(lo),
        )
    else:
        rng = _("the likely range, allowing for the daily looks, cannot be computed yet")
    if seq.get("first_crossing"):
        when = _(
            "the evidence first became strong enough on %(date)s", date=_date(seq["first_crossing"])
        )
    else:
        when = _("the evidence has not yet become strong enough")
    return html(
        _("%(status)s: checked %(term)s, %(when)s; %(range)s."),
        status=status,
        term=link("sequential-monitoring", _("in a way that allows for looking every day")),
        when=when,
        range=rng,
    )


# Each English warning of ``analysis.compare`` (and its diagnostics) as (code, pattern,
# translated template): the engine's warnings are a public English interface, so the report
# recognises them here rather than change them.
def _warning_patterns() -> list[tuple[str, str, str]]:
    return [
        (
            "dropped",
            r"(?P<n>\d+) site\(s\) lack pre- or post-period data for (?P<metric>\S+) and",
            _(
                "%(n)s site(s) lack data before or during the pilot for %(metric)s and are left "
                "out of the site-level comparisons."
            ),
        ),
        (
            "no_pre",
            r"No pre-period data for (?P<metric>\S+):",
            _(
                "There are no data from before the start for %(metric)s: the sites are compared "
                "during the pilot only, without allowing for where they stood before."
            ),
        ),
        (
            "single_pilot",
            r"A single pilot site: the smallest attainable permutation p-value is 1/(?P<n>\d+)",
            _(
                "A single pilot site: chance can never be ruled out more firmly than 1 in "
                "%(n)s, and the effect cannot be told apart from that site's own ups and downs."
            ),
        ),
        (
            "pretrend",
            r"Pre-trends differ for (?P<metric>\S+) \(joint test of (?P<n>\d+) lead weeks "
            r"p=(?P<p>[\d.]+)\)",
            _(
                "Already before the start, pilot and control sites moved differently on "
                "%(metric)s (p = %(p)s over %(n)s weeks), so part of the difference may have "
                "happened anyway."
            ),
        ),
        (
            "weak_pretrend",
            r"Passing a pre-trend test is weak evidence",
            _(
                "Pilot and control sites moved alike before the start, but with few sites or "
                "few weeks this check can miss a slow drift."
            ),
        ),
        (
            "rtm",
            r"Regression to the mean risk on (?P<metric>\S+): before the start",
            _(
                "Before the start, the pilot sites stood far from the control sites on "
                "%(metric)s; sites that stand out tend to drift back towards the average on "
                "their own, so read the effect with caution."
            ),
        ),
        (
            "imbalanced",
            r"Imbalanced before the start \(\|SMD\| > (?P<t>[\d.]+)\): (?P<what>.+?)\.?$",
            _("Pilot and control sites differed before the start in: %(what)s."),
        ),
        (
            "missing",
            r"(?P<share>\d+)% of (?P<arm>pilot|control) site-days are missing for "
            r"(?P<metric>\S+?)\.?$",
            _("%(share)s %% of the %(arm)s sites' days have no data for %(metric)s."),
        ),
        (
            "disagree",
            r"Estimators disagree on the sign of the effect on (?P<metric>\S+?)\.?$",
            _(
                "The methods disagree on whether %(metric)s rose or fell: the difference is "
                "too small to call."
            ),
        ),
        (
            "silent",
            r"(?P<n>\d+) listed site\(s\) have no observations",
            _("%(n)s site(s) of the pilot have no data at all."),
        ),
        (
            "forced",
            r"The (?P<method>\w+) estimator was requested, but",
            _(
                "The method the analyst asked for does not suit this design; the headline uses "
                "the method the design calls for."
            ),
        ),
    ]


def warning_text(text: str, metric_names: dict[str, str]) -> str:
    """An engine warning in the reader's language; an unknown one as a general caution."""
    for code, pattern, template in _warning_patterns():
        match = re.search(pattern, str(text))
        if not match:
            continue
        values = dict(match.groupdict())
        if "metric" in values:
            values["metric"] = metric_names.get(values["metric"], values["metric"])
        if code == "imbalanced":
            values["what"] = words_list(
                [balance_variable_label(v.strip(), metric_names) for v in values["what"].split(",")]
            )
        if code == "missing":
            values["arm"] = _("pilot") if values["arm"] == "pilot" else _("control")
        return template % values
    return _("A technical caution from the analysis engine (shown to analysts in English).")


def segment_name(value: Any) -> str:
    """A segment (an age band, a range of a site attribute) in words."""
    return segment_value_label(value)
