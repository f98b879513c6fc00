"""Step 4 of the wizard: propose pilot and control sites, and store the design.

The default route is the field-trial design of ``analysis.design`` (issue 19): the eligible
pool where the problem is present, pairs (or 1:2 triplets) matched inside it on the primary
metric's pre-period level and trend and the attributes the lead ticks ("region" exactly),
and a seeded random assignment inside each pair. Two older routes stay as options: the lead
picked the pilot sites by hand and wants matched controls, or there is no history and the
sites are drawn at random within strata. This module turns the database into the engine's
inputs (through ``app.core.frames``) and its results into assignments, pairs and the
settings stored with the pilot; ``design_check`` judges whatever selection results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select

import analysis
from analysis.pilot_design import DesignResult
from analysis.selection import propose_pilot_sites, select_controls
from app.core import clock, numbers
from app.core.frames import observations_frame, sites_frame
from app.extensions import db
from app.models import Arm, AssignmentMethod, Observation, Pilot, Site
from app.models.pilot import DesignMethod
from app.pilots.lifecycle import assign_site, clear_sites

#: History used for proposals when the pilot has no pre-period with data yet.
DEFAULT_HISTORY_DAYS = 56
#: The site column that measures volume at risk.
VOLUME_COLUMN = "daily_orders"
ROUTES = tuple(m.value for m in DesignMethod)


@dataclass(frozen=True, slots=True)
class ProposalSettings:
    """What the lead asked for on the sites step (stored with the pilot as JSON)."""

    route: str = DesignMethod.PAIRED.value
    n_pilot: int = 6
    ratio: int = 1
    problem_metric: str | None = None
    problem_direction: str = "high"
    pool_share: float | None = 0.5
    threshold: float | None = None
    exclude: tuple[str, ...] = ()
    max_volume_share: float | None = 0.15
    match_on: tuple[str, ...] = ("region",)
    stratify_by: str | None = "region"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exclude"], data["match_on"] = list(self.exclude), list(self.match_on)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ProposalSettings:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        for name in ("exclude", "match_on"):
            if name in known:
                known[name] = tuple(known[name] or ())
        return cls(**known)

    def with_fix(self, code: str, params: dict[str, Any]) -> ProposalSettings:
        """The settings with one of the engine's fixes applied (a one-click button)."""
        if code == "widen_pool" and "threshold" in params:
            return replace(self, threshold=float(params["threshold"]), pool_share=None)
        if code == "widen_pool":
            return replace(self, pool_share=float(params["pool_share"]), threshold=None)
        if code == "fewer_pilots":
            return replace(self, n_pilot=int(params["n_pilots"]))
        if code == "drop_match":
            return replace(
                self, match_on=tuple(a for a in self.match_on if a != params["attribute"])
            )
        raise ValueError(f"unknown fix {code!r}")


@dataclass
class Proposal:
    """Sites to assign, with their reasons; ``groups`` only for the paired route."""

    method: DesignMethod
    pilots: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    reasons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    strata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    pool: list[str] = field(default_factory=list)
    problem_metric: str | None = None
    error: str | None = None


# ---------------------------------------------------------------- inputs


def history(pilot: Pilot, metric_keys: list[str] | None) -> pd.DataFrame:
    """The days before the start that the design matches on: the pre-period, widened to the
    last 8 weeks with data when it is shorter or still in the future."""
    end = (pilot.start_date or clock.today()) - timedelta(days=1)
    last = db.session.scalar(select(func.max(Observation.date)).where(Observation.date <= end))
    if last is None:
        return observations_frame(None, metric_keys, end, end)
    first = last - timedelta(days=DEFAULT_HISTORY_DAYS - 1)
    if pilot.pre_start is not None and pilot.start_date is not None:
        first = min(first, pilot.pre_start)
    return observations_frame(None, metric_keys, first, last)


def long_history(pilot: Pilot, metric_key: str) -> pd.DataFrame:
    """All days before the start, for power: placebo pilots need pre + post days of data."""
    end = (pilot.start_date or clock.today()) - timedelta(days=1)
    return observations_frame(None, [metric_key], None, end)


def registry() -> pd.DataFrame:
    """Every active site with its attributes (the volume column as numbers)."""
    frame = sites_frame()
    frame[VOLUME_COLUMN] = pd.to_numeric(frame[VOLUME_COLUMN], errors="coerce")
    return frame


def problem_metric(pilot: Pilot, settings: ProposalSettings) -> str | None:
    if settings.problem_metric:
        return settings.problem_metric
    return pilot.primary_metric.key if pilot.primary_metric is not None else None


# ---------------------------------------------------------------- the three routes


def propose(pilot: Pilot, settings: ProposalSettings) -> Proposal:
    """The sites of a proposal (nothing stored). ``ValueError`` carries the engine's words
    for a setting that cannot work."""
    route = DesignMethod(settings.route)
    if route is DesignMethod.PAIRED:
        return _paired(pilot, settings)
    if route is DesignMethod.MATCHED:
        return _matched_controls(pilot, settings)
    return _stratified(settings)


def _paired(pilot: Pilot, settings: ProposalSettings) -> Proposal:
    metric = problem_metric(pilot, settings)
    hist = history(pilot, [metric]) if metric else pd.DataFrame()
    if not metric or hist.empty:
        return Proposal(DesignMethod.PAIRED, error="no_history")
    sites = registry()
    has_volume = settings.max_volume_share and sites[VOLUME_COLUMN].notna().any()
    result = analysis.design(
        sites,
        hist,
        n_pilots=settings.n_pilot,
        problem_metric=metric,
        problem=settings.problem_direction,
        match=[a for a in settings.match_on if a in sites.columns],
        pool_share=settings.pool_share if settings.threshold is None else None,
        threshold=settings.threshold,
        exclude=[c for c in settings.exclude if c in set(sites["site_id"])],
        ratio=settings.ratio,
        max_volume_share=settings.max_volume_share if has_volume else None,
        volume_column=VOLUME_COLUMN if has_volume else None,
        seed=settings.seed,
    )
    proposal = Proposal(
        DesignMethod.PAIRED,
        pilots=list(result.pilot_sites),
        controls=list(result.control_sites),
        groups=[list(g) for g in result.pairs],
        warnings=list(result.warnings),
        issues=design_issues(result),
        pool=list(result.pool),
        problem_metric=metric,
        error="pool_too_small" if result.error else None,
    )
    levels = hist.groupby("site_id")["value"].mean()
    for number, group in enumerate(result.pairs, start=1):
        for position, code in enumerate(group):
            partners = [c for c in group if c != code]
            proposal.reasons[code] = [
                _reason(
                    "pool_member",
                    "In the pool where the problem is present: {metric} {value} before the start.",
                    metric=metric,
                    value=numbers.sig(levels.get(code, float("nan"))),
                ),
                _reason(
                    "pair_member",
                    "Pair {pair} with {partners}; drawn at random as the {arm} site (seed {seed}).",
                    pair=number,
                    partners=", ".join(partners),
                    arm="pilot" if position == 0 else "control",
                    seed=settings.seed,
                ),
            ]
    return proposal


def _reason(code: str, text: str, **params: Any) -> dict[str, Any]:
    return {"code": code, "params": params, "text": text.format(**params)}


def design_issues(result: Any) -> list[dict[str, Any]]:
    """The engine's imbalances and shortfall with their fixes, as plain JSON for the page."""
    issues = [
        {
            "kind": "imbalance",
            "name": item.name,
            "smd": item.smd,
            "reason": item.reason.code,
            "params": dict(item.reason.params),
            "fixes": [fix.to_dict() for fix in item.fixes],
        }
        for item in result.unbalanced
    ]
    if result.shortfall is not None:
        issues.append(
            {
                "kind": "shortfall",
                "name": None,
                "smd": None,
                "reason": result.shortfall.reason.code,
                "params": dict(result.shortfall.reason.params),
                "fixes": [fix.to_dict() for fix in result.shortfall.fixes],
            }
        )
    return issues


def _matched_controls(pilot: Pilot, settings: ProposalSettings) -> Proposal:
    """Controls matched to the pilot sites the lead picked by hand; "region" exactly."""
    chosen = sorted(a.site.code for a in pilot.assignments if a.arm is Arm.PILOT)
    proposal = Proposal(DesignMethod.MATCHED, pilots=chosen)
    if not chosen:
        proposal.error = "no_pilots"
        return proposal
    sites = registry()
    metric = problem_metric(pilot, settings)
    hist = history(pilot, [metric]) if metric else None
    if hist is not None and hist.empty:
        hist, metric = None, None
    exact = "region" in settings.match_on
    attrs = [a for a in settings.match_on if a != "region" and a in sites.columns]
    regions = sites.set_index("site_id")["region"]
    blocks = sorted({regions[c] for c in chosen}) if exact else [None]
    taken = set(chosen)
    for block in blocks:
        pilots_here = [c for c in chosen if block is None or regions[c] == block]
        pool = sites if block is None else sites[sites["region"] == block]
        pool = pool[~pool["site_id"].isin(taken - set(pilots_here))]
        wanted = min(settings.ratio * len(pilots_here), len(pool) - len(pilots_here))
        if wanted < 1:
            proposal.warnings.append(f"no control site left in region {block}")
            continue
        selection = select_controls(
            pool,
            pilots_here,
            hist,
            method="matched",
            n=wanted,
            match_on=attrs,
            seed=settings.seed,
            metric=metric,
        )
        if selection.error:
            raise ValueError(selection.error)
        proposal.controls += list(selection.control_ids)
        taken |= set(selection.control_ids)
        for code in selection.control_ids:
            proposal.reasons[code] = [r.to_dict() for r in selection.reason_details.get(code, ())]
        proposal.warnings += list(selection.warnings)
    return proposal


def _stratified(settings: ProposalSettings) -> Proposal:
    """No history: pilot and control sites drawn at random within strata."""
    sites = registry()
    stratify = settings.stratify_by if settings.stratify_by in sites.columns else None
    n = min(settings.n_pilot, max(len(sites) - 2, 1))
    has_volume = sites[VOLUME_COLUMN].notna().any()
    picked = propose_pilot_sites(
        sites,
        None,
        n=n,
        stratify_by=stratify,
        max_volume_share=settings.max_volume_share or 1.0,
        volume_col=VOLUME_COLUMN if has_volume else None,
        seed=settings.seed,
    )
    if picked.error or not picked.site_ids:
        raise ValueError(picked.error or "no site could be proposed")
    candidates = len(sites) - len(picked.site_ids)
    controls = select_controls(
        sites,
        list(picked.site_ids),
        None,
        method="stratified_random",
        n=min(settings.ratio * len(picked.site_ids), candidates),
        match_on=[stratify] if stratify else [],
        seed=settings.seed,
    )
    if controls.error:
        raise ValueError(controls.error)
    proposal = Proposal(
        DesignMethod.STRATIFIED,
        pilots=list(picked.site_ids),
        controls=list(controls.control_ids),
        warnings=[*picked.warnings, *controls.warnings],
    )
    for details in (picked.reason_details, controls.reason_details):
        for code, reasons in details.items():
            proposal.reasons[code] = [r.to_dict() for r in reasons]
    if stratify:
        proposal.strata = sites.set_index("site_id")[stratify].astype(str).to_dict()
    return proposal


# ---------------------------------------------------------------- storing the design


def apply_proposal(pilot: Pilot, proposal: Proposal, settings: ProposalSettings) -> None:
    """Replace the pilot's sites with a proposal and store how they were chosen."""
    keep_pilots = proposal.method is DesignMethod.MATCHED
    codes = proposal.pilots + proposal.controls
    sites = {s.code: s for s in db.session.scalars(select(Site).where(Site.code.in_(codes)))}
    clear_sites(pilot, None if not keep_pilots else Arm.CONTROL)
    db.session.flush()
    pair_of = {code: k for k, group in enumerate(proposal.groups, start=1) for code in group}
    method = {
        DesignMethod.PAIRED: AssignmentMethod.PROPOSED,
        DesignMethod.MATCHED: AssignmentMethod.MATCHED,
        DesignMethod.STRATIFIED: AssignmentMethod.RANDOM_STRATIFIED,
    }[proposal.method]
    arms = [(c, Arm.CONTROL) for c in proposal.controls]
    if not keep_pilots:
        arms = [(c, Arm.PILOT) for c in proposal.pilots] + arms
    for code, arm in arms:
        assignment = assign_site(
            pilot,
            sites[code],
            arm,
            method=method,
            reasons=proposal.reasons.get(code, []),
            stratum=proposal.strata.get(code),
        )
        assignment.pair = pair_of.get(code)
    for assignment in pilot.assignments:
        if assignment.site.code not in pair_of:
            assignment.pair = None
    pilot.design_method = proposal.method
    pilot.design_seed = settings.seed
    pilot.design_settings = {
        "settings": settings.to_dict(),
        "issues": proposal.issues,
        "selection": _selection_key(proposal.pilots, proposal.controls),
        "pool": proposal.pool,
        "problem_metric": proposal.problem_metric,
    }


def _selection_key(pilots: list[str], controls: list[str]) -> list[list[str]]:
    return [sorted(pilots), sorted(controls)]


def stored_settings(pilot: Pilot) -> ProposalSettings | None:
    if not pilot.design_settings:
        return None
    return ProposalSettings.from_dict(pilot.design_settings.get("settings"))


def stored_design(pilot: Pilot) -> DesignResult | None:
    """The pilot's current pairs as the engine's design (its pool, size and match rule), for
    simulating power the way the design was made; None unless paired in equal-sized groups."""
    stored, groups = pilot.design_settings or {}, pilot.pairs
    settings = stored_settings(pilot)
    sizes = {len(g) for g in groups}
    if settings is None or not stored.get("pool") or len(groups) < 2 or len(sizes) != 1:
        return None
    return DesignResult(
        pilot_sites=tuple(g[0] for g in groups),
        control_sites=tuple(s for g in groups for s in g[1:]),
        pairs=tuple(tuple(g) for g in groups),
        seed=settings.seed,
        balance=(),
        warnings=(),
        pool=tuple(stored["pool"]),
        unbalanced=(),
        shortfall=None,
        n_pilots_requested=settings.n_pilot,
        ratio=sizes.pop() - 1,
        problem_metric=stored.get("problem_metric") or "",
        problem=settings.problem_direction,
        match=settings.match_on,
        pool_rule={"pool_share": settings.pool_share, "exclude": list(settings.exclude)},
        group_distances=tuple(0.0 for _g in groups),
        volume_share=None,
        max_volume_share=settings.max_volume_share,
    )


def stored_issues(pilot: Pilot) -> list[dict[str, Any]]:
    """The proposal's imbalances and fixes, while the selection is still the proposal's."""
    stored = pilot.design_settings or {}
    pilots = [a.site.code for a in pilot.assignments if a.arm is Arm.PILOT]
    controls = [a.site.code for a in pilot.assignments if a.arm is Arm.CONTROL]
    if stored.get("selection") != _selection_key(pilots, controls):
        return []
    return list(stored.get("issues") or [])


def swap_site(pilot: Pilot, site_id: int) -> None:
    """Swap a site's arm: inside a whole pair the pilot and control sites trade places,
    elsewhere the site moves to the other arm."""
    target = next((a for a in pilot.assignments if a.site_id == site_id), None)
    if target is None:
        return
    other = Arm.CONTROL if target.arm is Arm.PILOT else Arm.PILOT
    group = [a for a in pilot.assignments if target.pair is not None and a.pair == target.pair]
    pilots_in_group = [a for a in group if a.arm is Arm.PILOT]
    if len(group) >= 2 and len(pilots_in_group) == 1:
        current = pilots_in_group[0]
        controls = sorted((a for a in group if a is not current), key=lambda a: a.site.code)
        new = target if target is not current else controls[0]
        _move_by_hand(current, Arm.CONTROL)
        _move_by_hand(new, Arm.PILOT)
        return
    _move_by_hand(target, other)


def _move_by_hand(assignment: Any, arm: Arm) -> None:
    """The lead moved a site to ``arm``: its reasons say so instead of the random draw."""
    assignment.arm = arm
    assignment.method = AssignmentMethod.MANUAL
    kept = [r for r in assignment.reasons or [] if _code(r) not in ("pair_member", "swapped")]
    params = {"arm": arm.value, "pair": assignment.pair}
    text = "Moved to the {arm} sites by the change lead."
    assignment.reasons = [*kept, _reason("swapped", text, **params)]


def _code(reason: Any) -> str | None:
    return reason.get("code") if isinstance(reason, dict) else None
