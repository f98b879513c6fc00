"""Process adjustments: which sites they apply to, their marks on charts, and a quick look
at their effect.

An adjustment's sites are fixed when it is decided (``Adjustment.sites``: all pilot sites,
the chosen ones, or the pilot sites matching its condition on that day). As a reusable
practice it can later be applied to other sites: :func:`matching_sites` answers which of a
list of sites it fits (the rollout plan calls it for new sites).

A condition is ``{"attribute": "senior_share", "op": ">=", "value": 0.3}`` on a site column
(:data:`CONDITION_ATTRIBUTES`) or a key of ``Site.attributes``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

import analysis
from app.core import audit
from app.core.frames import observations_frame, sites_frame
from app.core.labels import CONDITION_OPERATOR_LABELS, SITE_ATTRIBUTE_LABELS, by_value
from app.extensions import db
from app.models import (
    Adjustment,
    AdjustmentScope,
    Arm,
    Assignment,
    MetricRole,
    Observation,
    Pilot,
    PilotMetric,
    Retrospective,
    Site,
    SizeTier,
    User,
)
from app.retros.meetings import RetroError

#: Site columns a condition can test, and whether they are numbers.
CONDITION_ATTRIBUTES: dict[str, str] = {
    "senior_share": "share",
    "staff_count": "number",
    "management_score": "number",
    "digital_readiness": "number",
    "daily_orders": "number",
    "region": "text",
    "size_tier": "text",
    "city": "text",
}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
TEXT_OPERATORS = ("==", "!=")
#: Permutations of the exploratory comparison (enough for a p-value to two decimals).
EXPLORATORY_PERMUTATIONS = 2000


# ----------------------------------------------------------------- conditions


def normalise_condition(attribute: str, op: str, raw_value: Any) -> dict[str, Any]:
    """Validate a condition typed by a user; raise :class:`RetroError` naming the problem.

    Shares accept ``0.3``, ``30`` or ``30 %`` (all mean 30 %). Text attributes compare
    case-insensitively and accept only ``==`` / ``!=``.
    """
    attribute = (attribute or "").strip()
    if not attribute:
        raise RetroError(_l("Choose the site attribute of the condition."))
    if op not in OPERATORS:
        raise RetroError(_l("Choose a comparison."))
    kind = CONDITION_ATTRIBUTES.get(attribute, "free")
    text = str(raw_value if raw_value is not None else "").strip()
    if not text:
        raise RetroError(_l("Give the value to compare with."))
    if kind == "text":
        if op not in TEXT_OPERATORS:
            raise RetroError(_l("Text attributes can only be compared with = or ≠."))
        return {"attribute": attribute, "op": op, "value": text}
    number = _parse_number(text)
    if number is None:
        if kind == "free" and op in TEXT_OPERATORS:
            return {"attribute": attribute, "op": op, "value": text}
        raise RetroError(_l("The value must be a number."))
    if kind == "share":
        if text.endswith("%") or number > 1:
            number = number / 100
        if not 0 <= number <= 1:
            raise RetroError(_l("A share lies between 0 and 100 %."))
    return {"attribute": attribute, "op": op, "value": number}


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.replace("%", "").replace(",", ".").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def site_value(site: Site, attribute: str) -> Any:
    if attribute in CONDITION_ATTRIBUTES:
        value = getattr(site, attribute, None)
        return value.value if hasattr(value, "value") else value
    return (site.attributes or {}).get(attribute)


def condition_matches(condition: dict[str, Any] | None, site: Site) -> bool:
    """Whether ``site`` fits ``condition``; a site without the attribute never fits."""
    if not condition:
        return False
    compare = OPERATORS.get(condition.get("op", ""))
    attribute = condition.get("attribute")
    if compare is None or not attribute:
        return False
    value = site_value(site, attribute)
    wanted = condition.get("value")
    if value is None or wanted is None:
        return False
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        number = value if isinstance(value, int | float) else _parse_number(str(value))
        if number is None:
            return False
        return compare(float(number), float(wanted))
    return compare(str(value).strip().casefold(), str(wanted).strip().casefold())


def matching_sites(adjustment: Adjustment, sites: Iterable[Site]) -> list[Site]:
    """Which of ``sites`` the adjustment applies to, as a practice for further sites.

    * ``CONDITION``: the sites matching the condition (evaluated now, on their attributes);
    * ``SELECTED_SITES``: only the sites chosen when it was decided;
    * ``ALL_PILOT_SITES``: every site (it applied to every site that ran the change).
    """
    sites = list(sites)
    if adjustment.scope is AdjustmentScope.CONDITION:
        return [s for s in sites if condition_matches(adjustment.condition, s)]
    if adjustment.scope is AdjustmentScope.SELECTED_SITES:
        chosen = {s.id for s in adjustment.sites}
        return [s for s in sites if s.id in chosen]
    return sites


def describe_condition(condition: dict[str, Any] | None) -> str:
    """``Share of senior customers ≥ 30 %`` — the attribute's label, a symbol, the value
    (a share in percent, a size tier by its label)."""
    if not condition:
        return ""
    attribute = condition.get("attribute", "?")
    value = condition.get("value")
    op = condition.get("op", "?")
    symbol = CONDITION_OPERATOR_LABELS.get(op, op)
    if CONDITION_ATTRIBUTES.get(attribute) == "share" and isinstance(value, int | float):
        shown = f"{value * 100:g} %"
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        shown = str(by_value(SizeTier).get(shown, shown)) if attribute == "size_tier" else shown
    return f"{SITE_ATTRIBUTE_LABELS.get(attribute, attribute)} {symbol} {shown}"


# ----------------------------------------------------------------- workflow


def pilot_arm_sites(pilot: Pilot) -> list[Site]:
    return list(
        db.session.scalars(
            select(Site)
            .join(Assignment, Assignment.site_id == Site.id)
            .where(Assignment.pilot_id == pilot.id, Assignment.arm == Arm.PILOT)
            .order_by(Site.code)
        )
    )


def create_adjustment(
    retro: Retrospective,
    *,
    title: str,
    description: str | None,
    effective_date: date,
    scope: AdjustmentScope,
    site_ids: Sequence[int] = (),
    condition: dict[str, Any] | None = None,
    is_reusable_practice: bool = True,
    by: User | None,
) -> Adjustment:
    """Record a decision of ``retro`` that changes the process from ``effective_date``."""
    title = (title or "").strip()
    if not title:
        raise RetroError(_l("An adjustment needs a title."))
    if effective_date < retro.date:
        raise RetroError(_l("An adjustment cannot take effect before the retro that decides it."))
    candidates = pilot_arm_sites(retro.pilot)
    if scope is AdjustmentScope.ALL_PILOT_SITES:
        sites, condition = candidates, None
    elif scope is AdjustmentScope.SELECTED_SITES:
        wanted = {int(i) for i in site_ids}
        sites, condition = [s for s in candidates if s.id in wanted], None
        if not sites:
            raise RetroError(_l("Choose at least one pilot site."))
    else:
        if not condition:
            raise RetroError(_l("Give the condition the sites must match."))
        sites = [s for s in candidates if condition_matches(condition, s)]
    adjustment = Adjustment(
        pilot_id=retro.pilot_id,
        retro=retro,
        effective_date=effective_date,
        title=title,
        description=(description or "").strip() or None,
        scope=scope,
        condition=condition,
        is_reusable_practice=is_reusable_practice,
        created_by_id=getattr(by, "id", None),
    )
    adjustment.sites = sites
    audit.add_and_record(
        "adjustment.create",
        adjustment,
        by=by,
        pilot_id=retro.pilot_id,
        after={
            "title": title,
            "effective_date": effective_date.isoformat(),
            "scope": scope.value,
            "condition": condition,
            "sites": [s.code for s in sites],
        },
    )
    return adjustment


def adjustments_of(pilot: Pilot) -> list[Adjustment]:
    return list(
        db.session.scalars(
            select(Adjustment)
            .where(Adjustment.pilot_id == pilot.id)
            .order_by(Adjustment.effective_date, Adjustment.id)
        )
    )


def reusable_practices() -> list[Adjustment]:
    """Every adjustment kept as a practice, newest first (for the rollout plan)."""
    return list(
        db.session.scalars(
            select(Adjustment)
            .where(Adjustment.is_reusable_practice)
            .order_by(Adjustment.effective_date.desc(), Adjustment.id.desc())
        )
    )


# ----------------------------------------------------------------- before / after


@dataclass(frozen=True, slots=True)
class MetricBeforeAfter:
    key: str
    name: str
    unit: str
    role: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str | None
    n_pilot_sites: int
    n_control_sites: int
    error: str | None = None
    name_zh: str | None = None


@dataclass(frozen=True, slots=True)
class BeforeAfter:
    """An exploratory comparison: affected pilot sites vs control sites around the date.

    The "before" period runs from ``before_start`` to the day before the effective date,
    the "after" period from the effective date to ``after_end``. Exploratory: the sites were
    not chosen at random for the adjustment, and it was decided after looking at the data.
    """

    before_start: date | None
    after_end: date | None
    affected_sites: list[str]
    n_control_sites: int
    results: list[MetricBeforeAfter] = field(default_factory=list)
    error: str | None = None
    uses_pre_period: bool = False


def before_after(adjustment: Adjustment, *, seed: int = 0) -> BeforeAfter:
    """Run ``analysis.compare`` with the effective date as the "start", affected pilot sites
    as the pilot arm and the pilot's control sites as controls.

    The "before" period is the pilot's own run-up to the adjustment (from the pilot's start),
    so the comparison isolates the adjustment from the change under test; an adjustment
    effective on the pilot's first day has no such run-up and uses the pre-period.
    """
    pilot = adjustment.pilot
    affected = adjustment.sites
    control = pilot.sites_in(Arm.CONTROL)
    codes = [s.code for s in affected]
    base = BeforeAfter(None, None, codes, len(control))
    if not affected:
        return _failed(base, "no_affected_sites")
    if not control:
        return _failed(base, "no_control_sites")
    links = [
        link
        for link in pilot.metric_links
        if link.role in (MetricRole.PRIMARY, MetricRole.GUARDRAIL)
    ]
    if not links:
        return _failed(base, "no_metrics")
    keys = [link.metric.key for link in links]
    uses_pre = pilot.start_date is None or adjustment.effective_date <= pilot.start_date
    first = pilot.pre_start if uses_pre else pilot.start_date
    site_ids = [s.id for s in affected] + [s.id for s in control]
    last = db.session.scalar(
        select(func.max(Observation.date)).where(Observation.site_id.in_(site_ids))
    )
    if pilot.end_date and last and last > pilot.end_date:
        last = pilot.end_date
    result = BeforeAfter(first, last, codes, len(control), uses_pre_period=uses_pre)
    if last is None or last < adjustment.effective_date:
        return _failed(result, "no_data_after")
    observations = observations_frame(site_ids, keys, first, last)
    sites = sites_frame([*affected, *control])
    sites["arm"] = ["pilot"] * len(affected) + ["control"] * len(control)
    before_rows = observations["date"] < pd.Timestamp(adjustment.effective_date)
    if not before_rows.any():
        return _failed(result, "no_data_before")
    primary = next((lk.metric.key for lk in links if lk.role is MetricRole.PRIMARY), None)
    guardrails = [lk.metric.key for lk in links if lk.role is MetricRole.GUARDRAIL]
    if primary is None:  # compare() takes the first non-guardrail as primary
        primary, guardrails = guardrails[0], guardrails[1:]
    try:
        report = analysis.compare(
            observations,
            sites,
            start=adjustment.effective_date,
            end=last,
            metrics=keys,
            primary=primary,
            guardrails=guardrails,
            alpha=pilot.alpha,
            seed=seed,
            n_permutations=EXPLORATORY_PERMUTATIONS,
            directions={lk.metric.key: lk.metric.better_direction.value for lk in links},
        )
    except ValueError as exc:
        return _failed(result, str(exc))
    by_key = {m.metric: m for m in _metric_results(report)}
    out = [_metric_before_after(link, by_key.get(link.metric.key)) for link in links]
    return BeforeAfter(first, last, codes, len(control), out, None, uses_pre)


def _metric_before_after(link: PilotMetric, found: Any) -> MetricBeforeAfter:
    """One metric's line of the before/after table ("not analysed" when the engine left it
    out; its error when it could not be estimated)."""
    metric = link.metric
    error = "not analysed" if found is None else getattr(found, "error", None)
    estimated = None if error else found
    return MetricBeforeAfter(
        key=metric.key,
        name=metric.name,
        unit=metric.unit,
        role=link.role.value,
        name_zh=metric.name_zh,
        effect=_finite(estimated.effect) if estimated else None,
        ci_low=_finite(estimated.ci_low) if estimated else None,
        ci_high=_finite(estimated.ci_high) if estimated else None,
        p_value=_finite(estimated.p_value) if estimated else None,
        method=estimated.method if estimated else None,
        n_pilot_sites=int(getattr(found, "n_pilot_sites", 0) or 0),
        n_control_sites=int(getattr(found, "n_control_sites", 0) or 0),
        error=error,
    )


def _metric_results(report) -> list:
    metrics = getattr(report, "metrics", None)
    if isinstance(metrics, dict):
        return list(metrics.values())
    return list(metrics or [])


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _failed(result: BeforeAfter, error: str) -> BeforeAfter:
    return BeforeAfter(
        result.before_start,
        result.after_end,
        result.affected_sites,
        result.n_control_sites,
        [],
        error,
        result.uses_pre_period,
    )


def affected_series(adjustment: Adjustment) -> list[dict[str, Any]]:
    """Daily means of the pilot's primary metric at the affected pilot sites and at the
    control sites, from the pilot's start: ``[{"date", "pilot", "control"}]``."""
    pilot = adjustment.pilot
    primary = pilot.primary_metric
    affected = {s.id for s in adjustment.sites}
    if primary is None or not affected:
        return []
    control = {a.site_id for a in pilot.assignments if a.arm is Arm.CONTROL}
    group = case((Observation.site_id.in_(affected), "pilot"), else_="control")
    first = pilot.start_date or adjustment.effective_date - timedelta(days=14)
    query = (
        select(group, Observation.date, func.avg(Observation.value))
        .where(
            Observation.metric_id == primary.id,
            Observation.site_id.in_(affected | control),
            Observation.date >= first,
        )
        .group_by(group, Observation.date)
    )
    if pilot.end_date is not None:
        query = query.where(Observation.date <= pilot.end_date)
    by_day: dict[date, dict[str, Any]] = {}
    for arm, day, mean in db.session.execute(query):
        by_day.setdefault(day, {"date": day, "pilot": None, "control": None})[arm] = float(mean)
    return [by_day[d] for d in sorted(by_day)]


def default_effective_date(retro: Retrospective) -> date:
    """Decisions of a retro usually take effect the next day."""
    return retro.date + timedelta(days=1)
