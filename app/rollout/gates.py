"""Go/no-go gates of rollout waves: evaluation with the staggered estimator, and decisions.

A wave's ``gate`` (set when the plan is made) holds the criteria::

    {"min_days_live": 14, "primary": {"metric", "direction", "margin", ...},
     "guardrails": [{"metric", "direction", "margin", ...}], "checklist_min": 1.0,
     "signoff_role": "change_lead", "alpha": 0.05, "signoff": {...} (once signed)}

:func:`evaluate_gate` measures the wave with ``analysis.staggered.staggered_att`` (the
imputation estimator): the wave's sites are treated from their go-live dates; every other
site of the plan serves as a control only while it has not started (its later days are left
out), and holdback sites throughout. Pilot sites are left out (treated long before).

Judging a metric, with the effect oriented so that positive is better and ``m`` the margin:

* primary (non-inferiority): **pass** when the lower end of the interval is above ``-m``;
  **fail** when the estimate is worse than ``-m`` and the interval excludes zero (clearly
  harmful), or the whole interval is below ``-m``; otherwise **hold** (not enough evidence);
* guardrail: **fail** (breached) when the estimate is worse than ``-m`` and the interval
  excludes zero; **hold** when the estimate is worse than ``-m`` without significance;
  otherwise **pass**;
* minimum days live, checklist completion and sign-off: **pass** when met, else **hold**.

The gate is **fail** if any criterion fails, else **hold** if any holds, else **pass**. People
decide: "go" needs a passing gate; "hold" and "stop" need a reason; all are audited.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.auth.permissions import can_sign_off_gate
from app.core import audit, clock
from app.extensions import db
from app.models import (
    Arm,
    Metric,
    Observation,
    PlanStatus,
    RolloutPlan,
    User,
    Wave,
    WaveSite,
    WaveStatus,
)
from app.rollout.plans import (
    RolloutError,
    activate_plan,
    checklist_progress,
    mark_pilot_rolling_out,
)
from app.rollout.wave_feedback import open_wave_feedback, wave_feedback

PASS, HOLD, FAIL = "pass", "hold", "fail"
#: Days of data before a wave's first go-live used to fit site and day effects.
PRE_DAYS = 56
N_BOOT = 199


# --------------------------------------------------------------------------------------------
# Pure judgement


@dataclass(frozen=True, slots=True)
class Oriented:
    """An effect turned so that positive is better."""

    effect: float
    low: float
    high: float


def orient(effect: float, ci_low: float, ci_high: float, direction: str) -> Oriented:
    if direction == "decrease":
        return Oriented(-effect, -ci_high, -ci_low)
    return Oriented(effect, ci_low, ci_high)


def _oriented(
    effect: float | None, ci_low: float | None, ci_high: float | None, direction: str
) -> Oriented | None:
    """The estimate oriented so that positive is better; None when any part is missing."""
    if not all(v is not None and math.isfinite(v) for v in (effect, ci_low, ci_high)):
        return None
    return orient(effect, ci_low, ci_high, direction)  # type: ignore[arg-type]


def judge_primary(
    effect: float | None, ci_low: float | None, ci_high: float | None, direction: str, margin: float
) -> str:
    """Non-inferiority of the primary metric (see the module docstring)."""
    o = _oriented(effect, ci_low, ci_high, direction)
    if o is None:
        return HOLD
    m = abs(margin)
    if o.low > -m:
        return PASS
    if o.high < -m or (o.effect < -m and o.high < 0):
        return FAIL
    return HOLD


def judge_guardrail(
    effect: float | None, ci_low: float | None, ci_high: float | None, direction: str, margin: float
) -> str:
    """A guardrail is breached when clearly worse than its margin: failed when that is
    significant, held when it is not."""
    o = _oriented(effect, ci_low, ci_high, direction)
    if o is None:
        return HOLD
    if o.effect >= -abs(margin):
        return PASS
    return FAIL if o.high < 0 else HOLD


def combine(statuses: list[str]) -> str:
    if FAIL in statuses:
        return FAIL
    if HOLD in statuses:
        return HOLD
    return PASS


# --------------------------------------------------------------------------------------------
# Data


def _plan_sites(plan: RolloutPlan):
    pilot_ids = {a.site_id for a in plan.pilot.assignments if a.arm is Arm.PILOT}
    return [ws for ws in plan.sites if ws.site_id not in pilot_ids]


def wave_panel(plan: RolloutPlan, wave: Wave, metric: str, as_of: date) -> pd.DataFrame:
    """``site_id, date, value, adoption_date`` for the wave's gate (see module docstring)."""
    from app.core.frames import observations_frame

    members = [ws for ws in _plan_sites(plan) if ws.wave_id == wave.id and ws.go_live_date]
    if not members:
        return pd.DataFrame(columns=["site_id", "date", "value", "adoption_date"])
    first = min(ws.go_live_date for ws in members)
    start = first - timedelta(days=PRE_DAYS)
    sites = _plan_sites(plan)
    obs = observations_frame([ws.site_id for ws in sites], [metric], start, as_of)
    adoption: dict[str, pd.Timestamp] = {}
    cutoff: dict[str, pd.Timestamp] = {}
    for ws in sites:
        code = ws.site.code
        if ws.wave_id == wave.id and ws.go_live_date:
            adoption[code] = pd.Timestamp(ws.go_live_date)
        elif ws.go_live_date is not None and not ws.is_holdback:
            cutoff[code] = pd.Timestamp(ws.go_live_date)
    frame = obs[["site_id", "date", "value"]].copy()
    limit = frame["site_id"].map(cutoff)
    frame = frame[limit.isna() | (frame["date"] < limit)]
    frame["adoption_date"] = frame["site_id"].map(adoption)
    return frame.reset_index(drop=True)


def latest_data_day(plan: RolloutPlan) -> date | None:
    ids = [ws.site_id for ws in plan.sites]
    if not ids:
        return None
    return db.session.scalar(select(func.max(Observation.date)).where(Observation.site_id.in_(ids)))


def _measure(plan: RolloutPlan, wave: Wave, spec: dict[str, Any], as_of: date) -> dict[str, Any]:
    from analysis.staggered import staggered_att

    alpha = float((wave.gate or {}).get("alpha") or 0.05)
    out: dict[str, Any] = {
        "metric": spec["metric"],
        "name": spec.get("name") or spec["metric"],
        "unit": spec.get("unit") or "",
        "direction": spec.get("direction", "increase"),
        "margin": float(spec.get("margin") or 0.0),
        "effect": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "twfe_effect": None,
        "n_sites": 0,
        "n_controls": 0,
        "n_cells": 0,
        "warnings": [],
        "error": None,
    }
    if db.session.scalar(select(Metric.id).where(Metric.key == spec["metric"])) is None:
        out["error"] = "The metric no longer exists."
        return out
    panel = wave_panel(plan, wave, spec["metric"], as_of)
    if panel.empty or panel["adoption_date"].isna().all():
        out["error"] = "No data from the wave's sites yet."
        return out
    try:
        result = staggered_att(panel, alpha=alpha, seed=wave.id or 0, n_boot=N_BOOT)
    except ValueError as exc:
        out["error"] = str(exc)
        return out

    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    out.update(
        effect=num(result.effect),
        ci_low=num(result.ci_low),
        ci_high=num(result.ci_high),
        p_value=num(result.p_value),
        twfe_effect=num(result.twfe_effect),
        n_sites=result.n_treated_sites,
        n_controls=result.n_never_treated,
        n_cells=result.n_treated_cells,
        warnings=list(result.warnings),
        error=result.error,
        method=result.method,
    )
    return out


# --------------------------------------------------------------------------------------------
# Evaluation


def evaluate_gate(
    plan: RolloutPlan, wave: Wave, *, by: User | None, as_of: date | None = None
) -> dict[str, Any]:
    """Measure the wave against its criteria; store and return ``wave.gate_result``."""
    if wave.status is WaveStatus.PLANNED:
        raise RolloutError(_("The wave has not started yet: there is nothing to measure."))
    gate = wave.gate or {}
    latest = latest_data_day(plan)
    if as_of is None:
        as_of = min(clock.today(), latest) if latest else clock.today()
    members = [ws for ws in plan.sites if ws.wave_id == wave.id]
    primary_spec = gate.get("primary")
    primary = _measure(plan, wave, primary_spec, as_of) if primary_spec else None
    guardrails = [_measure(plan, wave, spec, as_of) for spec in gate.get("guardrails") or []]
    criteria = [
        _days_live_criterion(members, gate, as_of),
        *([_metric_criterion("primary", primary, judge_primary)] if primary else []),
        *(_metric_criterion("guardrail", g, judge_guardrail) for g in guardrails),
        _checklist_criterion(members, gate),
        {
            "key": "signoff",
            "status": PASS if gate.get("signoff") else HOLD,
            "role": gate.get("signoff_role"),
            "signoff": gate.get("signoff"),
        },
    ]
    outcome = combine([c["status"] for c in criteria])
    result = {
        "outcome": outcome,
        "as_of": as_of.isoformat(),
        "evaluated_at": clock.utc_now().isoformat(timespec="seconds"),
        "evaluated_by": by.name
        if by is not None and getattr(by, "is_authenticated", True)
        else None,
        "criteria": criteria,
        "estimator": "imputation (Borusyak-Jaravel-Spiess); not-yet-treated and holdback sites "
        "as controls",
        "feedback": wave_feedback(plan, wave).to_dict(),
    }
    wave.gate_result = result
    audit.record(
        "rollout.gate_evaluated",
        wave,
        by=by,
        pilot_id=plan.pilot_id,
        after={
            "wave": wave.number,
            "outcome": outcome,
            "as_of": as_of.isoformat(),
            "primary": {k: primary.get(k) for k in ("effect", "ci_low", "ci_high")}
            if primary
            else None,
        },
    )
    db.session.flush()
    return result


def _days_live_criterion(members: list[WaveSite], gate: dict, as_of: date) -> dict[str, Any]:
    """Has the wave's last site been live long enough to judge?"""
    min_days = int(gate.get("min_days_live") or 1)
    go_lives = [ws.go_live_date for ws in members if ws.go_live_date]
    days_live = (as_of - max(go_lives)).days + 1 if go_lives else 0
    return {
        "key": "min_days_live",
        "status": PASS if days_live >= min_days else HOLD,
        "value": max(days_live, 0),
        "target": min_days,
    }


def _metric_criterion(key: str, measured: dict[str, Any], judge: Callable) -> dict[str, Any]:
    status = judge(
        measured["effect"],
        measured["ci_low"],
        measured["ci_high"],
        measured["direction"],
        measured["margin"],
    )
    return {"key": key, "status": status, "metric": measured}


def _checklist_criterion(members: list[WaveSite], gate: dict) -> dict[str, Any]:
    """Is the wave's go-live checklist done (the share the gate asks for)?"""
    done, total = checklist_progress(members)
    share = done / total if total else 1.0
    target_share = float(gate.get("checklist_min", 1.0))
    return {
        "key": "checklist",
        "status": PASS if share >= target_share - 1e-9 else HOLD,
        "value": share,
        "done": done,
        "total": total,
        "target": target_share,
    }


# --------------------------------------------------------------------------------------------
# Decisions

ACTIONS = ("start", "go", "hold", "resume", "stop")


def decide(
    plan: RolloutPlan, wave: Wave, action: str, *, reason: str | None, by: User | None
) -> Wave:
    """Start, pass ("go"), hold, resume or stop a wave; every step audited."""
    if plan.status in (PlanStatus.DONE, PlanStatus.CANCELLED):
        raise RolloutError(_("This plan is closed and can no longer be changed."))
    reason = (reason or "").strip()
    before = wave.status
    waves = list(plan.waves)
    index = waves.index(wave)
    deviation = False
    if action == "start":
        if wave.status is not WaveStatus.PLANNED:
            raise RolloutError(_("Only a planned wave can start."))
        if index > 0 and waves[index - 1].status is not WaveStatus.PASSED:
            raise RolloutError(
                _(
                    "Wave %(n)s must pass its gate before this wave starts.",
                    n=waves[index - 1].number,
                )
            )
        if plan.status is PlanStatus.DRAFT:
            activate_plan(plan, by=by)
        wave.status = WaveStatus.LIVE
        mark_pilot_rolling_out(plan.pilot, by=by)
        open_wave_feedback(plan, wave)
    elif action == "go":
        if wave.status is not WaveStatus.LIVE:
            raise RolloutError(_("Only a live wave can pass its gate."))
        if not wave.gate_result or wave.gate_result.get("outcome") != PASS:
            raise RolloutError(_("The gate has not passed: evaluate it, or hold the wave."))
        wave.status = WaveStatus.PASSED
    elif action in ("hold", "stop", "resume"):
        if not reason:
            raise RolloutError(_("Give a reason."), "reason")
        if action == "hold":
            if wave.status is not WaveStatus.LIVE:
                raise RolloutError(_("Only a live wave can be held."))
            wave.status = WaveStatus.HELD
        elif action == "resume":
            if wave.status is not WaveStatus.HELD:
                raise RolloutError(_("Only a held wave can resume."))
            wave.status = WaveStatus.LIVE
        else:
            if wave.status not in (WaveStatus.LIVE, WaveStatus.HELD):
                raise RolloutError(_("Only a live or held wave can be stopped."))
            wave.status = WaveStatus.FAILED
            deviation = True
    else:
        raise RolloutError(_("Unknown action."))
    wave.decided_by_id = by.id if by is not None and getattr(by, "id", None) else None
    wave.decided_at = clock.utc_now()
    wave.decision_reason = reason or None
    audit.record(
        f"rollout.wave_{action}",
        wave,
        by=by,
        pilot_id=plan.pilot_id,
        before={"wave": wave.number, "status": before.value},
        after={
            "wave": wave.number,
            "status": wave.status.value,
            "gate": (wave.gate_result or {}).get("outcome"),
        },
        reason=reason or None,
        is_deviation=deviation,
    )
    db.session.flush()
    return wave


def start_wave(plan: RolloutPlan, wave: Wave, *, by: User | None) -> Wave:
    """Start ``wave`` (the first one of a draft plan activates the plan): its sites go live and
    get their customer and staff feedback links (:func:`open_wave_feedback`)."""
    return decide(plan, wave, "start", reason=None, by=by)


def sign_off(plan: RolloutPlan, wave: Wave, *, by: User, note: str | None = None) -> Wave:
    """The named role signs the wave's gate off (the last criterion)."""
    if plan.status in (PlanStatus.DONE, PlanStatus.CANCELLED):
        raise RolloutError(_("This plan is closed and can no longer be changed."))
    if wave.status not in (WaveStatus.LIVE, WaveStatus.HELD):
        raise RolloutError(_("Only a live or held wave can be signed off."))
    if not can_sign_off_gate(by, wave):
        raise RolloutError(_("This gate must be signed off by the role named in the plan."))
    gate = dict(wave.gate or {})
    gate["signoff"] = {
        "user_id": by.id,
        "name": by.name,
        "role": by.role.value,
        "at": clock.utc_now().isoformat(timespec="seconds"),
        "note": (note or "").strip() or None,
    }
    wave.gate = gate
    audit.record(
        "rollout.gate_signed_off",
        wave,
        by=by,
        pilot_id=plan.pilot_id,
        after={"wave": wave.number, "role": by.role.value},
        reason=(note or "").strip() or None,
    )
    db.session.flush()
    return wave
