"""Judging a pilot's selection on the sites and review steps: balance, power, what to fix.

The balance table covers the characteristics the design matched on: the primary metric's
pre-period level and trend and the attributes the lead ticked (``analysis.design_balance``),
recomputed for the selection as it is now, so every add, remove or swap shows its effect on
the next page. The engine's imbalances and fixes from the last proposal are shown in plain
words, each fix a one-click button, while the selection is still the proposal's. Power is
simulated over the stored history for the chosen design (``analysis.design_power``): matched
pairs when the pilot has them, else independent pilot and control sites. The simulation runs
as a background job (``app.pilots.power_jobs``): :func:`check_design` says what it needs
(``power_inputs``), the page follows the job, and :func:`show_power_job` puts its result in
words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

import analysis
from analysis.design_power import DesignPower
from analysis.selection import balance_table
from app.core import numbers
from app.core.labels import (
    IMBALANCE_TEXTS,
    SITE_ATTRIBUTE_LABELS,
    by_value,
    metric_label,
    unit_label,
)
from app.models import Arm, Job, JobStatus, Metric, Pilot, SizeTier
from app.models.pilot import DesignMethod
from app.pilots import power_jobs
from app.pilots import proposal as design

TARGET_POWER = power_jobs.TARGET_POWER
planned_days = power_jobs.planned_days


@dataclass(frozen=True, slots=True)
class BalanceRow:
    label: str
    kind: str  # "level", "trend", "attribute" or "category"
    pilot: float
    control: float
    smd: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class FixOffer:
    code: str
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Issue:
    text: str
    fixes: tuple[FixOffer, ...]


@dataclass
class DesignCheck:
    balance: list[BalanceRow] = field(default_factory=list)
    threshold: float = 0.25
    issues: list[Issue] = field(default_factory=list)
    power: DesignPower | None = None
    power_lines: list[str] = field(default_factory=list)
    #: what power needs (None: it cannot be simulated, ``power_notes`` say why)
    power_inputs: power_jobs.PowerInputs | None = None
    #: the power job while it is queued, running or failed
    power_job: Job | None = None
    power_warnings: list[str] = field(default_factory=list)
    power_notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_pilot: int = 0
    n_control: int = 0
    n_pairs: int = 0


def check_design(pilot: Pilot) -> DesignCheck:
    """Balance, power and what to fix for the pilot's current selection.

    A failure inside the engine becomes a note on the page (and a logged traceback), never
    an error page: the change lead can still edit the selection.
    """
    try:
        return _check_design(pilot)
    except Exception:
        current_app.logger.exception("design check failed for pilot %s", pilot.id)
        check = DesignCheck()
        check.notes.append(_("Balance and power could not be computed for this selection."))
        return check


def _check_design(pilot: Pilot) -> DesignCheck:
    pilots = sorted(a.site.code for a in pilot.assignments if a.arm is Arm.PILOT)
    controls = sorted(a.site.code for a in pilot.assignments if a.arm is Arm.CONTROL)
    pairs = pilot.pairs if pilot.design_method is DesignMethod.PAIRED else []
    check = DesignCheck(n_pilot=len(pilots), n_control=len(controls), n_pairs=len(pairs))
    metric = pilot.primary_metric
    check.issues = [issue_text(i, metric) for i in design.stored_issues(pilot)]
    if not pilots or not controls:
        check.notes.append(_("Choose pilot and control sites to see balance and power."))
        return check
    settings = design.stored_settings(pilot) or design.ProposalSettings()
    _balance(pilot, check, pilots, controls, settings.match_on)
    flagged = [row.label for row in check.balance if row.flagged]
    if flagged and not check.issues:
        check.warnings.append(
            _(
                "Pilot and control sites differ in %(what)s (more than %(t)s standard "
                "deviations). Sites that differ before the start drift apart or together by "
                "themselves, and the comparison would take that for an effect. Swap or replace "
                "sites, or propose again.",
                what=", ".join(flagged),
                t=check.threshold,
            )
        )
    _power_plan(pilot, check)
    return check


# ---------------------------------------------------------------- balance


def characteristic_label(name: str, metric: Metric | None) -> str:
    """A balance entry's name (``avg_wait_min level``, ``staff_count``, ``region=East``) in
    the reader's words."""
    metric_name = metric_label(metric)
    if metric is not None and name == f"{metric.key} level":
        return _("%(metric)s before the start (average)", metric=metric_name)
    if metric is not None and name == f"{metric.key} trend":
        return _("%(metric)s before the start (trend per day)", metric=metric_name)
    attribute, _sep, level = name.partition("=")
    label = str(SITE_ATTRIBUTE_LABELS.get(attribute, attribute))
    if not level:
        return label
    if attribute == "size_tier":
        level = str(by_value(SizeTier).get(level, level))
    return _("%(attribute)s %(value)s (share of sites)", attribute=label, value=level)


def _balance(
    pilot: Pilot, check: DesignCheck, pilots: list[str], controls: list[str], match: tuple
) -> None:
    metric = pilot.primary_metric
    sites = design.registry()
    match = [a for a in match if a in sites.columns]
    hist = design.history(pilot, [metric.key]) if metric is not None else pd.DataFrame()
    if metric is not None and not hist.empty:
        entries = analysis.design_balance(
            sites, hist, pilots, controls, problem_metric=metric.key, match=match
        )
        check.balance = [
            BalanceRow(
                characteristic_label(e.name, metric), e.kind, e.pilot, e.control, e.smd, e.flagged
            )
            for e in entries
        ]
        return
    if metric is not None:
        check.notes.append(
            _(
                "No history of %(metric)s before the start: balance is shown on the site "
                "attributes only. Import daily data first.",
                metric=metric_label(metric),
            )
        )
    if not match:
        return
    table = balance_table(sites, pilots, controls, match)
    check.threshold = table.threshold
    check.balance = [
        BalanceRow(
            characteristic_label(row.variable, metric),
            "category" if "=" in row.variable else "attribute",
            row.mean_pilot,
            row.mean_control,
            row.smd,
            row.flagged,
        )
        for row in table.rows
    ]


def issue_text(issue: dict[str, Any], metric: Metric | None) -> Issue:
    """One of the engine's imbalances or its shortfall, in plain words, with its fixes."""
    params = issue.get("params") or {}
    if issue["kind"] == "shortfall":
        text = _(
            "The pool is too small for %(n)s pilot sites: they need %(needed)s sites in whole "
            "groups of %(size)s (inside one region when you match on region), and the "
            "%(pool)s sites where the problem is present make up only %(groups)s such groups.",
            n=params.get("n_pilots"),
            needed=params.get("needed"),
            size=params.get("size"),
            pool=params.get("pool"),
            groups=params.get("groups"),
        )
    else:
        template = IMBALANCE_TEXTS.get(issue["reason"], IMBALANCE_TEXTS["chance"])
        text = str(template) % {
            "what": characteristic_label(issue["name"], metric),
            "share": f"{params.get('share', 0):.0%}",
            "groups": params.get("groups"),
        }
    fixes = tuple(_fix_offer(f, metric) for f in issue.get("fixes") or ())
    return Issue(text, fixes)


def _fix_offer(fix: dict[str, Any], metric: Metric | None) -> FixOffer:
    params = fix["params"]
    if fix["code"] == "widen_pool" and "threshold" in params:
        label = _(
            "Widen the pool to the sites at or past %(t)s %(unit)s",
            t=numbers.sig(params["threshold"]),
            unit=unit_label(metric.unit) if metric is not None else "",
        )
        value = f"threshold:{params['threshold']}"
    elif fix["code"] == "widen_pool":
        label = _(
            "Widen the pool to the worst %(share)s of sites", share=f"{params['pool_share']:.0%}"
        )
        value = f"pool_share:{params['pool_share']}"
    elif fix["code"] == "fewer_pilots":
        label = _("Use %(n)s pilot sites", n=params["n_pilots"])
        value = str(params["n_pilots"])
    else:
        attribute = params["attribute"]
        label = _(
            "Stop matching on %(attribute)s",
            attribute=SITE_ATTRIBUTE_LABELS.get(attribute, attribute),
        )
        value = attribute
    if not fix.get("balances_all", True):
        label = _("%(fix)s (other characteristics may still differ)", fix=label)
    return FixOffer(fix["code"], value, label)


def fix_params(code: str, value: str) -> dict[str, Any]:
    """The engine's fix parameters back from a button's ``code`` and ``value``."""
    if code == "fewer_pilots":
        return {"n_pilots": int(value)}
    if code == "drop_match":
        return {"attribute": value}
    name, _sep, number = value.partition(":")
    if name not in ("pool_share", "threshold"):
        raise ValueError(f"unknown pool setting {value!r}")
    return {name: float(number)}


# ---------------------------------------------------------------- power


def _power_plan(pilot: Pilot, check: DesignCheck) -> None:
    """What power needs, or why it cannot be simulated; the simulation runs as a job
    (``power_jobs``) and :func:`show_power` adds its result."""
    inputs = power_jobs.power_inputs(pilot)
    if inputs == "no_metric":
        check.power_notes.append(_("Choose a primary metric to see power."))
    elif inputs == "too_few_sites":
        check.power_notes.append(_("Power needs at least 2 pilot and 2 control sites."))
    else:
        check.power_inputs = inputs


def show_power(check: DesignCheck, pilot: Pilot, result: DesignPower | None) -> None:
    """The simulated power (None: no history to simulate on) in words, with its warning."""
    metric = pilot.primary_metric
    if result is None:
        check.power_notes.append(
            _(
                "No history of %(metric)s before the start: power cannot be simulated. Import "
                "daily data first.",
                metric=metric_label(metric),
            )
        )
        return
    check.power = result
    check.power_lines = power_lines(result, metric, pilot)
    min_effect = result.min_effect
    if result.error is None and min_effect and math.isfinite(result.mde):
        if abs(result.mde) > min_effect:
            check.power_warnings.append(
                _(
                    "Too few sites: this design detects %(mde)s %(unit)s with %(power)s power, "
                    "more than the %(min)s %(unit)s worth acting on. Add sites, lengthen the "
                    "pilot or accept a larger minimum effect.",
                    mde=numbers.sig(abs(result.mde)),
                    unit=unit_label(metric.unit),
                    power=f"{TARGET_POWER:.0%}",
                    min=numbers.sig(min_effect),
                )
            )


def show_power_job(check: DesignCheck, pilot: Pilot, job: Job) -> None:
    """A power job on the page: its result when done, else its progress bar."""
    if job.status is JobStatus.DONE:
        stored = (job.result or {}).get("power")
        show_power(check, pilot, None if stored is None else power_jobs.power_from_dict(stored))
    else:
        check.power_job = job


def power_lines(result: DesignPower, metric: Metric, pilot: Pilot) -> list[str]:
    """The power result and its advice in plain words."""
    unit = unit_label(metric.unit)
    lines = []
    if result.error is None:
        lines.append(
            _(
                "Smallest effect detected with %(power)s power: %(mde)s %(unit)s (%(rel)s of "
                "the baseline).",
                power=f"{result.target_power:.0%}",
                mde=numbers.sig(abs(result.mde)),
                unit=unit,
                rel=f"{abs(result.relative_mde):.1%}",
            )
        )
        if result.power_at_min_effect is not None:
            lines.append(
                _(
                    "Chance to detect the minimum effect of %(e)s %(unit)s: %(p)s.",
                    e=numbers.sig(result.min_effect),
                    unit=unit,
                    p=f"{result.power_at_min_effect:.0%}",
                )
            )
    else:
        lines.append(_("The history is too short to simulate this design."))
    for advice in result.advice:
        lines.append(_advice_text(advice.code, dict(advice.params), result, unit))
    return lines


def _advice_text(code: str, params: dict[str, Any], result: DesignPower, unit: str) -> str:
    if code == "more_history":
        return _(
            "The stored history covers %(have)s days: %(days)s more days (%(needed)s in all) "
            "would simulate the planned %(pre)s + %(post)s days. This estimate used %(pre_used)s "
            "+ %(post_used)s days, so the real design is likely to do a little better.",
            have=result.history_days,
            days=params["days"],
            needed=params["needed_days"],
            pre=params["pre_days"],
            post=params["post_days"],
            pre_used=params["pre_used"],
            post_used=params["post_used"],
        )
    text = _(
        "%(n)s pilot sites (%(extra)s more sites in all) would detect the minimum effect of "
        "%(e)s %(unit)s with %(power)s power.",
        n=params["n_pilot"],
        extra=params["extra_sites"],
        e=numbers.sig(abs(params["min_effect"])),
        unit=unit,
        power=f"{params['power']:.0%}",
    )
    if not params.get("available", True):
        text += " " + _(
            "The pool does not have that many spare sites: widen the pool, lengthen the pilot "
            "or accept a larger minimum effect."
        )
    return text


def _locale() -> str:
    return str(get_locale() or "en")
