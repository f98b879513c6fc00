"""Staged rollout plans: generate from a pilot, edit with reasons, follow.

The planning itself is pure (``analysis.planning``); this module turns sites into planner
inputs, stores the proposal (``RolloutPlan`` / ``Wave`` / ``WaveSite`` / ``MentorPair``), and
keeps every edit audited. Functions add and flush; the caller commits once.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value

from analysis.planning import (
    MentorInput,
    PlanSettings,
    PredictionModel,
    SiteInput,
    extrapolation_reasons,
    plan_rollout,
)
from app.core import audit, clock, labels
from app.core.errors import ServiceError
from app.core.queries import load_sites, newest_first_of_pilot
from app.extensions import db
from app.models import (
    Arm,
    Audience,
    Decision,
    FeedbackAnswer,
    FeedbackResponse,
    MentorPair,
    Metric,
    MetricRole,
    Pilot,
    PilotStatus,
    PlanStatus,
    Role,
    RolloutPlan,
    Site,
    User,
    Wave,
    WaveSite,
    WaveStatus,
)

#: The staff-form question whose 1-5 rating is the staff's attitude to the change.
ATTITUDE_KEY = "attitude"
#: Standard checklist of every rollout site (key, English title: translated in templates).
STANDARD_CHECKLIST = (
    ("training", "Staff trained on the new process"),
    ("equipment", "Equipment and materials in place"),
    ("briefing", "Go-live briefing held with the site manager"),
    ("week1_review", "First-week review done"),
)
#: Attributes the predicted effect may depend on.
PREDICT_BY = ("digital_readiness", "management_score", "senior_share", "size_tier", "region")
#: Roles that may be named to sign a gate off.
SIGNOFF_ROLES = (Role.CHANGE_LEAD, Role.ANALYST, Role.ADMIN)


class RolloutError(ServiceError):
    """A request the plan cannot honour; ``field`` names the form field at fault."""

    code = "rollout"


# --------------------------------------------------------------------------------------------
# Inputs


def can_plan(pilot: Pilot) -> bool:
    """A plan can be generated once the pilot's decision is to roll out."""
    return pilot.decision is Decision.ROLL_OUT


def default_scope(pilot: Pilot) -> list[Site]:
    """Every active site that did not run the pilot (control sites included)."""
    pilot_ids = {a.site_id for a in pilot.assignments if a.arm is Arm.PILOT}
    sites = db.session.scalars(select(Site).where(Site.is_active).order_by(Site.code)).all()
    return [s for s in sites if s.id not in pilot_ids]


def staff_attitudes(site_ids: Iterable[int]) -> dict[int, tuple[float, int]]:
    """Mean staff attitude (1-5) and number of answers per site, from every staff form."""
    ids = list(site_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(FeedbackResponse.site_id, func.avg(FeedbackAnswer.value_num), func.count())
        .join(FeedbackAnswer, FeedbackAnswer.response_id == FeedbackResponse.id)
        .where(
            FeedbackResponse.audience == Audience.STAFF,
            FeedbackAnswer.question_key == ATTITUDE_KEY,
            FeedbackAnswer.value_num.is_not(None),
            FeedbackResponse.site_id.in_(ids),
        )
        .group_by(FeedbackResponse.site_id)
    ).all()
    return {site_id: (float(mean), int(n)) for site_id, mean, n in rows}


def staff_capability(sites: Sequence[Site]) -> dict[int, tuple[float | None, str]]:
    """Staff capability 0-100 per site and where it came from.

    A score on record (``attributes["staff_capability"]``) wins; otherwise staffing relative
    to the median of the site's size tier: the median scores 50, twice the median 100.
    """
    by_tier: dict[str, list[int]] = defaultdict(list)
    for s in sites:
        if s.staff_count is not None:
            by_tier[s.size_tier.value].append(s.staff_count)
    medians = {t: statistics.median(v) for t, v in by_tier.items() if v}
    out: dict[int, tuple[float | None, str]] = {}
    for s in sites:
        recorded = (s.attributes or {}).get("staff_capability")
        if isinstance(recorded, int | float) and math.isfinite(recorded):
            out[s.id] = (float(min(max(recorded, 0), 100)), "recorded")
        elif s.staff_count is not None and medians.get(s.size_tier.value):
            ratio = s.staff_count / medians[s.size_tier.value]
            out[s.id] = (round(min(50.0 * ratio, 100.0), 1), "staffing")
        else:
            out[s.id] = (None, "missing")
    return out


def site_input(site: Site, capability: float | None, attitude: float | None) -> SiteInput:
    return SiteInput(
        site_id=site.code,
        region=site.region,
        size_weight=site.size_tier.weight,
        management_score=site.management_score,
        digital_readiness=site.digital_readiness,
        staff_capability=capability,
        attitude=attitude,
        senior_share=site.senior_share,
        size_tier=site.size_tier.value,
    )


def pilot_arm_sites(pilot: Pilot) -> list[Site]:
    _sites = load_sites(a.site_id for a in pilot.assignments)  # one query, not one per row
    return sorted(pilot.sites_in(Arm.PILOT), key=lambda s: s.code)


def mentor_inputs(pilot: Pilot) -> list[MentorInput]:
    return [
        MentorInput(
            s.code,
            s.region,
            s.management_score,
            s.digital_readiness,
            s.senior_share,
            s.size_tier.weight,
        )
        for s in pilot_arm_sites(pilot)
    ]


# --------------------------------------------------------------------------------------------
# Predictions


@dataclass(frozen=True, slots=True)
class Predictions:
    model: PredictionModel | None
    by_site: dict[str, tuple[float, float, float, bool, str]]
    """code -> (effect, low, high, extrapolation, note)."""
    error: str | None
    metric: str | None


def predict_effects(pilot: Pilot, sites: Sequence[Site], by: str) -> Predictions:
    """Per-site predicted effect on the primary metric from the pilot's segment effects."""
    from analysis.segments import predict_effect, segment_effects
    from app.core.frames import pilot_inputs, sites_frame

    primary = pilot.primary_metric
    if primary is None:
        return Predictions(None, {}, _("The pilot has no primary metric."), None)
    if by not in PREDICT_BY:
        raise RolloutError(_("Unknown attribute for the prediction."), "predict_by")
    try:
        inputs = pilot_inputs(pilot)
        seg = segment_effects(
            inputs.observations,
            inputs.sites,
            pilot.start_date,
            primary.key,
            by,
            end=inputs.options["end"],
            alpha=pilot.alpha,
        )
        model = PredictionModel.from_segments(seg)
        if model is None:
            return Predictions(None, {}, seg.error or _("No interaction model."), primary.key)
        prediction = predict_effect(seg, sites_frame(sites))
    except (ValueError, KeyError) as exc:
        return Predictions(None, {}, str(exc), primary.key)
    by_site = {
        p.site_id: (p.effect, p.ci_low, p.ci_high, bool(p.extrapolation), _model_note(p, seg))
        for p in prediction.sites
    }
    return Predictions(model, by_site, prediction.error, primary.key)


def _model_note(prediction: Any, seg: Any) -> dict[str, Any] | None:
    """Why the prediction model flags a site, in parts (``app.rollout.reasons`` words them):
    its attribute outside the pilot sites' range, or a level no pilot site had."""
    if not prediction.extrapolation or not prediction.note:
        return None
    note: dict[str, Any] = {"note": prediction.note, "attribute": seg.by}
    if prediction.value is None:
        return note | {"kind": "missing"}
    if seg.kind == "numeric" and seg.pilot_range is not None:
        low, high = seg.pilot_range
        return note | {
            "kind": "range", "value": float(prediction.value), "low": low, "high": high
        }  # fmt: skip
    return note | {"kind": "level", "value": str(prediction.value)}


def _finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def prediction_value(site: Site, by: str) -> Any:
    value = getattr(site, by, None)
    return value.value if hasattr(value, "value") else value


def wave_prediction(plan: RolloutPlan, wave_sites: Sequence[WaveSite]) -> dict[str, Any] | None:
    """Predicted mean effect of a set of plan sites, with its interval (None if no model)."""
    stored = (plan.settings or {}).get("prediction", {}).get("model")
    if not stored or not wave_sites:
        return None
    model = PredictionModel.from_dict(stored)
    values = [prediction_value(ws.site, model.by) for ws in wave_sites]
    effect, se, low, high = model.predict_mean(values)
    if not math.isfinite(effect):
        return None
    return {
        "effect": effect,
        "se": se,
        "low": low,
        "high": high,
        "extrapolation": sum(1 for ws in wave_sites if ws.is_extrapolation),
        "n": len(wave_sites),
    }


# --------------------------------------------------------------------------------------------
# Generation


@dataclass(frozen=True, slots=True)
class GateSettings:
    min_days_live: int = 14
    margin: float | None = None
    checklist_min: float = 1.0
    signoff_role: str = Role.CHANGE_LEAD.value


def default_margin(pilot: Pilot) -> float:
    """The primary metric's margin, else half the minimum effect of interest, else 0."""
    for link in pilot.metric_links:
        if link.role is MetricRole.PRIMARY:
            if link.margin is not None:
                return float(link.margin)
            if link.min_effect is not None:
                return abs(float(link.min_effect)) / 2
    return abs(float(pilot.min_effect)) / 2 if pilot.min_effect else 0.0


def gate_criteria(pilot: Pilot, gate: GateSettings) -> dict[str, Any]:
    """The go/no-go criteria of every wave of a new plan."""
    primary = None
    guardrails = []
    for link in pilot.metric_links:
        entry = {
            "metric": link.metric.key,
            "name": link.metric.name,
            "unit": link.metric.unit,
            "direction": link.metric.better_direction.value,
        }
        if link.role is MetricRole.PRIMARY:
            margin = gate.margin if gate.margin is not None else default_margin(pilot)
            primary = {**entry, "margin": float(margin)}
        elif link.role is MetricRole.GUARDRAIL:
            guardrails.append({**entry, "margin": float(link.margin or 0.0)})
    return {
        "min_days_live": int(gate.min_days_live),
        "primary": primary,
        "guardrails": guardrails,
        "checklist_min": float(gate.checklist_min),
        "signoff_role": gate.signoff_role,
        "alpha": float(pilot.alpha),
    }


def _checklist(site: Site, adaptations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = [
        {"key": key, "title": title, "source": "standard", "done": False}
        for key, title in STANDARD_CHECKLIST
    ]
    for a in adaptations:
        items.append(
            {
                "key": f"adjustment-{a['id']}",
                "title": a["title"],
                "description": a.get("description"),
                "condition": a.get("condition"),
                "source": "adaptation",
                "adjustment_id": a["id"],
                "done": False,
            }
        )
    return items


def _adaptations(pilot: Pilot, sites: Sequence[Site]) -> dict[int, list[dict[str, Any]]]:
    """Adjustments of the pilot kept as practices, by the sites whose condition they match."""
    from app.models import Adjustment
    from app.retros.adjustments import describe_condition, matching_sites

    adjustments = db.session.scalars(
        select(Adjustment)
        .where(Adjustment.pilot_id == pilot.id, Adjustment.is_reusable_practice)
        .order_by(Adjustment.effective_date, Adjustment.id)
    ).all()
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for adjustment in adjustments:
        for site in matching_sites(adjustment, sites):
            out[site.id].append(
                {
                    "id": adjustment.id,
                    "title": adjustment.title,
                    "description": adjustment.description,
                    "condition": describe_condition(adjustment.condition)
                    if adjustment.condition
                    else None,
                }
            )
    return out


def _reason_dicts(reasons: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in reasons]


def generate_plan(
    pilot: Pilot,
    *,
    by: User | None,
    settings: PlanSettings,
    scope: Sequence[Site] | None = None,
    name: str | None = None,
    predict_by: str = "digital_readiness",
    gate: GateSettings | None = None,
) -> RolloutPlan:
    """Propose a plan for ``pilot`` and store it as a draft."""
    if not can_plan(pilot):
        raise RolloutError(_("A rollout plan needs the pilot's decision to be “roll out”."))
    sites = _plan_scope(pilot, scope)
    gate = gate or GateSettings(min_days_live=settings.min_days_live)
    attitudes = staff_attitudes(s.id for s in sites)
    capability = staff_capability(sites)
    inputs = [site_input(s, capability[s.id][0], attitudes.get(s.id, (None, 0))[0]) for s in sites]
    try:
        proposal = plan_rollout(inputs, settings, mentor_inputs(pilot))
    except ValueError as exc:
        raise RolloutError(str(exc), "sites_per_week") from exc
    predictions = predict_effects(pilot, sites, predict_by)
    plan = RolloutPlan(
        pilot=pilot,
        name=name or _("Rollout of %(pilot)s", pilot=pilot.name),
        status=PlanStatus.DRAFT,
        start_date=settings.start,
        sites_per_week=settings.sites_per_week,
        created_by=by,
        settings=_plan_settings(pilot, settings, predictions, predict_by, sites, proposal),
    )
    db.session.add(plan)
    criteria = gate_criteria(pilot, gate)
    waves: dict[int, Wave] = {}
    for w in proposal.waves:
        waves[w.number] = Wave(
            plan=plan, number=w.number, start_date=w.start, end_date=w.end, gate=dict(criteria)
        )
        db.session.add(waves[w.number])
    site_by_code = {s.code: s for s in sites}
    context = _ReasonContext(
        capability_source={s.id: capability[s.id][1] for s in sites},
        attitudes=attitudes,
        pilot_inputs=[site_input(s, None, None) for s in pilot_arm_sites(pilot)],
        adaptations=_adaptations(pilot, sites),
    )
    for planned in proposal.sites:
        site = site_by_code[planned.site_id]
        db.session.add(
            _wave_site(plan, waves, site, planned, predictions.by_site.get(site.code), context)
        )
    _add_mentors(plan, pilot, proposal, site_by_code)
    db.session.flush()
    for ws in plan.sites:
        _sync_mentor_item(plan, ws)
    audit.record(
        "rollout.plan_created",
        plan,
        by=by,
        pilot_id=pilot.id,
        after={
            "settings": plan.settings["planner"],
            "waves": len(proposal.waves),
            "sites": len(proposal.sites),
            "holdback": list(proposal.holdback),
        },
    )
    db.session.flush()
    return plan


def _plan_scope(pilot: Pilot, scope: Sequence[Site] | None) -> list[Site]:
    """The sites the plan rolls out to: the chosen scope (or the default) minus the pilot's
    own sites."""
    sites = list(scope) if scope is not None else default_scope(pilot)
    pilot_ids = {s.id for s in pilot_arm_sites(pilot)}
    sites = [s for s in sites if s.id not in pilot_ids]
    if not sites:
        raise RolloutError(_("Choose at least one site that did not run the pilot."), "scope")
    return sites


def _plan_settings(
    pilot: Pilot,
    settings: PlanSettings,
    predictions: Predictions,
    predict_by: str,
    sites: list[Site],
    proposal: Any,
) -> dict[str, Any]:
    return {
        "planner": _settings_dict(settings),
        "prediction": {
            "by": predict_by,
            "metric": predictions.metric,
            "metric_name": pilot.primary_metric.name if pilot.primary_metric else None,
            "error": predictions.error,
            "model": predictions.model.to_dict() if predictions.model else None,
        },
        "scope": [s.code for s in sites],
        "warnings": list(proposal.warnings),
        "mentor_limit": settings.mentor_limit,
    }


@dataclass(frozen=True, slots=True)
class _ReasonContext:
    """What the reasons of every planned site draw on, read once per plan."""

    capability_source: dict[int, str]
    attitudes: dict[int, tuple[float, int]]
    pilot_inputs: list[Any]
    adaptations: dict[int, list[dict[str, Any]]]


def _wave_site(
    plan: RolloutPlan,
    waves: dict[int, Wave],
    site: Site,
    planned: Any,
    prediction: tuple | None,
    context: _ReasonContext,
) -> WaveSite:
    """One planned site with its predicted effect and the reasons for its place."""
    nan = float("nan")
    effect, low, high, extrap, note = prediction or (nan, nan, nan, False, None)
    reasons = _reason_dicts(planned.reasons) + _source_reasons(site, context)
    extrapolations = _reason_dicts(
        extrapolation_reasons(site_input(site, None, None), context.pilot_inputs)
    )
    if extrap and note:
        extrapolations.append({"code": "extrapolation_model", "params": note, "text": note["note"]})
    reasons.extend(extrapolations)
    adaptations = context.adaptations.get(site.id, [])
    reasons.extend(_adaptation_reason(a) for a in adaptations)
    return WaveSite(
        plan=plan,
        wave=waves.get(planned.wave) if planned.wave else None,
        site=site,
        is_holdback=planned.holdback,
        go_live_date=planned.go_live,
        capacity_load=planned.load,
        readiness_score=_finite_or_none(planned.score),
        readiness_tier=planned.tier,
        predicted_effect=_finite_or_none(effect),
        predicted_low=_finite_or_none(low),
        predicted_high=_finite_or_none(high),
        is_extrapolation=bool(extrapolations),
        reasons=reasons,
        checklist=_checklist(site, adaptations),
    )


def _source_reasons(site: Site, context: _ReasonContext) -> list[dict[str, Any]]:
    """Where a site's capability and attitude figures came from."""
    reasons = []
    if context.capability_source[site.id] == "staffing":
        reasons.append(
            {
                "code": "capability_staffing",
                "params": {"staff": site.staff_count, "tier": site.size_tier.value},
                "text": f"staff capability from staffing: {site.staff_count} staff for a "
                f"{site.size_tier.value} site (no capability score on record)",
            }
        )
    if site.id in context.attitudes:
        mean, n = context.attitudes[site.id]
        reasons.append(
            {
                "code": "attitude_source",
                "params": {"attitude": round(mean, 2), "n": n},
                "text": f"staff attitude {mean:.1f} of 5 from {n} staff answers",
            }
        )
    return reasons


def _adaptation_reason(adaptation: dict[str, Any]) -> dict[str, Any]:
    condition = adaptation["condition"]
    return {
        "code": "adaptation",
        "params": {"title": adaptation["title"], "condition": condition or ""},
        "text": f"adaptation “{adaptation['title']}” applies"
        + (f" ({condition})" if condition else ""),
    }


def _add_mentors(
    plan: RolloutPlan, pilot: Pilot, proposal: Any, site_by_code: dict[str, Site]
) -> None:
    mentor_sites = {s.code: s for s in pilot_arm_sites(pilot)}
    for m in proposal.mentors:
        db.session.add(
            MentorPair(
                plan=plan,
                mentor_site=mentor_sites.get(m.mentor_id) if m.mentor_id else None,
                mentee_site=site_by_code[m.mentee_id],
                reason="; ".join(r.text for r in m.reasons),
            )
        )


def _settings_dict(settings: PlanSettings) -> dict[str, Any]:
    out = settings.to_dict()
    out["weights"] = settings.weights.as_dict()
    return out


# --------------------------------------------------------------------------------------------
# Reading a plan


def get_plan_site(plan: RolloutPlan, site_id: int) -> WaveSite | None:
    return db.session.scalar(
        select(WaveSite).where(WaveSite.plan_id == plan.id, WaveSite.site_id == site_id)
    )


def mentor_of(plan: RolloutPlan, site_id: int) -> MentorPair | None:
    return db.session.scalar(
        select(MentorPair).where(
            MentorPair.plan_id == plan.id, MentorPair.mentee_site_id == site_id
        )
    )


def plans_of(pilot: Pilot) -> list[RolloutPlan]:
    return newest_first_of_pilot(RolloutPlan, pilot.id)


def wave_of_number(plan: RolloutPlan, number: int) -> Wave | None:
    return next((w for w in plan.waves if w.number == number), None)


def week_start(day: date, plan: RolloutPlan) -> date:
    """The start of the plan week containing ``day`` (weeks start on the plan's weekday)."""
    offset = (day.weekday() - plan.start_date.weekday()) % 7
    return day - timedelta(days=offset)


def capacity_use(plan: RolloutPlan) -> list[dict[str, Any]]:
    """Load per go-live week against the weekly capacity."""
    weeks: dict[date, dict[str, Any]] = {}
    for ws in plan.sites:
        if ws.is_holdback or ws.go_live_date is None or ws.wave is None:
            continue
        key = week_start(ws.go_live_date, plan)
        row = weeks.setdefault(key, {"week": key, "load": 0.0, "sites": []})
        row["load"] += ws.capacity_load or ws.site.size_tier.weight
        row["sites"].append(ws.site.code)
    out = []
    for key in sorted(weeks):
        row = weeks[key]
        row["load"] = round(row["load"], 3)
        row["capacity"] = plan.sites_per_week
        row["share"] = row["load"] / plan.sites_per_week if plan.sites_per_week else None
        row["over"] = row["load"] > plan.sites_per_week + 1e-9
        out.append(row)
    return out


def wave_summary(plan: RolloutPlan, wave: Wave) -> dict[str, Any]:
    members = [ws for ws in plan.sites if ws.wave_id == wave.id]
    sites = load_sites(ws.site_id for ws in members)  # one query
    return _wave_summary(plan, wave, members, sites)


def load_plan_sites(plan: RolloutPlan, *, details: bool = True) -> list[WaveSite]:
    """``plan.sites`` in one query. Without ``details`` each row's reasons and checklist
    (JSON, most of a row's bytes and decoding) stay unread: a page that shows some rows
    reads theirs with :func:`load_site_details` (at 1,500 sites: 1,500 × 2 JSON values
    decoded for the 100 shown). Nothing happens when the plan's sites are already loaded."""
    if "sites" not in inspect(plan).unloaded:
        return list(plan.sites)
    query = select(WaveSite).where(WaveSite.plan_id == plan.id).order_by(WaveSite.id)
    if not details:
        query = query.options(defer(WaveSite.reasons), defer(WaveSite.checklist))
    rows = list(db.session.scalars(query))
    set_committed_value(plan, "sites", rows)
    return rows


def load_site_details(rows: Iterable[WaveSite]) -> None:
    """Read, in one query, the reasons and checklists that :func:`load_plan_sites` left
    unread for ``rows`` (rows that have them are left alone)."""
    missing = [ws.id for ws in rows if {"reasons", "checklist"} & inspect(ws).unloaded]
    if missing:
        db.session.scalars(select(WaveSite).where(WaveSite.id.in_(missing))).all()


def wave_summaries(plan: RolloutPlan) -> tuple[list[dict[str, Any]], list[Any]]:
    """:func:`wave_summary` of every wave in one pass, and the plan's sites, loaded in one
    query (keep the list while the summaries are used: the session holds sites weakly)."""
    sites = load_sites(ws.site_id for ws in plan.sites)
    by_wave: dict[int | None, list[WaveSite]] = {}
    for ws in plan.sites:
        by_wave.setdefault(ws.wave_id, []).append(ws)
    summaries = [_wave_summary(plan, w, by_wave.get(w.id, []), sites) for w in plan.waves]
    return summaries, sites


def _wave_summary(
    plan: RolloutPlan, wave: Wave, members: list[WaveSite], _sites: list[Any]
) -> dict[str, Any]:
    members = sorted(members, key=lambda ws: (ws.go_live_date or date.max, ws.site.code))
    load = round(sum(ws.capacity_load or 0.0 for ws in members), 3)
    go_lives = [ws.go_live_date for ws in members if ws.go_live_date]
    weeks = len({week_start(d, plan) for d in go_lives})
    return {
        "wave": wave,
        "sites": members,
        "load": load,
        "weeks": weeks,
        "capacity_share": load / (plan.sites_per_week * weeks) if weeks else None,
        "last_go_live": max(go_lives) if go_lives else None,
        "prediction": wave_prediction(plan, members),
    }


def plan_warnings(plan: RolloutPlan, capacity: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Problems a change lead should see at a glance (translated); ``capacity`` is
    :func:`capacity_use` of the plan when the caller has it already."""
    out: list[str] = []
    for row in capacity_use(plan) if capacity is None else capacity:
        if row["over"]:
            out.append(
                _(
                    "Week of %(week)s: load %(load)s is over the capacity of %(cap)s per week.",
                    week=row["week"].isoformat(),
                    load=f"{row['load']:g}",
                    cap=f"{plan.sites_per_week:g}",
                )
            )
    waves = list(plan.waves)
    for earlier, later in zip(waves, waves[1:], strict=False):
        if later.start_date <= earlier.end_date:
            out.append(
                _(
                    "Wave %(later)s starts before wave %(earlier)s's gate is due.",
                    later=later.number,
                    earlier=earlier.number,
                )
            )
    min_days = None
    for wave in waves:
        min_days = int((wave.gate or {}).get("min_days_live") or 1)
        for ws in plan.sites:
            if ws.wave_id == wave.id and ws.go_live_date:
                if ws.go_live_date < wave.start_date or ws.go_live_date > wave.end_date:
                    out.append(
                        _(
                            "%(site)s goes live outside its wave's dates.",
                            site=ws.site.code,
                        )
                    )
                elif (wave.end_date - ws.go_live_date).days + 1 < min_days:
                    out.append(
                        _(
                            "%(site)s will have been live fewer than %(days)s days when wave "
                            "%(wave)s's gate is due.",
                            site=ws.site.code,
                            days=min_days,
                            wave=wave.number,
                        )
                    )
    limit = int((plan.settings or {}).get("mentor_limit") or 0)
    counts: dict[tuple[str, int | None], int] = defaultdict(int)
    wave_by_site = {ws.site_id: ws.wave.number if ws.wave else None for ws in plan.sites}
    _mentors = load_sites(p.mentor_site_id for p in plan.mentor_pairs)  # one query
    for pair in plan.mentor_pairs:
        mentor = _mentor_label(pair)
        if mentor:
            counts[(mentor, wave_by_site.get(pair.mentee_site_id))] += 1
    for (mentor, wave_no), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if limit and n > limit:
            out.append(
                _(
                    "Mentor %(mentor)s has %(n)s mentees in wave %(wave)s (limit %(limit)s).",
                    mentor=mentor,
                    n=n,
                    wave=wave_no,
                    limit=limit,
                )
            )
    return out


def _mentor_label(pair: MentorPair | None) -> str | None:
    if pair is None:
        return None
    if pair.mentor_site is not None:
        return pair.mentor_site.code
    if pair.mentor_user is not None:
        return pair.mentor_user.name
    return None


def plan_prediction(plan: RolloutPlan) -> dict[str, Any] | None:
    return wave_prediction(plan, [ws for ws in plan.sites if not ws.is_holdback and ws.wave])


# --------------------------------------------------------------------------------------------
# Editing


def _require_editable(plan: RolloutPlan) -> None:
    if plan.status in (PlanStatus.DONE, PlanStatus.CANCELLED):
        raise RolloutError(_("This plan is closed and can no longer be changed."))


def _require_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RolloutError(_("Give a reason."), "reason")
    return reason


def _slot(plan: RolloutPlan, wave: Wave, load: float, exclude: WaveSite | None = None) -> date:
    """The first go-live week of ``wave`` with room for ``load`` (else its least loaded)."""
    used: dict[date, float] = defaultdict(float)
    for ws in plan.sites:
        if ws is exclude or ws.is_holdback or ws.go_live_date is None or ws.wave is None:
            continue
        used[week_start(ws.go_live_date, plan)] += ws.capacity_load or 0.0
    min_days = int((wave.gate or {}).get("min_days_live") or 1)
    latest = wave.end_date - timedelta(days=min_days - 1)
    candidates = []
    day = wave.start_date
    while day <= max(latest, wave.start_date):
        candidates.append(day)
        day += timedelta(days=7)
    for day in candidates:
        if used[week_start(day, plan)] + load <= plan.sites_per_week + 1e-9:
            return day
    return min(candidates, key=lambda d: (used[week_start(d, plan)], d))


def move_site(
    plan: RolloutPlan, ws: WaveSite, target: Wave | None, *, reason: str, by: User | None
) -> WaveSite:
    """Move a site to another wave (``None``: to the holdback), with a reason, audited."""
    _require_editable(plan)
    reason = _require_reason(reason)
    if target is not None and target.plan_id != plan.id:
        raise RolloutError(_("That wave belongs to another plan."), "target")
    if target is not None and target.status is not WaveStatus.PLANNED:
        raise RolloutError(_("Sites can only be moved into a wave that has not started."), "target")
    if ws.wave is not None and ws.wave.status is not WaveStatus.PLANNED:
        raise RolloutError(_("The site's wave has started: it can no longer be moved."), "target")
    if (target is None and ws.is_holdback) or (target is not None and ws.wave_id == target.id):
        raise RolloutError(_("The site is already there."), "target")
    before = {
        "wave": ws.wave.number if ws.wave else None,
        "holdback": ws.is_holdback,
        "go_live": ws.go_live_date.isoformat() if ws.go_live_date else None,
    }
    if target is None:
        ws.wave = None
        ws.is_holdback = True
        ws.go_live_date = None
    else:
        ws.go_live_date = _slot(plan, target, ws.capacity_load or 0.0, exclude=ws)
        ws.wave = target
        ws.is_holdback = False
    after = {
        "wave": target.number if target else None,
        "holdback": ws.is_holdback,
        "go_live": ws.go_live_date.isoformat() if ws.go_live_date else None,
    }
    ws.reasons = [
        *list(ws.reasons or []),
        {
            "code": "moved",
            "params": {"to": after["wave"], "reason": reason},
            "text": "moved by hand to "
            + ("the holdback" if target is None else f"wave {after['wave']}")
            + f": {reason}",
        },
    ]
    _record_by_hand("rollout.site_moved", ws, before, after, by=by, reason=reason)
    db.session.flush()
    return ws


def change_wave_dates(
    plan: RolloutPlan, wave: Wave, start: date, end: date, *, reason: str, by: User | None
) -> Wave:
    """New dates for a wave; its sites' go-live dates shift with its start."""
    _require_editable(plan)
    reason = _require_reason(reason)
    if start is None or end is None:
        raise RolloutError(_("Give both dates."), "start_date")
    if end < start:
        raise RolloutError(_("The gate date must not be before the start."), "end_date")
    if wave.status is not WaveStatus.PLANNED and start != wave.start_date:
        raise RolloutError(_("The wave has started: only its gate date can change."), "start_date")
    waves = list(plan.waves)
    index = waves.index(wave)
    if index > 0 and start <= waves[index - 1].end_date:
        raise RolloutError(
            _(
                "Wave %(n)s's gate is due on %(day)s: this wave must start after it.",
                n=waves[index - 1].number,
                day=waves[index - 1].end_date.isoformat(),
            ),
            "start_date",
        )
    if index + 1 < len(waves) and end >= waves[index + 1].start_date:
        raise RolloutError(
            _(
                "Wave %(n)s starts on %(day)s: move it first, or choose an earlier gate date.",
                n=waves[index + 1].number,
                day=waves[index + 1].start_date.isoformat(),
            ),
            "end_date",
        )
    shift = start - wave.start_date
    members = [ws for ws in plan.sites if ws.wave_id == wave.id]
    go_lives = [ws.go_live_date + shift for ws in members if ws.go_live_date]
    min_days = int((wave.gate or {}).get("min_days_live") or 1)
    if go_lives and (end - max(go_lives)).days + 1 < min_days:
        raise RolloutError(
            _(
                "The last site goes live on %(day)s; the gate needs %(days)s days live after it, "
                "so the gate date must be %(earliest)s or later.",
                day=max(go_lives).isoformat(),
                days=min_days,
                earliest=(max(go_lives) + timedelta(days=min_days - 1)).isoformat(),
            ),
            "end_date",
        )
    before = {"start": wave.start_date.isoformat(), "end": wave.end_date.isoformat()}
    wave.start_date, wave.end_date = start, end
    for ws in members:
        if ws.go_live_date:
            ws.go_live_date = ws.go_live_date + shift
    if wave.number == 1:
        plan.start_date = start
    after = {"start": start.isoformat(), "end": end.isoformat()}
    _record_by_hand("rollout.wave_dates_changed", wave, before, after, by=by, reason=reason)
    db.session.flush()
    return wave


def _record_by_hand(
    action: str,
    entity: Wave | WaveSite,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    by: User | None,
    reason: str,
) -> None:
    """Record a change made by hand to a wave or a site of a plan; the wave's number or the
    site's code opens both sides of the change."""
    head = {"wave": entity.number} if isinstance(entity, Wave) else {"site": entity.site.code}
    audit.record(
        action,
        entity,
        by=by,
        pilot_id=entity.plan.pilot_id,
        before={**head, **before},
        after={**head, **after},
        reason=reason,
    )


def mentor_choices(plan: RolloutPlan) -> list[tuple[str, str]]:
    """``("site:ID" | "user:ID", label)`` for every possible mentor of the plan."""
    out = [("", _("No mentor"))]
    pilot = plan.pilot
    sites = pilot_arm_sites(pilot)
    for s in sites:
        out.append((f"site:{s.id}", f"{s.code} · {s.name} ({s.region})"))
    users = db.session.scalars(
        select(User)
        .where(User.site_id.in_([s.id for s in sites]), User.is_active_account)
        .order_by(User.name)
    ).all()
    for u in users:
        out.append((f"user:{u.id}", _("%(name)s (staff, %(site)s)", name=u.name, site=u.site.code)))
    return out


def swap_mentor(
    plan: RolloutPlan, mentee: Site, choice: str, *, reason: str, by: User | None
) -> MentorPair | None:
    """Set, change or remove the mentor of ``mentee`` (``choice`` from :func:`mentor_choices`)."""
    _require_editable(plan)
    reason = _require_reason(reason)
    valid = {value for value, _label in mentor_choices(plan)}
    if choice not in valid:
        raise RolloutError(_("Choose a mentor from the list."), "mentor")
    ws = get_plan_site(plan, mentee.id)
    if ws is None:
        raise RolloutError(_("The site is not in this plan."))
    pair = mentor_of(plan, mentee.id)
    before = {"mentor": _mentor_label(pair)}
    if not choice:
        if pair is not None:
            db.session.delete(pair)
            pair = None
    else:
        kind, _sep, raw_id = choice.partition(":")
        if pair is None:
            pair = MentorPair(plan=plan, mentee_site=mentee)
            db.session.add(pair)
        if kind == "site":
            pair.mentor_site = db.session.get(Site, int(raw_id))
            pair.mentor_user = None
        else:
            pair.mentor_user = db.session.get(User, int(raw_id))
            pair.mentor_site = None
        pair.reason = reason
    db.session.flush()
    if pair is not None:
        db.session.refresh(pair)
    _sync_mentor_item(plan, ws, pair)
    after = {"mentor": _mentor_label(pair)}
    _record_by_hand("rollout.mentor_changed", ws, before, after, by=by, reason=reason)
    db.session.flush()
    return pair


def _sync_mentor_item(plan: RolloutPlan, ws: WaveSite, pair: MentorPair | None = None) -> None:
    """Keep the checklist's "mentor visit" item in step with the site's mentor."""
    if pair is None:
        pair = mentor_of(plan, ws.site_id)
    label = _mentor_label(pair)
    items = [i for i in (ws.checklist or []) if i.get("key") != "mentor"]
    if label:
        old = next((i for i in (ws.checklist or []) if i.get("key") == "mentor"), None)
        items.append(
            {
                "key": "mentor",
                "title": f"Mentor visit with {label}",
                "mentor": label,
                "source": "mentor",
                "done": bool(old and old.get("done") and old.get("mentor") == label),
            }
        )
    ws.checklist = items


def set_checklist_item(
    plan: RolloutPlan, ws: WaveSite, key: str, done: bool, *, by: User | None
) -> WaveSite:
    _require_editable(plan)
    items = [dict(i) for i in (ws.checklist or [])]
    item = next((i for i in items if i.get("key") == key), None)
    if item is None:
        raise RolloutError(_("There is no such checklist item."), "key")
    if bool(item.get("done")) == done:
        return ws
    item["done"] = done
    item["done_by"] = by.name if (done and by is not None) else None
    item["done_on"] = clock.today().isoformat() if done else None
    ws.checklist = items
    audit.record(
        "rollout.checklist",
        ws,
        by=by,
        pilot_id=plan.pilot_id,
        after={"site": ws.site.code, "item": key, "done": done},
    )
    db.session.flush()
    return ws


def checklist_progress(sites: Iterable[WaveSite]) -> tuple[int, int]:
    done = total = 0
    for ws in sites:
        for item in ws.checklist or []:
            total += 1
            done += bool(item.get("done"))
    return done, total


def cancel_plan(plan: RolloutPlan, *, reason: str, by: User | None) -> None:
    _require_editable(plan)
    reason = _require_reason(reason)
    audit.record_change(
        "rollout.plan_cancelled",
        plan,
        "status",
        PlanStatus.CANCELLED,
        by=by,
        pilot_id=plan.pilot_id,
        reason=reason,
    )
    db.session.flush()


def plan_history(plan: RolloutPlan, limit: int = 100) -> list[Any]:
    """The plan's audit trail, newest first: creation, moves, dates, mentors, gates."""
    from sqlalchemy import and_, or_

    from app.models import AuditEvent

    wave_ids = [w.id for w in plan.waves]
    site_ids = [ws.id for ws in plan.sites]
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action.like("rollout.%"),
                or_(
                    and_(
                        AuditEvent.entity_type == "rollout_plans", AuditEvent.entity_id == plan.id
                    ),
                    and_(AuditEvent.entity_type == "waves", AuditEvent.entity_id.in_(wave_ids)),
                    and_(
                        AuditEvent.entity_type == "wave_sites", AuditEvent.entity_id.in_(site_ids)
                    ),
                ),
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def staff_card_plan(site_id: int) -> tuple[RolloutPlan, WaveSite] | None:
    """The newest open plan that includes ``site_id`` (for a staff member's own card)."""
    row = db.session.execute(
        select(RolloutPlan, WaveSite)
        .join(WaveSite, WaveSite.plan_id == RolloutPlan.id)
        .where(WaveSite.site_id == site_id, RolloutPlan.status != PlanStatus.CANCELLED)
        .order_by(RolloutPlan.created_at.desc(), RolloutPlan.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def mark_pilot_rolling_out(pilot: Pilot, *, by: User | None) -> None:
    if pilot.status in (PilotStatus.DECIDED, PilotStatus.ANALYSING, PilotStatus.RUNNING):
        audit.record_change(
            "pilot.status",
            pilot,
            "status",
            PilotStatus.ROLLING_OUT,
            by=by,
            pilot_id=pilot.id,
            reason="first rollout wave started",
        )


# --------------------------------------------------------------------------------------------
# The plan's life: activate, (waves start and pass in app.rollout.gates), sign off

#: Wave statuses in which the wave has started (its sites collect feedback).
STARTED_WAVE_STATUSES = (WaveStatus.LIVE, WaveStatus.HELD, WaveStatus.PASSED)
#: Wave statuses that end a wave.
FINISHED_WAVE_STATUSES = (WaveStatus.PASSED, WaveStatus.FAILED)
#: A gate is "near" this many days before its date: the next step is to evaluate it.
GATE_NEAR_DAYS = 3


def activate_plan(plan: RolloutPlan, *, by: User | None) -> RolloutPlan:
    """Make a draft plan the plan being followed (its waves can then start), audited."""
    if plan.status is not PlanStatus.DRAFT:
        raise RolloutError(_("Only a draft plan can be activated."))
    if not any(ws.wave_id is not None and not ws.is_holdback for ws in plan.sites):
        raise RolloutError(_("The plan has no site in any wave: move sites into a wave first."))
    audit.record_change(
        "rollout.plan_activated",
        plan,
        "status",
        PlanStatus.ACTIVE,
        by=by,
        pilot_id=plan.pilot_id,
    )
    db.session.flush()
    return plan


def complete_plan(plan: RolloutPlan, *, by: User | None, note: str | None = None) -> RolloutPlan:
    """Sign the rollout off once every wave has passed or been stopped: the plan is done,
    and so is the pilot's rollout."""
    if plan.status is not PlanStatus.ACTIVE:
        raise RolloutError(_("Only an active plan can be signed off."))
    unfinished = [w.number for w in plan.waves if w.status not in FINISHED_WAVE_STATUSES]
    if unfinished:
        raise RolloutError(
            _(
                "Wave %(n)s has not finished: every wave must pass or be stopped first.",
                n=unfinished[0],
            )
        )
    if not any(w.status is WaveStatus.PASSED for w in plan.waves):
        raise RolloutError(_("No wave passed its gate: cancel the plan instead."))
    note = (note or "").strip() or None
    audit.record_change(
        "rollout.plan_completed",
        plan,
        "status",
        PlanStatus.DONE,
        by=by,
        pilot_id=plan.pilot_id,
        reason=note,
    )
    pilot = plan.pilot
    if pilot.status is PilotStatus.ROLLING_OUT:
        audit.record_change(
            "pilot.status",
            pilot,
            "status",
            PilotStatus.DONE,
            by=by,
            pilot_id=pilot.id,
            reason="rollout signed off",
        )
    db.session.flush()
    return plan


@dataclass(frozen=True, slots=True)
class NextStep:
    """What the plan's page tells people to do now.

    ``kind`` is one of ``activate``, ``start``, ``wait``, ``evaluate``, ``go``, ``held``,
    ``stopped``, ``complete``, ``done``, ``cancelled``; ``wave`` the wave it concerns (if any).
    """

    kind: str
    wave: Wave | None = None

    @property
    def has_button(self) -> bool:
        return self.kind in ("activate", "start", "evaluate", "go", "complete")


def next_step(plan: RolloutPlan, today: date | None = None) -> NextStep:
    """The one next step of the plan (see :class:`NextStep`)."""
    today = today or clock.today()
    if plan.status is PlanStatus.CANCELLED:
        return NextStep("cancelled")
    if plan.status is PlanStatus.DONE:
        return NextStep("done")
    if plan.status is PlanStatus.DRAFT:
        return NextStep("activate")
    waves = list(plan.waves)
    current = next((w for w in waves if w.status in (WaveStatus.LIVE, WaveStatus.HELD)), None)
    if current is not None:
        if current.status is WaveStatus.HELD:
            return NextStep("held", current)
        if (current.gate_result or {}).get("outcome") == "pass":
            return NextStep("go", current)
        if (current.end_date - today).days <= GATE_NEAR_DAYS:
            return NextStep("evaluate", current)
        return NextStep("wait", current)
    upcoming = next((w for w in waves if w.status is WaveStatus.PLANNED), None)
    if upcoming is None:
        if any(w.status is WaveStatus.PASSED for w in waves):
            return NextStep("complete")
        return NextStep("stopped", waves[-1] if waves else None)
    index = waves.index(upcoming)
    if index > 0 and waves[index - 1].status is WaveStatus.FAILED:
        return NextStep("stopped", waves[index - 1])
    return NextStep("start", upcoming)


def metric_name(spec: Any) -> str:
    """The name, in the reader's language, of the metric a plan's settings or a gate name
    (a dict with ``"metric"``, its key, and ``"name"``, its English name when stored)."""
    if not isinstance(spec, dict):
        return "" if spec is None else str(spec)
    key = spec.get("metric")
    metric = (
        db.session.scalar(select(Metric).where(Metric.key == key)) if isinstance(key, str) else None
    )
    return labels.metric_label(metric if metric is not None else spec)
