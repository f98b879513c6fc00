"""What a report page (and its PDF) shows, assembled from a snapshot in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup

from app.core import numbers as fmt
from app.core.cache import lru_cached
from app.core.labels import (
    ARM_BEFORE_AFTER_LABELS,
    ARM_LABELS,
    GUARDRAIL_STATE_LABELS,
    METHOD_LABELS,
    PERIOD_LABELS,
    SITE_ATTRIBUTE_LABELS,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    by_value,
)
from app.feedback.themes import theme_label
from app.models import Arm, Audience, MetricRole, Report
from app.reports import charts
from app.reports import explain as explain_text
from app.reports import sentences as say


def _segment_label(by: str) -> str:
    return str(SITE_ATTRIBUTE_LABELS.get(by, by))


def headline_rows(results: dict[str, Any], locale: str) -> list[dict[str, Any]]:
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    role_labels = by_value(MetricRole)
    rows = []
    for key, res in comp["metrics"].items():
        m = meta.get(key)
        digits = say.digits_for(res, m)
        s = say.scale(m)
        rows.append(
            {
                "key": key,
                "name": say.metric_name(m, key, locale),
                "role": role_labels.get(res["role"], res["role"]),
                "role_key": res["role"],
                "unit": say.unit_of(m),
                "effect": fmt.num(
                    None if res.get("effect") is None else res["effect"] * s, digits, signed=True
                ),
                "relative": fmt.pct(res.get("relative_effect")),
                "ci": "{} – {}".format(
                    fmt.num(None if res.get("ci_low") is None else res["ci_low"] * s, digits),
                    fmt.num(None if res.get("ci_high") is None else res["ci_high"] * s, digits),
                ),
                "p": fmt.p_text(res.get("p_value")),
                "p_adjusted": fmt.p_text(res.get("p_adjusted")),
                "method": METHOD_LABELS.get(say.method_key(res), say.method_key(res)),
                "method_reason": res.get("method_reason"),
                "verdict": res.get("verdict"),
                "verdict_label": VERDICT_LABELS.get(res.get("verdict"), res.get("verdict")),
                "colour": VERDICT_COLOURS.get(res.get("verdict"), "secondary"),
                "sentence": say.headline_sentence(res, m, locale),
                "n_pilot": res.get("n_pilot_sites"),
                "n_control": res.get("n_control_sites"),
                "raw": res,
                "digits": digits,
                "scale": s,
                "margin": res.get("margin"),
                "min_effect": res.get("min_effect"),
            }
        )
    return rows


def method_rows(res: dict[str, Any], digits: int, scale: float) -> list[dict[str, Any]]:
    rows = []
    for name, r in (res.get("methods") or {}).items():
        rows.append(
            {
                "name": METHOD_LABELS.get(name, name),
                "key": name,
                "effect": fmt.num(_mul(r.get("effect"), scale), digits, signed=True),
                "se": fmt.num(_mul(r.get("se"), scale), digits),
                "ci": f"{fmt.num(_mul(r.get('ci_low'), scale), digits)} – "
                f"{fmt.num(_mul(r.get('ci_high'), scale), digits)}",
                "p": fmt.p_text(r.get("p_two_sided", r.get("p_value"))),
                "error": r.get("error"),
                "headline": say.method_key(res) == name,
            }
        )
    return rows


def _mul(x: Any, s: float) -> float | None:
    return None if x is None else x * s


def chart_names(results: dict[str, Any]) -> list[str]:
    comp = results["comparison"]
    primary = comp["parameters"].get("primary")
    names = ["forest-metrics"]
    if primary:
        names += [
            f"daily-{primary}",
            f"event-{primary}",
            f"permutation-{primary}",
            f"sites-{primary}",
        ]
        names += [
            f"segments-{by}"
            for by, seg in results.get("segments", {}).items()
            if seg and not seg.get("error")
        ]
    names += [f"daily-{k}" for k in comp["metrics"] if k != primary and k in results["daily"]]
    return names


def chart_title(results: dict[str, Any], name: str, locale: str) -> str:
    """What chart ``name`` shows, in the reader's words (its title, and its image's alt
    text); "" for an unknown name."""
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    kind, _sep, key = name.partition("-")
    label = say.metric_name(meta.get(key), key, locale)
    if name == "forest-metrics":
        return _("All metrics: relative effect with interval")
    if kind == "daily":
        return _("%(metric)s: daily mean, pilot vs control", metric=label)
    if kind == "event":
        return _("%(metric)s: effect by week relative to the start", metric=label)
    if kind == "permutation":
        return _("%(metric)s: effects under random reassignments of the sites", metric=label)
    if kind == "sites":
        return _("%(metric)s: change at each site relative to the control average", metric=label)
    if kind == "segments":
        primary = comp["parameters"].get("primary")
        return _(
            "%(metric)s by %(segment)s",
            metric=say.metric_name(meta.get(primary), primary, locale),
            segment=_segment_label(key),
        )
    return ""


def render_chart(results: dict[str, Any], name: str, locale: str) -> str | None:
    """The SVG of chart ``name`` for a snapshot; None for an unknown name."""
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    kind, _sep, key = name.partition("-")
    res = comp["metrics"].get(key)
    m = meta.get(key)
    if kind == "daily" and key in results.get("daily", {}):
        start = date.fromisoformat(comp["parameters"]["start"])
        adjustments = [
            (date.fromisoformat(a["date"]), a["title"]) for a in results.get("adjustments", [])
        ]
        series = results["daily"][key]
        s = say.scale(m)
        if s != 1:
            series = {
                "dates": series["dates"],
                "pilot": [None if v is None else v * s for v in series["pilot"]],
                "control": [None if v is None else v * s for v in series["control"]],
            }
        return charts.daily_chart(
            series,
            start=start,
            adjustments=adjustments,
            title=chart_title(results, name, locale),
            unit=say.unit_of(m),
            end=date.fromisoformat(comp["parameters"]["end"])
            if comp["parameters"].get("end")
            else None,
        )
    if kind == "event" and res:
        pre = ((res.get("diagnostics") or {}).get("pretrend") or {}).get("points") or []
        if not pre:
            return None
        return charts.event_study_chart(
            pre,
            title=chart_title(results, name, locale),
            xlabel=_("Week relative to the start (−1 = reference)"),
        )
    if kind == "permutation" and res:
        perm = (res.get("methods") or {}).get("permutation") or {}
        if perm.get("error") or not perm.get("distribution"):
            return None
        return charts.permutation_chart(
            perm["distribution"],
            perm.get("effect") or 0.0,
            title=chart_title(results, name, locale),
            xlabel=say.unit_of(m),
            observed_label=_("Observed"),
        )
    if kind == "sites" and key in results.get("site_effects", {}):
        rows = [
            dict(r, effect=None if r["effect"] is None else r["effect"] * say.scale(m))
            for r in results["site_effects"][key]
        ]
        return charts.site_effects_chart(
            rows,
            title=chart_title(results, name, locale),
            xlabel=say.unit_of(m),
            labels=(_("Pilot sites"), _("Control sites")),
        )
    if name == "forest-metrics":
        rows = []
        for k, r in comp["metrics"].items():
            rows.append(
                (
                    say.metric_name(meta.get(k), k, locale),
                    r.get("relative_effect"),
                    r.get("relative_ci_low"),
                    r.get("relative_ci_high"),
                    _verdict_colour(r.get("verdict")),
                )
            )
        return charts.forest_chart(
            rows,
            title=chart_title(results, name, locale),
            xlabel=_("Relative effect, pilot vs control"),
            percent=True,
        )
    if kind == "segments":
        seg = results.get("segments", {}).get(key)
        if not seg or seg.get("error"):
            return None
        primary = comp["parameters"].get("primary")
        pm = meta.get(primary)
        s = say.scale(pm)
        rows = [
            (
                explain_text.segment_name(r["segment"]),
                _mul(r.get("effect"), s),
                _mul(r.get("ci_low"), s),
                _mul(r.get("ci_high"), s),
                charts.NEUTRAL,
            )
            for r in seg.get("segments", [])
            if not r.get("error")
        ]
        if not rows:
            return None
        return charts.forest_chart(
            rows,
            title=chart_title(results, name, locale),
            xlabel=say.unit_of(pm),
        )
    return None


def _verdict_colour(verdict: str | None) -> str:
    return {"better": charts.GOOD, "worse": charts.BAD, "equivalent": charts.NEUTRAL}.get(
        verdict or "", charts.INCONCLUSIVE
    )


def chart_svg(report: Report, name: str, locale: str) -> str | None:
    """The SVG of chart ``name`` for a snapshot; None for an unknown name."""
    return _chart(report, name, locale) or None


@lru_cached(256, key=lambda report, name, locale: (report.id, report.results_digest, name, locale))
def _chart(report: Report, name: str, locale: str) -> str:
    """Snapshots never change: each chart is rendered once per snapshot (id and results
    digest), chart and language ("" for an unknown name), up to 256 charts."""
    return render_chart(report.results, name, locale) or ""


def feedback_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows for the feedback table: audience, measure, comparison, numbers."""
    fb = results.get("feedback") or {}
    rows: list[dict[str, Any]] = []
    audience_labels = by_value(Audience)
    for audience, section in (fb.get("audiences") or {}).items():
        aud = audience_labels.get(audience, audience)
        sat = section.get("satisfaction")
        if sat:
            pvc = sat.get("pilot_vs_control") or {}
            rows.append(
                _rate_row(
                    aud,
                    _("Satisfied (rating 4–5)"),
                    _("Pilot vs control, during the pilot"),
                    pvc,
                    "pilot_rate",
                    "control_rate",
                    "difference",
                )
            )
            for arm, label in by_value(Arm, labels=ARM_BEFORE_AFTER_LABELS).items():
                ba = (sat.get("before_after") or {}).get(arm) or {}
                rows.append(
                    _rate_row(
                        aud,
                        _("Satisfied (rating 4–5)"),
                        label,
                        ba,
                        "post_rate",
                        "pre_rate",
                        "change",
                    )
                )
            seg = sat.get("by_segment") or {}
            for r in seg.get("segments") or []:
                rows.append(
                    _rate_row(
                        aud,
                        _("Satisfied (rating 4–5)"),
                        _(
                            "Segment %(segment)s: pilot vs control",
                            segment=explain_text.segment_name(r.get("segment")),
                        ),
                        r,
                        "pilot_rate",
                        "control_rate",
                        "difference",
                    )
                )
        nps = section.get("nps")
        if nps:
            cells = nps.get("cells") or {}
            diff = nps.get("difference")
            if diff:
                rows.append(
                    {
                        "audience": aud,
                        "measure": _("NPS"),
                        "comparison": _("Pilot vs control, during the pilot"),
                        "a": fmt.num((cells.get("pilot_post") or {}).get("nps"), 0),
                        "b": fmt.num((cells.get("control_post") or {}).get("nps"), 0),
                        "diff": fmt.num(diff["difference"], 1, signed=True),
                        "ci": f"{fmt.num(diff['ci_low'], 1)} – {fmt.num(diff['ci_high'], 1)}",
                        "p": fmt.p_text(diff.get("p_value")),
                        "error": None,
                    }
                )
            for arm, label in by_value(Arm, labels=ARM_BEFORE_AFTER_LABELS).items():
                post, pre = cells.get(f"{arm}_post") or {}, cells.get(f"{arm}_pre") or {}
                if post and pre and not post.get("error") and not pre.get("error"):
                    rows.append(
                        {
                            "audience": aud,
                            "measure": _("NPS"),
                            "comparison": label,
                            "a": _nps_cell(post),
                            "b": _nps_cell(pre),
                            "diff": fmt.num(post["nps"] - pre["nps"], 1, signed=True),
                            "ci": "",
                            "p": "",
                            "error": None,
                        }
                    )
    return rows


def _interval(low: float | None, high: float | None, digits: int) -> str:
    return f"{fmt.num(low, digits)} – {fmt.num(high, digits)}"


def _nps_cell(cell: dict[str, Any]) -> str:
    return f"{fmt.num(cell['nps'], 0)} ({_interval(cell['ci_low'], cell['ci_high'], 0)})"


def _rate_row(aud, measure, comparison, r, a, b, diff) -> dict[str, Any]:
    if not r or r.get("error"):
        return {
            "audience": aud,
            "measure": measure,
            "comparison": comparison,
            "a": "—",
            "b": "—",
            "diff": "—",
            "ci": "",
            "p": "",
            "error": explain_text.reason_text((r or {}).get("error")),
        }
    return {
        "audience": aud,
        "measure": measure,
        "comparison": comparison,
        "a": fmt.pct(r.get(a), signed=False),
        "b": fmt.pct(r.get(b), signed=False),
        "diff": fmt.num(_mul(r.get(diff), 100), 1, signed=True) + " " + _("pp"),
        "ci": _interval(_mul(r.get("ci_low"), 100), _mul(r.get("ci_high"), 100), 1),
        "p": fmt.p_text(r.get("p_value")),
        "error": None,
    }


def page_body(report: Report, locale: str, render: Callable[[], str]) -> Markup:
    """The report body (everything below the header) is a pure function of the immutable
    snapshot and the language, so it is rendered once and reused (LRU of 32 bodies)."""
    return Markup(_body_html(report, locale, render))  # noqa: S704 - our own rendered template


@lru_cached(32, key=lambda report, locale, render: (report.id, report.results_digest, locale))
def _body_html(report: Report, locale: str, render: Callable[[], str]) -> str:
    return render()


def report_context(report: Report, locale: str) -> dict[str, Any]:
    results = report.results or {}
    if not results:
        return {"results": None}
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    rows = headline_rows(results, locale)
    rec = results.get("recommendation") or {}
    return {
        "results": results,
        "comparison": comp,
        "rows": rows,
        "primary_row": next((r for r in rows if r["role_key"] == "primary"), None),
        "recommendation": say.recommendation_text(rec, comp, meta, locale) if rec else None,
        "guardrail_states": {
            k: GUARDRAIL_STATE_LABELS[v] for k, v in (rec.get("guardrails") or {}).items()
        },
        "methods": {r["key"]: method_rows(r["raw"], r["digits"], r["scale"]) for r in rows},
        "chart_names": chart_names(results),
        "chart_titles": {n: chart_title(results, n, locale) for n in chart_names(results)},
        "feedback_rows": feedback_rows(results),
        "themes": [
            dict(t, label=theme_label(t["tag"]))
            for t in (results.get("feedback") or {}).get("themes") or []
        ],
        "segment_label": _segment_label,
        "say": say,
        "fmt": fmt,
        **diagnostics_context(report, results, locale),
    }


def _assignment_methods(report: Report) -> set[str]:
    pilot = getattr(report, "pilot", None)
    return {a.method.value for a in getattr(pilot, "assignments", None) or [] if a.method}


def diagnostics_context(report: Report, results: dict[str, Any], locale: str) -> dict[str, Any]:
    """The plain explanations and the diagnostics in the reader's words (no engine codes)."""
    comp = results["comparison"]
    meta = results.get("metrics_meta", {})
    names = {key: say.metric_name(meta.get(key), key, locale) for key in comp["metrics"]}
    names.update({key: say.metric_name(m, key, locale) for key, m in meta.items()})
    arm_labels = by_value(Arm, labels=ARM_LABELS)
    warnings = [
        (names.get(key, key), explain_text.warning_text(w, names))
        for key, res in comp["metrics"].items()
        for w in (res.get("diagnostics") or {}).get("warnings") or []
    ] + [("", explain_text.warning_text(w, names)) for w in comp.get("warnings") or []]
    seen: set[tuple[str, str]] = set()
    warnings = [w for w in warnings if not (w in seen or seen.add(w))]
    primary = comp["parameters"].get("primary")
    seq = results.get("sequential")
    return {
        "explain": explain_text.explanations(results, _assignment_methods(report), locale),
        "warning_rows": warnings,
        "balance_rows": [
            dict(b, label=explain_text.balance_variable_label(b.get("variable", ""), names))
            for b in (comp.get("balance") or {}).get("rows") or []
        ],
        "completeness_rows": [
            dict(
                c,
                metric_name=names.get(c.get("metric"), c.get("metric")),
                arm_label=arm_labels.get(c.get("arm"), c.get("arm")),
                period_label=PERIOD_LABELS.get(c.get("period"), c.get("period")),
            )
            for c in (comp.get("completeness") or {}).get("rows") or []
        ],
        "sequential_text": explain_text.sequential_text(seq, meta.get(primary), locale)
        if seq and not seq.get("error")
        else None,
        "reason_text": explain_text.reason_text,
        "segment_name": explain_text.segment_name,
        "glossary_link": explain_text.link,
    }
