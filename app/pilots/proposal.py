"""Step 4 of the wizard: propose pilot and control sites, and judge the selection.

The statistics live in ``analysis/`` (``propose_pilot_sites``, ``select_controls``,
``balance_table``, ``power``, ``minimum_detectable_effect``, ``regression_to_mean``); this
module turns the database into their inputs (through ``app.core.frames``) and their
results into what the wizard shows and stores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from analysis.diagnostics import regression_to_mean
from analysis.power import PowerResult, minimum_detectable_effect
from analysis.power import power as power_for
from analysis.selection import (
    BalanceTable,
    ControlSelection,
    SiteProposal,
    balance_table,
    propose_pilot_sites,
    select_controls,
)
from app.core import clock
from app.core.frames import observations_frame, sites_frame
from app.extensions import db
from app.models import Arm, AssignmentMethod, Direction, Observation, Pilot, Site
from app.pilots.lifecycle import assign_site, clear_sites

#: History used for proposals and power when the pilot has no dates yet.
DEFAULT_HISTORY_DAYS = 56
TARGET_POWER = 0.8
BALANCE_COVARIATES = (
    "region",
    "size_tier",
    "staff_count",
    "management_score",
    "digital_readiness",
    "senior_share",
    "daily_orders",
)


@dataclass(frozen=True, slots=True)
class ProposalSettings:
    n_pilot: int = 10
    stratify_by: str | None = "region"
    problem_metric: str | None = None
    problem_direction: str = "high"
    max_volume_share: float = 0.15
    control_method: str = "matched"
    n_control: int | None = None
    match_on: tuple[str, ...] = ("region", "size_tier")
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_pilot": self.n_pilot,
            "stratify_by": self.stratify_by,
            "problem_metric": self.problem_metric,
            "problem_direction": self.problem_direction,
            "max_volume_share": self.max_volume_share,
            "control_method": self.control_method,
            "n_control": self.n_control,
            "match_on": list(self.match_on),
            "seed": self.seed,
        }


def history_window(pilot: Pilot, today: date | None = None) -> tuple[date, date]:
    """The days before the pilot: its pre-period, or the last 8 weeks without dates."""
    if pilot.start_date and pilot.pre_start:
        return pilot.pre_start, pilot.start_date - timedelta(days=1)
    end = (pilot.start_date or today or clock.today()) - timedelta(days=1)
    return end - timedelta(days=DEFAULT_HISTORY_DAYS - 1), end


def history(pilot: Pilot, metric_keys: list[str] | None) -> pd.DataFrame:
    """Observations of the pre-period; when it has none yet (a pre-period in the future),
    the last 8 weeks with data before the start."""
    start, end = history_window(pilot)
    frame = observations_frame(None, metric_keys, start, end)
    if frame.empty:
        query = select(func.max(Observation.date)).where(Observation.date <= end)
        last = db.session.scalar(query)
        if last is not None:
            first = last - timedelta(days=DEFAULT_HISTORY_DAYS - 1)
            frame = observations_frame(None, metric_keys, first, last)
    return frame


def long_history(pilot: Pilot, metric_key: str) -> pd.DataFrame:
    """All days before the start, for power: pseudo windows need pre + post days of data."""
    end = (pilot.start_date or clock.today()) - timedelta(days=1)
    return observations_frame(None, [metric_key], None, end)


def _sites(with_orders: bool = False) -> pd.DataFrame:
    frame = sites_frame()
    if with_orders and "daily_orders" in frame and frame["daily_orders"].notna().any():
        frame["orders"] = frame["daily_orders"]
    return frame


def propose(pilot: Pilot, settings: ProposalSettings) -> tuple[SiteProposal, ControlSelection]:
    """Proposed pilot sites and their controls (nothing stored)."""
    metric = settings.problem_metric
    keys = sorted({k for k in (metric, "orders") if k})
    combined = history(pilot, keys)
    hist_metrics = set(combined["metric"])
    sites = _sites(with_orders="orders" not in hist_metrics)
    volume = "orders" if ("orders" in hist_metrics or "orders" in sites.columns) else None
    hist = combined[combined["metric"] == metric] if metric else combined.iloc[0:0]
    if combined.empty:
        combined = None
    if metric and (combined is None or metric not in set(combined["metric"])):
        metric = None  # no data for the problem metric: fall back to a seeded random order
    proposal = propose_pilot_sites(
        sites,
        combined,
        n=min(settings.n_pilot, max(len(sites) - 2, 1)),
        stratify_by=settings.stratify_by,
        problem_metric=metric,
        problem_direction=settings.problem_direction,
        max_volume_share=settings.max_volume_share,
        volume_col=volume,
        seed=settings.seed,
    )
    if proposal.error or not proposal.site_ids:
        empty = balance_table(sites, [], [], [])
        return proposal, ControlSelection(
            (), (), settings.control_method, {}, empty, (), error=proposal.error
        )
    match_hist = hist if (metric and not hist.empty) else None
    candidates = len(sites) - len(proposal.site_ids)
    n_control = settings.n_control or min(2 * len(proposal.site_ids), candidates)
    controls = select_controls(
        sites,
        list(proposal.site_ids),
        match_hist[match_hist["metric"] == metric] if match_hist is not None else None,
        method=settings.control_method,
        n=min(n_control, candidates),
        match_on=[c for c in settings.match_on if c in sites.columns],
        seed=settings.seed,
        metric=metric,
    )
    return proposal, controls


def apply_proposal(
    pilot: Pilot, proposal: SiteProposal, controls: ControlSelection, settings: ProposalSettings
) -> None:
    """Replace the pilot's sites with a proposal, keeping each site's reasons."""
    codes = list(proposal.site_ids) + list(controls.control_ids)
    sites = {s.code: s for s in db.session.query(Site).filter(Site.code.in_(codes))}
    clear_sites(pilot)
    db.session.flush()
    strata = {}
    if settings.stratify_by:
        frame = _sites().set_index("site_id")
        if settings.stratify_by in frame.columns:
            strata = frame[settings.stratify_by].astype(str).to_dict()
    for code in proposal.site_ids:
        assign_site(
            pilot,
            sites[code],
            Arm.PILOT,
            method=AssignmentMethod.PROPOSED,
            reasons=[r.to_dict() for r in proposal.reason_details.get(code, ())],
            stratum=strata.get(code),
        )
    method = (
        AssignmentMethod.MATCHED
        if controls.method == "matched"
        else AssignmentMethod.RANDOM_STRATIFIED
    )
    for code in controls.control_ids:
        assign_site(
            pilot,
            sites[code],
            Arm.CONTROL,
            method=method,
            reasons=[r.to_dict() for r in controls.reason_details.get(code, ())],
            stratum=strata.get(code),
        )


# ---------------------------------------------------------------- judging a selection


@dataclass
class DesignCheck:
    balance: BalanceTable | None = None
    mde: PowerResult | None = None
    power: PowerResult | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_pilot: int = 0
    n_control: int = 0


def check_design(pilot: Pilot) -> DesignCheck:
    """Balance, power / MDE and warnings for the pilot's current selection.

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
    pilot_codes = sorted(a.site.code for a in pilot.assignments if a.arm is Arm.PILOT)
    control_codes = sorted(a.site.code for a in pilot.assignments if a.arm is Arm.CONTROL)
    check = DesignCheck(n_pilot=len(pilot_codes), n_control=len(control_codes))
    if not pilot_codes or not control_codes:
        check.notes.append(_("Choose pilot and control sites to see balance and power."))
        return check
    sites = sites_frame(a.site for a in pilot.assignments)
    metric = pilot.primary_metric
    covariates = [c for c in BALANCE_COVARIATES if c in sites.columns and sites[c].notna().any()]
    pre_means = None
    if metric is not None:
        hist = history(pilot, [metric.key])
        if not hist.empty:
            pre_means = hist.groupby("site_id")["value"].mean()
            column = _("pre-period %(metric)s", metric=metric.key)
            sites[column] = sites["site_id"].map(pre_means)
            if sites[column].notna().any():
                covariates.append(column)
    try:
        check.balance = balance_table(sites, pilot_codes, control_codes, covariates)
    except ValueError as exc:  # a covariate the engine cannot use
        check.notes.append(str(exc))
    if check.balance is not None and check.balance.flagged:
        check.warnings.append(
            _(
                "Pilot and control sites differ on %(vars)s (standardised difference above "
                "%(t)s). Consider matched controls or swapping sites.",
                vars=", ".join(check.balance.flagged),
                t=check.balance.threshold,
            )
        )
    if pre_means is not None and metric is not None:
        arms = pd.DataFrame(
            {
                "site_id": pilot_codes + control_codes,
                "arm": ["pilot"] * len(pilot_codes) + ["control"] * len(control_codes),
            }
        )
        means = pre_means.reindex(arms["site_id"]).dropna()
        if len(means) >= 2 and regression_to_mean(means, arms, metric.key):
            direction = (
                _("worse") if _worse(pilot_codes, control_codes, means, metric) else _("better")
            )
            check.warnings.append(
                _(
                    "Regression to the mean: before the start the pilot sites were clearly "
                    "%(dir)s than the control sites on %(metric)s. Sites chosen for extreme "
                    "values drift back by themselves; the report will prefer the pre-period "
                    "adjusted estimate, but a matched selection is safer.",
                    dir=direction,
                    metric=metric.display_name(),
                )
            )
    _power(pilot, check, len(pilot_codes), len(control_codes))
    return check


def _worse(pilot_codes, control_codes, means: pd.Series, metric) -> bool:
    p = means.reindex(pilot_codes).mean()
    c = means.reindex(control_codes).mean()
    higher = p > c
    return higher if metric.better_direction is Direction.DECREASE else not higher


def _power(pilot: Pilot, check: DesignCheck, n_pilot: int, n_control: int) -> None:
    metric = pilot.primary_metric
    if metric is None:
        check.notes.append(_("Choose a primary metric to see power."))
        return
    if not (pilot.pre_start and pilot.start_date and pilot.end_date):
        check.notes.append(_("Set the dates to see power."))
        return
    if n_pilot < 2 or n_control < 2:
        check.notes.append(_("Power needs at least 2 pilot and 2 control sites."))
        return
    hist = long_history(pilot, metric.key)
    if hist.empty:
        check.notes.append(
            _(
                "No history of %(metric)s before the start: power cannot be estimated. Import "
                "daily data first.",
                metric=metric.display_name(),
            )
        )
        return
    pre_days = (pilot.start_date - pilot.pre_start).days
    post_days = (pilot.end_date - pilot.start_date).days + 1
    try:
        check.mde = minimum_detectable_effect(
            hist,
            n_pilot,
            n_control,
            pre_days,
            post_days,
            alpha=pilot.alpha,
            power=TARGET_POWER,
            metric=metric.key,
        )
        if pilot.min_effect:
            check.power = power_for(
                hist,
                n_pilot,
                n_control,
                pre_days,
                post_days,
                effect=abs(pilot.min_effect),
                alpha=pilot.alpha,
                metric=metric.key,
            )
    except ValueError as exc:
        check.notes.append(str(exc))
        return
    if check.mde is not None and check.mde.error:
        check.notes.append(_("Power could not be estimated: %(reason)s", reason=check.mde.error))
        return
    mde = abs(check.mde.effect) if check.mde is not None else math.nan
    if pilot.min_effect and math.isfinite(mde) and mde > abs(pilot.min_effect):
        check.warnings.append(
            _(
                "Too few sites: with %(p)s pilot and %(c)s control sites the smallest effect "
                "this design detects with %(power)s power is %(mde)s %(unit)s, more than the "
                "%(min)s %(unit)s worth acting on. Add sites, lengthen the pilot or accept a "
                "larger minimum effect.",
                p=n_pilot,
                c=n_control,
                power=f"{TARGET_POWER:.0%}",
                mde=f"{mde:.3g}",
                min=f"{abs(pilot.min_effect):.3g}",
                unit=metric.unit,
            )
        )
