"""Staged rollout planning: readiness, tiers, waves by capacity, holdback, mentors.

Pure functions over small frozen dataclasses (no Flask, no database). The app turns sites
into :class:`SiteInput` rows (``app/rollout/plans.py``) and stores the result.

:func:`readiness`
    A 0-100 score per site: the weighted mean of management score, digital readiness, staff
    capability (0-100) and staff attitude (1-5, rescaled to 0-100). A missing component is
    left out and the other weights are renormalised (said in the reasons). Tiers by fixed cut
    points: ``high`` (score >= ``tier_cuts[0]``), ``medium`` (>= ``tier_cuts[1]``), ``low``.

:func:`plan_rollout`
    1. readiness and tiers;
    2. optional **holdback**: ``round(holdback_share * n)`` sites drawn at random within tiers
       (proportional allocation), never rolled out by the plan: with randomized order within
       tiers they make the rollout a stepped-wedge experiment;
    3. order: tier (high first), then score (descending) or, with ``randomize``, a seeded
       random order within each tier; with ``keep_regions`` the ordering and the cutting into
       waves is done per region and a wave never mixes regions;
    4. waves of ``wave_size`` sites, or ``wave_count`` waves of near-equal size;
    5. dates: each site has a capacity ``load`` (its size weight, plus ``senior_load`` when
       its senior share is at least ``senior_threshold``); within a wave sites go live in
       weekly slots whose load never exceeds ``sites_per_week``; a wave ends when its last
       site has been live ``min_days_live`` days (the gate is due), and the next wave starts
       on the plan's weekday after that;
    6. mentors (:func:`pair_mentors`).

Every decision carries :class:`Reason` objects (a code, parameters and an English text):
the app translates them by code, :meth:`RolloutProposal.summary` prints the English.

:class:`PredictionModel` carries the interaction model of
:func:`analysis.segments.segment_effects` so the predicted effect of a wave (the mean of its
sites' predictions, with the interval of that linear combination) can be recomputed after
every edit without refitting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from analysis.inference import t_interval
from analysis.results import Reason, ResultMixin
from analysis.results import make_reason as _reason

__all__ = [
    "MentorAssignment",
    "MentorInput",
    "PlanSettings",
    "PlannedSite",
    "PlannedWave",
    "PredictionModel",
    "Readiness",
    "ReadinessWeights",
    "Reason",
    "RolloutProposal",
    "SiteInput",
    "TIERS",
    "extrapolation_reasons",
    "pair_mentors",
    "plan_rollout",
    "readiness",
    "site_load",
    "weekly_load",
]

#: Readiness tiers, most ready first.
TIERS = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class SiteInput(ResultMixin):
    """One candidate site as the planner sees it."""

    site_id: str
    """Site code."""
    region: str = ""
    """Region (waves may be kept within regions)."""
    size_weight: float = 1.0
    """How much the site counts against weekly capacity (large sites count more)."""
    management_score: float | None = None
    """0-100."""
    digital_readiness: float | None = None
    """0-100."""
    staff_capability: float | None = None
    """0-100."""
    attitude: float | None = None
    """Mean staff attitude to the change, 1-5 (None: nobody answered)."""
    senior_share: float | None = None
    """Share of senior customers, 0-1."""
    size_tier: str | None = None
    """Size tier label, for similarity and reasons."""


@dataclass(frozen=True, slots=True)
class ReadinessWeights(ResultMixin):
    """Weights of the readiness components (any non-negative numbers; normalised)."""

    management: float = 0.35
    digital: float = 0.30
    capability: float = 0.15
    attitude: float = 0.20

    def __post_init__(self) -> None:
        values = self.as_dict()
        if any(not math.isfinite(v) or v < 0 for v in values.values()):
            raise ValueError(f"readiness weights must be finite and non-negative, got {values}")
        if sum(values.values()) <= 0:
            raise ValueError("at least one readiness weight must be positive")

    def as_dict(self) -> dict[str, float]:
        return {
            "management": float(self.management),
            "digital": float(self.digital),
            "capability": float(self.capability),
            "attitude": float(self.attitude),
        }


@dataclass(frozen=True, slots=True)
class PlanSettings(ResultMixin):
    """The change lead's inputs to :func:`plan_rollout`."""

    start: date
    """First go-live day of wave 1."""
    sites_per_week: float = 4.0
    """Capacity of the support team, in load units per week (a medium site counts 1.5)."""
    wave_count: int | None = None
    """Number of waves (ignored when ``wave_size`` is set)."""
    wave_size: int | None = None
    """Sites per wave."""
    keep_regions: bool = False
    """A wave never mixes regions."""
    weights: ReadinessWeights = field(default_factory=ReadinessWeights)
    """Readiness weights."""
    tier_cuts: tuple[float, float] = (65.0, 50.0)
    """Scores at or above the first are ``high``, at or above the second ``medium``."""
    randomize: bool = False
    """Random order within readiness tiers (stepped-wedge design)."""
    holdback_share: float = 0.0
    """Share of sites held back as comparison sites (0 to 0.5)."""
    seed: int = 0
    """Seed of every random choice: same seed and inputs, same plan."""
    min_days_live: int = 14
    """Days a wave's last site must be live before its gate is due."""
    mentor_limit: int = 2
    """Mentees per mentor per wave."""
    mentor_tiers: tuple[str, ...] = ("low",)
    """Readiness tiers that get a mentor."""
    resistant_attitude: float = 2.5
    """Mean staff attitude (1-5) at or below which staff count as resistant."""
    senior_threshold: float = 0.3
    """Senior share from which a site needs extra support."""
    senior_load: float = 0.25
    """Extra capacity load of such a site."""

    def __post_init__(self) -> None:
        if not isinstance(self.start, date):
            raise ValueError("start must be a date")
        if not (math.isfinite(self.sites_per_week) and self.sites_per_week > 0):
            raise ValueError(f"sites_per_week must be positive, got {self.sites_per_week}")
        if self.wave_size is None and self.wave_count is None:
            raise ValueError("give wave_count or wave_size")
        if self.wave_size is not None and self.wave_size < 1:
            raise ValueError(f"wave_size must be at least 1, got {self.wave_size}")
        if self.wave_count is not None and self.wave_count < 1:
            raise ValueError(f"wave_count must be at least 1, got {self.wave_count}")
        if not 0 <= self.holdback_share <= 0.5:
            raise ValueError(f"holdback_share must be between 0 and 0.5, got {self.holdback_share}")
        if self.tier_cuts[0] < self.tier_cuts[1]:
            raise ValueError("tier_cuts must be (high cut, medium cut) with high >= medium")
        if self.min_days_live < 1:
            raise ValueError("min_days_live must be at least 1")
        if self.mentor_limit < 0:
            raise ValueError("mentor_limit must be non-negative")
        unknown = set(self.mentor_tiers) - set(TIERS)
        if unknown:
            raise ValueError(f"unknown tiers {sorted(unknown)}; tiers are {TIERS}")


@dataclass(frozen=True, slots=True)
class Readiness(ResultMixin):
    """A site's readiness score and tier."""

    site_id: str
    score: float
    """0-100 (NaN when no component is known)."""
    tier: str
    """``high``, ``medium`` or ``low``."""
    components: Mapping[str, float | None]
    """Component values on the 0-100 scale (None: missing)."""
    weights: Mapping[str, float]
    """Weights actually used (renormalised over the known components)."""
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PlannedSite(ResultMixin):
    """A site's place in the plan."""

    site_id: str
    wave: int | None
    """Wave number (1-based); None for the holdback."""
    holdback: bool
    go_live: date | None
    load: float
    """Capacity load."""
    score: float
    tier: str
    region: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PlannedWave(ResultMixin):
    number: int
    start: date
    end: date
    """Day the gate is due (last go-live + ``min_days_live`` - 1)."""
    site_ids: tuple[str, ...]
    load: float
    weeks: int
    """Weekly go-live slots used."""
    peak_load: float
    """Highest weekly load of the wave."""
    region: str | None
    """The wave's region when waves are kept within regions."""
    tiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MentorInput(ResultMixin):
    """A possible mentor: a pilot site (or a person) with its site's attributes."""

    mentor_id: str
    region: str = ""
    management_score: float | None = None
    digital_readiness: float | None = None
    senior_share: float | None = None
    size_weight: float | None = None


@dataclass(frozen=True, slots=True)
class MentorAssignment(ResultMixin):
    mentee_id: str
    mentor_id: str | None
    """None when no mentor had capacity left."""
    wave: int | None
    distance: float
    """Dissimilarity of mentee and mentor (0 = alike)."""
    same_region: bool
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class RolloutProposal(ResultMixin):
    """The planner's proposal."""

    settings: PlanSettings
    readiness: tuple[Readiness, ...]
    sites: tuple[PlannedSite, ...]
    waves: tuple[PlannedWave, ...]
    mentors: tuple[MentorAssignment, ...]
    warnings: tuple[str, ...] = ()

    @property
    def holdback(self) -> tuple[str, ...]:
        return tuple(s.site_id for s in self.sites if s.holdback)

    def site(self, site_id: str) -> PlannedSite:
        for s in self.sites:
            if s.site_id == site_id:
                return s
        raise KeyError(site_id)

    def summary(self) -> str:
        s = self.settings
        lines = [
            f"Rollout of {len(self.sites)} sites in {len(self.waves)} waves from {s.start}, "
            f"capacity {s.sites_per_week:g} per week"
            + (f", {len(self.holdback)} held back" if self.holdback else "")
            + (" (random order within tiers)" if s.randomize else "")
        ]
        for w in self.waves:
            lines.append(
                f"  wave {w.number}: {w.start} to {w.end}, {len(w.site_ids)} sites, load "
                f"{w.load:g} over {w.weeks} week(s), peak {w.peak_load:g}"
                + (f", region {w.region}" if w.region else "")
                + f": {', '.join(w.site_ids)}"
            )
        if self.holdback:
            lines.append(f"  holdback: {', '.join(self.holdback)}")
        paired = [m for m in self.mentors if m.mentor_id]
        if self.mentors:
            lines.append(f"  mentors: {len(paired)} of {len(self.mentors)} sites paired")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Readiness


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _tier(score: float, cuts: tuple[float, float]) -> str:
    if not math.isfinite(score):
        return "low"
    if score >= cuts[0]:
        return "high"
    if score >= cuts[1]:
        return "medium"
    return "low"


_COMPONENT_LABELS = {
    "management": "management score",
    "digital": "digital readiness",
    "capability": "staff capability",
    "attitude": "staff attitude",
}


def readiness(
    site: SiteInput,
    weights: ReadinessWeights | None = None,
    tier_cuts: tuple[float, float] = (65.0, 50.0),
) -> Readiness:
    """Weighted readiness score (0-100) of one site, its tier and the reasons."""
    weights = weights or ReadinessWeights()
    attitude = _finite(site.attitude)
    components: dict[str, float | None] = {
        "management": _finite(site.management_score),
        "digital": _finite(site.digital_readiness),
        "capability": _finite(site.staff_capability),
        "attitude": None if attitude is None else (min(max(attitude, 1.0), 5.0) - 1.0) * 25.0,
    }
    raw = weights.as_dict()
    known = {k: w for k, w in raw.items() if components[k] is not None and w > 0}
    total = sum(known.values())
    used = {k: (w / total if total > 0 else 0.0) for k, w in known.items()}
    score = (
        float(sum(used[k] * components[k] for k in used))  # type: ignore[operator]
        if used
        else float("nan")
    )
    tier = _tier(score, tier_cuts)
    reasons: list[Reason] = []
    if used:
        parts = ", ".join(
            f"{_COMPONENT_LABELS[k]} {components[k]:.0f} x {used[k]:.2f}" for k in used
        )
        reasons.append(
            _reason(
                "readiness_score",
                "readiness {score:.0f} = {parts}",
                score=round(score, 1),
                parts=parts,
                components=[
                    {
                        "component": k,
                        "value": round(float(components[k] or 0.0)),
                        "weight": round(used[k], 2),
                    }
                    for k in used
                ],
            )
        )
        reasons.append(
            _reason(
                f"tier_{tier}",
                "readiness tier {tier} (cut points {high:g} and {medium:g})",
                tier=tier,
                high=tier_cuts[0],
                medium=tier_cuts[1],
            )
        )
    else:
        reasons.append(
            _reason("readiness_unknown", "no readiness data: placed in the low tier", tier=tier)
        )
    missing = [k for k, w in raw.items() if w > 0 and components[k] is None]
    for k in missing:
        reasons.append(
            _reason(
                f"missing_{k}",
                "no {component} on record: its weight was spread over the other components",
                component=_COMPONENT_LABELS[k],
            )
        )
    return Readiness(site.site_id, score, tier, components, used, tuple(reasons))


def site_load(site: SiteInput, settings: PlanSettings) -> tuple[float, tuple[Reason, ...]]:
    """Capacity load of a site: its size weight, plus extra support for many seniors."""
    load = float(site.size_weight)
    reasons = [
        _reason(
            "load_size",
            "counts {weight:g} against weekly capacity ({tier} site)",
            weight=load,
            tier=site.size_tier or "",
        )
    ]
    senior = _finite(site.senior_share)
    if settings.senior_load > 0 and senior is not None and senior >= settings.senior_threshold:
        load += settings.senior_load
        reasons.append(
            _reason(
                "load_senior",
                "+{extra:g} load: {share:.0%} senior customers need assisted ordering",
                extra=settings.senior_load,
                share=senior,
            )
        )
    return load, tuple(reasons)


# --------------------------------------------------------------------------------------------
# Plan


def _chunk_sizes(n: int, size: int | None, count: int | None) -> list[int]:
    if n == 0:
        return []
    if size is not None:
        full, rest = divmod(n, size)
        return [size] * full + ([rest] if rest else [])
    count = max(1, min(int(count or 1), n))
    base, extra = divmod(n, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _allocate(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """Largest-remainder allocation of ``total`` over groups proportional to ``counts``."""
    n = sum(counts.values())
    if n == 0 or total == 0:
        return {k: 0 for k in counts}
    quotas = {k: total * c / n for k, c in counts.items()}
    out = {k: int(math.floor(q)) for k, q in quotas.items()}
    left = total - sum(out.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - out[k]), k))[:left]:
        out[k] += 1
    return out


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def plan_rollout(
    sites: Sequence[SiteInput],
    settings: PlanSettings,
    mentors: Sequence[MentorInput] = (),
) -> RolloutProposal:
    """Propose waves, dates, holdback and mentors for ``sites`` (see the module docstring)."""
    ids = [s.site_id for s in sites]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate site ids {dupes}")
    notes: list[str] = []
    if not sites:
        return RolloutProposal(settings, (), (), (), (), ("no sites in scope",))
    cap = float(settings.sites_per_week)
    loads = {s.site_id: site_load(s, settings) for s in sites}
    heaviest = max(v[0] for v in loads.values())
    if heaviest > cap + 1e-9:
        raise ValueError(
            f"a site counts {heaviest:g} against capacity, more than the {cap:g} per week the "
            "support team can handle: raise the capacity"
        )
    ready = {s.site_id: readiness(s, settings.weights, settings.tier_cuts) for s in sites}
    by_id = {s.site_id: s for s in sites}
    rng = np.random.default_rng(settings.seed)
    holdback = _holdback(ids, ready, settings, rng)
    groups, order_reason = _ordered_groups(ids, holdback, by_id, ready, settings, rng)
    chunks = _cut_waves(groups, ready, settings, notes)
    waves, planned = _schedule(chunks, loads, ready, order_reason, by_id, settings)
    for m in sorted(holdback):
        planned[m] = _held_back(m, loads[m][0], ready[m], by_id[m].region)
    site_rows = tuple(planned[s.site_id] for s in sites)
    proposal = RolloutProposal(settings, tuple(ready[i] for i in ids), site_rows, tuple(waves), ())
    pairs = pair_mentors(proposal, sites, mentors, settings) if mentors else ()
    if not mentors:
        needing = [
            s for s in site_rows if not s.holdback and _needs_mentor(s, by_id[s.site_id], settings)
        ]
        if needing:
            notes.append(f"{len(needing)} sites need a mentor but no mentor was offered")
    return replace(proposal, mentors=pairs, warnings=tuple(notes))


_RANK = {t: i for i, t in enumerate(TIERS)}


def _holdback(
    ids: list[str], ready: dict[str, Readiness], settings: PlanSettings, rng: np.random.Generator
) -> set[str]:
    """``round(holdback_share * n)`` sites drawn at random within tiers (proportionally)."""
    holdback: set[str] = set()
    if settings.holdback_share > 0 and len(ids) >= 2:
        n_hold = max(1, round(settings.holdback_share * len(ids)))
        n_hold = min(n_hold, len(ids) - 1)
        tiers: dict[str, list[str]] = {t: [] for t in TIERS}
        for sid in sorted(ids):
            tiers[ready[sid].tier].append(sid)
        alloc = _allocate({t: len(v) for t, v in tiers.items()}, n_hold)
        for t in TIERS:
            members = tiers[t]
            if alloc[t]:
                picked = rng.choice(len(members), size=alloc[t], replace=False)
                holdback.update(members[i] for i in sorted(picked))
    return holdback


def _ordered_groups(
    ids: list[str],
    holdback: set[str],
    by_id: dict[str, SiteInput],
    ready: dict[str, Readiness],
    settings: PlanSettings,
    rng: np.random.Generator,
) -> tuple[dict[str, list[str]], dict[str, Reason]]:
    """Sites to roll out, per region (or all in one group), in rollout order, with the reason."""
    groups: dict[str, list[str]] = {}
    for sid in sorted(ids):
        if sid in holdback:
            continue
        key = by_id[sid].region if settings.keep_regions else ""
        groups.setdefault(key, []).append(sid)
    order_reason: dict[str, Reason] = {}
    for key in sorted(groups):
        members = groups[key]
        if settings.randomize:
            ordered: list[str] = []
            for t in TIERS:
                tier_members = [m for m in members if ready[m].tier == t]
                perm = rng.permutation(len(tier_members))
                ordered.extend(tier_members[i] for i in perm)
            for m in ordered:
                order_reason[m] = _reason(
                    "order_random",
                    "random position within the {tier} tier (stepped-wedge design)",
                    tier=ready[m].tier,
                )
        else:
            ordered = sorted(
                members,
                key=lambda m: (
                    _RANK[ready[m].tier],
                    -(ready[m].score if math.isfinite(ready[m].score) else -1.0),
                    m,
                ),
            )
            for m in ordered:
                order_reason[m] = _reason(
                    "order_readiness",
                    "placed by readiness: {tier} tier first, higher scores earlier",
                    tier=ready[m].tier,
                )
        groups[key] = ordered
    return groups, order_reason


def _cut_waves(
    groups: dict[str, list[str]],
    ready: dict[str, Readiness],
    settings: PlanSettings,
    notes: list[str],
) -> list[tuple[str, int, list[str]]]:
    """``(group, index, sites)`` of every wave, most ready waves first."""
    chunks: list[tuple[str, int, list[str]]] = []
    n_total = sum(len(v) for v in groups.values())
    if settings.wave_size is not None:
        per_group_count = {k: None for k in groups}
    else:
        wanted = int(settings.wave_count or 1)
        if settings.keep_regions and len(groups) > 1:
            alloc = _allocate({k: len(v) for k, v in groups.items()}, wanted)
            per_group_count = {k: max(1, alloc[k]) for k in groups}
            if sum(per_group_count.values()) != wanted:
                notes.append(
                    f"{sum(per_group_count.values())} waves instead of {wanted}: every region "
                    "needs at least one wave when waves are kept within regions"
                )
        else:
            per_group_count = {k: wanted for k in groups}
            if wanted > n_total:
                notes.append(f"only {n_total} sites: {n_total} waves instead of {wanted}")
    for key in sorted(groups):
        members = groups[key]
        sizes = _chunk_sizes(len(members), settings.wave_size, per_group_count[key])
        pos = 0
        for idx, size in enumerate(sizes):
            chunks.append((key, idx, members[pos : pos + size]))
            pos += size

    def mean_rank(chunk: list[str]) -> float:
        return float(np.mean([_RANK[ready[m].tier] for m in chunk]))

    chunks.sort(key=lambda c: (mean_rank(c[2]), c[1], c[0]))
    return chunks


def _schedule(
    chunks: list[tuple[str, int, list[str]]],
    loads: dict[str, tuple[float, tuple[Reason, ...]]],
    ready: dict[str, Readiness],
    order_reason: dict[str, Reason],
    by_id: dict[str, SiteInput],
    settings: PlanSettings,
) -> tuple[list[PlannedWave], dict[str, PlannedSite]]:
    """Go-live dates in weekly slots within capacity; each wave starts after the last's gate."""
    cap = float(settings.sites_per_week)
    weekday = settings.start.weekday()
    wave_start = settings.start
    waves: list[PlannedWave] = []
    planned: dict[str, PlannedSite] = {}
    for number, (key, _idx, members) in enumerate(chunks, start=1):
        week, week_load, peak = 0, 0.0, 0.0
        go_live: dict[str, date] = {}
        for m in members:
            load = loads[m][0]
            if week_load > 0 and week_load + load > cap + 1e-9:
                week += 1
                week_load = 0.0
            week_load += load
            peak = max(peak, week_load)
            go_live[m] = wave_start + timedelta(days=7 * week)
        end = max(go_live.values()) + timedelta(days=settings.min_days_live - 1)
        waves.append(
            PlannedWave(
                number=number,
                start=wave_start,
                end=end,
                site_ids=tuple(members),
                load=round(sum(loads[m][0] for m in members), 6),
                weeks=week + 1,
                peak_load=round(peak, 6),
                region=key or None,
                tiers=tuple(dict.fromkeys(ready[m].tier for m in members)),
            )
        )
        for m in members:
            reasons = [
                *ready[m].reasons,
                order_reason[m],
                _reason(
                    "wave",
                    "wave {wave}, go-live {go_live} (week {week} of the wave)",
                    wave=number,
                    go_live=go_live[m].isoformat(),
                    week=(go_live[m] - wave_start).days // 7 + 1,
                ),
                *loads[m][1],
            ]
            if settings.keep_regions:
                reasons.append(
                    _reason("region_wave", "waves are kept within region {region}", region=key)
                )
            r = ready[m]
            planned[m] = PlannedSite(
                m,
                number,
                False,
                go_live[m],
                loads[m][0],
                r.score,
                r.tier,
                by_id[m].region,
                tuple(reasons),
            )
        wave_start = _next_weekday(end + timedelta(days=1), weekday)
    return waves, planned


def _held_back(site_id: str, load: float, ready: Readiness, region: str) -> PlannedSite:
    reason = _reason(
        "holdback",
        "held back at random within the {tier} tier as a comparison site: it keeps "
        "the old process until the last wave has passed its gate",
        tier=ready.tier,
    )
    return PlannedSite(
        site_id, None, True, None, load, ready.score, ready.tier, region, (*ready.reasons, reason)
    )


def weekly_load(sites: Iterable[PlannedSite]) -> dict[date, float]:
    """Capacity load per go-live week (keyed by go-live date)."""
    out: dict[date, float] = {}
    for s in sites:
        if s.go_live is not None and not s.holdback:
            out[s.go_live] = round(out.get(s.go_live, 0.0) + s.load, 6)
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------
# Mentors


def _needs_mentor(planned: PlannedSite, site: SiteInput, settings: PlanSettings) -> bool:
    attitude = _finite(site.attitude)
    return planned.tier in settings.mentor_tiers or (
        attitude is not None and attitude <= settings.resistant_attitude
    )


_SCALES = {"management_score": 20.0, "digital_readiness": 20.0, "senior_share": 0.1}


def _distance(site: SiteInput, mentor: MentorInput) -> float:
    total, n = 0.0, 0
    for name, scale in _SCALES.items():
        a, b = _finite(getattr(site, name)), _finite(getattr(mentor, name))
        if a is not None and b is not None:
            total += ((a - b) / scale) ** 2
            n += 1
    if mentor.size_weight is not None:
        total += ((site.size_weight - mentor.size_weight) / 0.5) ** 2
        n += 1
    return math.sqrt(total / n) if n else 0.0


def pair_mentors(
    proposal: RolloutProposal,
    sites: Sequence[SiteInput],
    mentors: Sequence[MentorInput],
    settings: PlanSettings,
) -> tuple[MentorAssignment, ...]:
    """Pair low-readiness or resistant sites with the most similar mentor with capacity.

    Mentees are served wave by wave, least ready first; a mentor takes at most
    ``settings.mentor_limit`` mentees per wave; a mentor in the mentee's region is preferred
    to a more similar one elsewhere.
    """
    by_id = {s.site_id: s for s in sites}
    candidates = [
        p
        for p in proposal.sites
        if not p.holdback and p.site_id in by_id and _needs_mentor(p, by_id[p.site_id], settings)
    ]
    candidates.sort(
        key=lambda p: (p.wave or 0, p.score if math.isfinite(p.score) else -1, p.site_id)
    )
    used: dict[tuple[str, int | None], int] = {}
    out: list[MentorAssignment] = []
    for p in candidates:
        site = by_id[p.site_id]
        why = _mentee_reasons(p, site, settings)
        free = [
            m
            for m in mentors
            if m.mentor_id != p.site_id
            and used.get((m.mentor_id, p.wave), 0) < settings.mentor_limit
        ]
        if not free:
            why.append(
                _reason(
                    "mentor_none",
                    "no mentor has capacity left in wave {wave} (limit {limit} per wave)",
                    wave=p.wave,
                    limit=settings.mentor_limit,
                )
            )
            out.append(MentorAssignment(p.site_id, None, p.wave, float("nan"), False, tuple(why)))
            continue
        local = [m for m in free if m.region and m.region == site.region]
        pool = local or free
        best = min(pool, key=lambda m: (_distance(site, m), m.mentor_id))
        dist = _distance(site, best)
        used[(best.mentor_id, p.wave)] = used.get((best.mentor_id, p.wave), 0) + 1
        why.append(_mentor_reason(best, site, dist, bool(local)))
        out.append(
            MentorAssignment(p.site_id, best.mentor_id, p.wave, dist, bool(local), tuple(why))
        )
    return tuple(out)


def _mentee_reasons(p: PlannedSite, site: SiteInput, settings: PlanSettings) -> list[Reason]:
    """Why the site needs a mentor: its readiness tier, its staff's attitude, or both."""
    why: list[Reason] = []
    attitude = _finite(site.attitude)
    if p.tier in settings.mentor_tiers:
        why.append(_reason("mentor_low", "needs a mentor: {tier} readiness", tier=p.tier))
    if attitude is not None and attitude <= settings.resistant_attitude:
        why.append(
            _reason(
                "mentor_resistant",
                "needs a mentor: staff attitude {attitude:.1f} of 5 (resistant)",
                attitude=attitude,
            )
        )
    return why


def _mentor_reason(best: MentorInput, site: SiteInput, dist: float, local: bool) -> Reason:
    if local:
        return _reason(
            "mentor_same_region",
            "mentor {mentor}: the most similar pilot site in region {region} "
            "(distance {distance:.2f})",
            mentor=best.mentor_id,
            region=site.region,
            distance=dist,
        )
    return _reason(
        "mentor_other_region",
        "mentor {mentor} from region {mentor_region}: no pilot site in region "
        "{region} had capacity (distance {distance:.2f})",
        mentor=best.mentor_id,
        mentor_region=best.region,
        region=site.region,
        distance=dist,
    )


# --------------------------------------------------------------------------------------------
# Predictions and extrapolation


@dataclass(frozen=True, slots=True)
class PredictionModel(ResultMixin):
    """The interaction model of a segment analysis, enough to predict means of sites."""

    by: str
    kind: str
    """``numeric`` or ``categorical``."""
    names: tuple[str, ...]
    coef: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    df: int
    alpha: float = 0.05
    reference_level: str | None = None

    @classmethod
    def from_segments(cls, seg: Any) -> PredictionModel | None:
        """From an :class:`analysis.segments.SegmentEffects` (None if it has no model)."""
        if getattr(seg, "error", None) or not getattr(seg, "interaction_coef", ()):
            return None
        return cls(
            seg.by,
            seg.kind,
            tuple(seg.interaction_names),
            tuple(float(x) for x in seg.interaction_coef),
            tuple(tuple(float(x) for x in row) for row in seg.interaction_vcov),
            int(seg.df),
            float(seg.alpha),
            seg.reference_level,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionModel:
        return cls(
            data["by"],
            data["kind"],
            tuple(data["names"]),
            tuple(float(x) for x in data["coef"]),
            tuple(tuple(float(x) for x in row) for row in data["vcov"]),
            int(data["df"]),
            float(data.get("alpha", 0.05)),
            data.get("reference_level"),
        )

    def _row(self, value: Any) -> np.ndarray:
        row = np.zeros(len(self.coef))
        row[0] = 1.0
        if self.kind == "numeric":
            row[1] = float(value)
            return row
        name = f"treated:{self.by}={value}"
        if name in self.names:
            row[self.names.index(name)] = 1.0
        return row

    def predict_mean(self, values: Sequence[Any]) -> tuple[float, float, float, float]:
        """Mean predicted effect of sites with attribute ``values``: effect, se, low, high."""
        usable = [v for v in values if v is not None and not _is_nan(v)]
        if not usable:
            nan = float("nan")
            return nan, nan, nan, nan
        x = np.mean([self._row(v) for v in usable], axis=0)
        b = np.array(self.coef)
        v = np.array(self.vcov)
        effect = float(x @ b)
        se = float(np.sqrt(max(float(x @ v @ x), 0.0)))
        low, high = t_interval(effect, se, max(self.df, 1), self.alpha)
        return effect, se, float(low), float(high)


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


_EXTRAPOLATION_ATTRS = ("management_score", "digital_readiness", "senior_share", "size_weight")


def extrapolation_reasons(
    site: SiteInput, pilot_sites: Sequence[SiteInput], tolerance: float = 0.0
) -> tuple[Reason, ...]:
    """Reasons why a site is unlike every pilot site (attributes outside their range)."""
    out: list[Reason] = []
    for name in _EXTRAPOLATION_ATTRS:
        value = _finite(getattr(site, name))
        seen = [v for v in (_finite(getattr(p, name)) for p in pilot_sites) if v is not None]
        if value is None or not seen:
            continue
        lo, hi = min(seen), max(seen)
        if value < lo - tolerance or value > hi + tolerance:
            out.append(
                _reason(
                    "extrapolation",
                    "{attribute} {value:.3g} is outside the pilot sites' range "
                    "[{low:.3g}, {high:.3g}]: the prediction is an extrapolation",
                    attribute=name,
                    value=value,
                    low=lo,
                    high=hi,
                )
            )
    if site.region and pilot_sites and site.region not in {p.region for p in pilot_sites}:
        out.append(
            _reason(
                "extrapolation_region",
                "no pilot site in region {region}: the prediction is an extrapolation",
                region=site.region,
            )
        )
    return tuple(out)
