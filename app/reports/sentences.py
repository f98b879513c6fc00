"""Plain-language sentences for a report, in the reader's language.

Snapshots store numbers and codes only; everything here is rendered at read time through
``gettext`` and Babel's number formatting, so one snapshot reads in Chinese and in English.
Rules (see docs/reports.md):

* the amount is the headline effect in the metric's units (percentage points for rates),
  with as many decimals as the interval's precision warrants (two significant digits of the
  half-width);
* the verb follows the sign of the effect ("rose" / "fell"), the colour follows the verdict;
* the evidence phrase follows the *adjusted* p-value against alpha, and the p-value clause
  names how the p-value was obtained (e.g. "from 10,000 random reassignments ...").
"""

from __future__ import annotations

from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _

from app.core.labels import by_value, colours_by_value, unit_label
from app.core.numbers import decimals_for, num, p_expr, pct
from app.core.numbers import finite as _finite
from app.models import Decision


def metric_name(meta: dict[str, Any] | None, key: str, locale: str = "en") -> str:
    if not meta:
        return key
    if locale.startswith("zh") and meta.get("name_zh"):
        return meta["name_zh"]
    return meta.get("name") or key


def is_rate(meta: dict[str, Any] | None) -> bool:
    return bool(meta) and meta.get("kind") == "proportion"


def scale(meta: dict[str, Any] | None) -> float:
    """Rates are shown in percentage points."""
    return 100.0 if is_rate(meta) else 1.0


def unit_of(meta: dict[str, Any] | None) -> str:
    if is_rate(meta):
        return _("percentage points")
    return unit_label((meta or {}).get("unit"))


def amount(x: float | None, meta: dict[str, Any] | None, digits: int, signed=False) -> str:
    value = None if not _finite(x) else x * scale(meta)
    text = num(value, digits, signed=signed)
    unit = unit_of(meta)
    return f"{text} {unit}".strip() if text != "—" else text


def digits_for(result: dict[str, Any], meta: dict[str, Any] | None) -> int:
    lo, hi = result.get("ci_low"), result.get("ci_high")
    half = (hi - lo) / 2 * scale(meta) if _finite(lo) and _finite(hi) else None
    return decimals_for(half)


def method_key(result: dict[str, Any]) -> str:
    return str(result.get("method") or "").split(":", 1)[0].strip()


def p_clause(result: dict[str, Any]) -> str:
    """How the headline p-value was obtained, in words."""
    key = method_key(result)
    p = p_expr(result.get("p_value"))
    n_p, n_c = result.get("n_pilot_sites") or 0, result.get("n_control_sites") or 0
    if key == "permutation":
        perm = (result.get("methods") or {}).get("permutation") or {}
        n = format_decimal(perm.get("n_assignments") or 0, format="#,##0")
        if perm.get("exact"):
            text = _(
                "%(p)s from all %(n)s possible assignments of the %(n_pilot)s pilot sites "
                "among the %(n_sites)s",
                p=p,
                n=n,
                n_pilot=n_p,
                n_sites=n_p + n_c,
            )
        else:
            text = _(
                "%(p)s from %(n)s random reassignments of the %(n_pilot)s pilot sites "
                "among the %(n_sites)s",
                p=p,
                n=n,
                n_pilot=n_p,
                n_sites=n_p + n_c,
            )
    elif key == "ancova":
        text = _("%(p)s from a comparison of site averages adjusted for the pre-period", p=p)
    elif key == "did":
        text = _("%(p)s from a difference-in-differences on daily site data", p=p)
    elif key == "welch":
        text = _("%(p)s from a Welch t-test on the sites' changes", p=p)
    else:
        text = p
    p_adj = result.get("p_adjusted")
    if _finite(p_adj) and _finite(result.get("p_value")) and abs(p_adj - result["p_value"]) > 1e-12:
        name = _("adjusted p")  # looked up on its own: gettext inside gettext is not extracted
        text += _("; %(p)s after adjusting for the other metrics", p=p_expr(p_adj, name))
    return text


def evidence(result: dict[str, Any]) -> str:
    p_adj, alpha = result.get("p_adjusted"), result.get("alpha") or 0.05
    verdict = result.get("verdict")
    if verdict == "equivalent" and result.get("role") != "guardrail":
        return _("the interval rules out an effect large enough to matter")
    if not _finite(p_adj):
        return _("the evidence cannot be assessed")
    if p_adj < 0.01:
        return _("this is very unlikely to be chance")
    if p_adj < alpha:
        return _("this is unlikely to be chance")
    if p_adj < 0.2:
        return _("this could still be chance")
    return _("this is consistent with chance")


def headline_sentence(result: dict[str, Any], meta: dict[str, Any] | None, locale: str) -> str:
    """E.g. "Average wait fell by 3.0 min (−24 %; 95 % interval −3.3 to −2.6) at the 10 pilot
    sites compared with the 30 control sites; this is very unlikely to be chance (p = ...)."."""
    name = metric_name(meta, result.get("metric", ""), locale)
    if result.get("error") or not _finite(result.get("effect")):
        return _(
            "%(metric)s could not be analysed: %(reason)s",
            metric=name,
            reason=result.get("error") or _("no estimate"),
        )
    digits = digits_for(result, meta)
    effect = result["effect"]
    level = format_decimal(round(100 * (1 - (result.get("alpha") or 0.05))), format="0")
    interval = _(
        "%(level)s %% interval %(low)s to %(high)s",
        level=level,
        low=num(result["ci_low"] * scale(meta), digits),
        high=num(result["ci_high"] * scale(meta), digits),
    )
    detail = (
        f"{pct(result.get('relative_effect'))}; {interval}"
        if _finite(result.get("relative_effect"))
        else interval
    )
    values = {
        "metric": name,
        "amount": amount(abs(effect), meta, digits),
        "detail": detail,
        "n_pilot": result.get("n_pilot_sites"),
        "n_control": result.get("n_control_sites"),
        "evidence": evidence(result),
        "p_clause": p_clause(result),
    }
    if round(effect * scale(meta), digits) == 0:
        text = _(
            "%(metric)s did not change (%(detail)s) at the %(n_pilot)s pilot sites compared with "
            "the %(n_control)s control sites; %(evidence)s (%(p_clause)s).",
            **values,
        )
    elif effect > 0:
        text = _(
            "%(metric)s rose by %(amount)s (%(detail)s) at the %(n_pilot)s pilot sites compared "
            "with the %(n_control)s control sites; %(evidence)s (%(p_clause)s).",
            **values,
        )
    else:
        text = _(
            "%(metric)s fell by %(amount)s (%(detail)s) at the %(n_pilot)s pilot sites compared "
            "with the %(n_control)s control sites; %(evidence)s (%(p_clause)s).",
            **values,
        )
    extra = guardrail_note(result, meta, digits)
    return f"{text} {extra}".strip()


def guardrail_note(result: dict[str, Any], meta: dict[str, Any] | None, digits: int) -> str:
    margin = result.get("margin")
    if result.get("role") != "guardrail" or not _finite(margin):
        return ""
    from app.reports.snapshots import guardrail_state

    state = guardrail_state(result)
    values = {"margin": amount(margin, meta, digits)}
    if state == "cleared":
        return _("Harm larger than the pre-registered margin of %(margin)s is ruled out.", **values)
    if state == "breached":
        return _("The harm exceeds the pre-registered margin of %(margin)s.", **values)
    return _("Harm larger than the margin of %(margin)s cannot yet be ruled out.", **values)


def recommendation_text(
    rec: dict[str, Any], comparison: dict[str, Any], meta: dict[str, Any], locale: str
) -> dict[str, Any]:
    """``{"title", "colour", "why": [...], "change": [...]}`` for the recommendation box."""
    metrics = comparison.get("metrics", {})
    primary = rec.get("primary")
    p_name = metric_name(meta.get(primary), primary or "", locale) if primary else ""
    p_res = metrics.get(primary, {}) if primary else {}
    digits = digits_for(p_res, meta.get(primary)) if p_res else 2

    def names(keys: list[str]) -> str:
        return ", ".join(metric_name(meta.get(k), k, locale) for k in keys)

    why: list[str] = []
    change: list[str] = []
    reasons = rec.get("reasons", [])
    min_effect = p_res.get("min_effect")
    if "primary_missing" in reasons:
        why.append(_("The primary metric could not be analysed."))
        change.append(_("Fix the data of the primary metric and create the report again."))
    if "primary_worse" in reasons:
        why.append(_("%(metric)s got significantly worse.", metric=p_name))
        change.append(_("Only a changed process, tested in a new pilot, would change this."))
    if "guardrail_breached" in reasons:
        why.append(
            _(
                "%(metrics)s got worse by more than the pre-registered margin.",
                metrics=names(rec.get("breached", [])),
            )
        )
        change.append(_("This would change only if that harm were shown to be within its margin."))
    if "too_small" in reasons:
        why.append(
            _(
                "The interval of %(metric)s lies below the smallest effect worth acting on "
                "(%(min)s).",
                metric=p_name,
                min=amount(min_effect, meta.get(primary), digits),
            )
        )
        change.append(_("A larger effect is not plausible with these data."))
    if "primary_better" in reasons:
        why.append(
            _(
                "%(metric)s improved significantly and every guardrail stayed within its margin.",
                metric=p_name,
            )
        )
        low, high = p_res.get("ci_low"), p_res.get("ci_high")
        edge = low if abs(low or 0) < abs(high or 0) else high
        change.append(
            _(
                "This would change if more data moved the interval of %(metric)s to include no "
                "effect (its end closest to zero is now %(edge)s) or a guardrail crossed its "
                "margin.",
                metric=p_name,
                edge=amount(edge, meta.get(primary), digits, signed=True),
            )
        )
    if "below_min_effect_possible" in reasons:
        why.append(
            _(
                "The interval still includes effects smaller than the smallest effect worth "
                "acting on (%(min)s).",
                min=amount(min_effect, meta.get(primary), digits),
            )
        )
    if "primary_inconclusive" in reasons:
        why.append(_("The effect on %(metric)s is not yet clear.", metric=p_name))
    if "guardrail_unclear" in reasons:
        why.append(
            _(
                "%(metric)s improved, but harm beyond the margin cannot yet be ruled out for "
                "%(metrics)s.",
                metric=p_name,
                metrics=names(rec.get("unclear", [])),
            )
        )
    ext = rec.get("extension")
    if ext:
        change.append(extension_text(ext, meta, metrics, locale))
    decision = rec.get("decision", "extend")
    return {
        "decision": decision,
        "title": by_value(Decision).get(decision, decision),
        "colour": colours_by_value(Decision).get(decision, "secondary"),
        "why": why,
        "change": change,
    }


def extension_text(
    ext: dict[str, Any], meta: dict[str, Any], metrics: dict[str, Any], locale: str
) -> str:
    key = ext.get("metric")
    name = metric_name(meta.get(key), key or "", locale)
    digits = digits_for(metrics.get(key, {}), meta.get(key))
    effect = amount(ext.get("effect"), meta.get(key), digits)
    method, weeks = ext.get("method"), ext.get("weeks")
    if method == "no_min_effect":
        return _(
            "No smallest effect worth acting on was pre-registered for %(metric)s, so the "
            "extension needed cannot be computed.",
            metric=name,
        )
    if method == "not_computable":
        return _("The extension needed cannot be computed from these data.")
    if weeks is None:
        return _(
            "Even %(max)s more weeks would not give 80 %% power for %(effect)s on %(metric)s; "
            "more sites are needed.",
            max=12,
            effect=effect,
            metric=name,
        )
    if weeks == 0:
        return _(
            "The planned length already gives 80 %% power for %(effect)s on %(metric)s.",
            effect=effect,
            metric=name,
        )
    if method == "power":
        return _(
            "%(weeks)s more weeks give 80 %% power for %(effect)s on %(metric)s (power "
            "estimated from the pre-period history).",
            weeks=weeks,
            effect=effect,
            metric=name,
        )
    return _(
        "About %(weeks)s more weeks give 80 %% power for %(effect)s on %(metric)s "
        "(approximation: assumes the uncertainty shrinks with the square root of the pilot's "
        "length).",
        weeks=weeks,
        effect=effect,
        metric=name,
    )
