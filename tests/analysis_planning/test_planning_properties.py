"""Planner properties over many seeded random inputs (no hypothesis: seeded loops)."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, timedelta

import pytest

from analysis.planning import (
    TIERS,
    MentorInput,
    PlanSettings,
    ReadinessWeights,
    SiteInput,
    plan_rollout,
    readiness,
    weekly_load,
)

REGIONS = ("East", "South", "North", "Southwest")
WEIGHTS = {"small": 1.0, "medium": 1.5, "large": 2.0}
RANK = {t: i for i, t in enumerate(TIERS)}
N_CASES = 150


def _maybe(rnd: random.Random, value, p_missing=0.1):
    return None if rnd.random() < p_missing else value


def random_sites(rnd: random.Random, n: int) -> list[SiteInput]:
    sites = []
    for i in range(n):
        tier = rnd.choice(list(WEIGHTS))
        sites.append(
            SiteInput(
                site_id=f"S{i:03d}",
                region=rnd.choice(REGIONS),
                size_weight=WEIGHTS[tier],
                size_tier=tier,
                management_score=_maybe(rnd, rnd.uniform(20, 100)),
                digital_readiness=_maybe(rnd, rnd.uniform(10, 100)),
                staff_capability=_maybe(rnd, rnd.uniform(0, 100), 0.3),
                attitude=_maybe(rnd, rnd.uniform(1, 5), 0.5),
                senior_share=_maybe(rnd, rnd.uniform(0, 0.6)),
            )
        )
    return sites


def random_mentors(rnd: random.Random, n: int) -> list[MentorInput]:
    return [
        MentorInput(
            f"P{i:02d}",
            rnd.choice(REGIONS),
            rnd.uniform(40, 100),
            rnd.uniform(30, 100),
            rnd.uniform(0, 0.5),
            rnd.choice(list(WEIGHTS.values())),
        )
        for i in range(n)
    ]


def random_settings(rnd: random.Random) -> PlanSettings:
    by_size = rnd.random() < 0.5
    return PlanSettings(
        start=date(2027, 1, 4) + timedelta(days=rnd.randrange(0, 30)),
        sites_per_week=rnd.choice([2.25, 2.5, 3.0, 4.0, 6.0, 10.0]),
        wave_size=rnd.randint(1, 12) if by_size else None,
        wave_count=None if by_size else rnd.randint(1, 8),
        keep_regions=rnd.random() < 0.4,
        weights=ReadinessWeights(*(rnd.uniform(0, 1) + 0.01 for _ in range(4))),
        randomize=rnd.random() < 0.5,
        holdback_share=rnd.choice([0.0, 0.0, 0.1, 0.2]),
        seed=rnd.randrange(10_000),
        min_days_live=rnd.choice([7, 14, 21]),
        mentor_limit=rnd.randint(0, 3),
        mentor_tiers=rnd.choice([("low",), ("low", "medium")]),
    )


def cases():
    for case in range(N_CASES):
        rnd = random.Random(case)
        sites = random_sites(rnd, rnd.randint(1, 60))
        mentors = random_mentors(rnd, rnd.randint(0, 8))
        yield case, sites, mentors, random_settings(rnd)


def test_capacity_is_never_exceeded_in_any_week():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        for day, load in weekly_load(proposal.sites).items():
            assert load <= settings.sites_per_week + 1e-9, (case, day, load)
        for wave in proposal.waves:
            assert wave.peak_load <= settings.sites_per_week + 1e-9, case


def test_waves_do_not_overlap_and_every_gate_waits_the_minimum_days():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        for earlier, later in zip(proposal.waves, proposal.waves[1:], strict=False):
            assert later.start > earlier.end, case
            assert later.start.weekday() == settings.start.weekday(), case
        for wave in proposal.waves:
            last = max(proposal.site(s).go_live for s in wave.site_ids)
            assert (wave.end - last).days + 1 == settings.min_days_live, case
            assert all(wave.start <= proposal.site(s).go_live for s in wave.site_ids), case


def test_every_site_is_in_exactly_one_wave_or_the_holdback():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        in_waves = Counter(s for w in proposal.waves for s in w.site_ids)
        held = set(proposal.holdback)
        assert all(c == 1 for c in in_waves.values()), case
        assert not (set(in_waves) & held), case
        assert set(in_waves) | held == {s.site_id for s in sites}, case
        for planned in proposal.sites:
            assert (planned.wave is None) == planned.holdback, case


def test_holdback_size_follows_the_share_and_spreads_over_tiers():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        n = len(sites)
        if settings.holdback_share == 0 or n < 2:
            assert not proposal.holdback, case
        else:
            expected = min(max(1, round(settings.holdback_share * n)), n - 1)
            assert len(proposal.holdback) == expected, case


def test_readiness_order_is_respected():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        planned = [p for p in proposal.sites if not p.holdback]
        for a in planned:
            for b in planned:
                if a.wave >= b.wave:
                    continue
                if settings.keep_regions and a.region != b.region:
                    continue
                assert RANK[a.tier] <= RANK[b.tier], (case, a.site_id, b.site_id)
                if not settings.randomize and a.tier == b.tier:
                    sa = a.score if math.isfinite(a.score) else -1
                    sb = b.score if math.isfinite(b.score) else -1
                    assert sa >= sb, (case, a.site_id, b.site_id)


def test_waves_kept_within_regions_never_mix_regions():
    for case, sites, mentors, settings in cases():
        if not settings.keep_regions:
            continue
        proposal = plan_rollout(sites, settings, mentors)
        region = {s.site_id: s.region for s in sites}
        for wave in proposal.waves:
            assert len({region[s] for s in wave.site_ids}) == 1, case
            assert wave.region == region[wave.site_ids[0]], case


def test_wave_size_and_count_are_honoured():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        sizes = [len(w.site_ids) for w in proposal.waves]
        if settings.wave_size is not None:
            assert max(sizes, default=0) <= settings.wave_size, case
        elif not settings.keep_regions:
            n = len(sites) - len(proposal.holdback)
            assert len(sizes) == min(settings.wave_count, n), case
            assert max(sizes) - min(sizes) <= 1, case


def test_mentor_limits_are_respected():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        per = Counter((m.mentor_id, m.wave) for m in proposal.mentors if m.mentor_id)
        assert all(c <= settings.mentor_limit for c in per.values()), case


def test_mentors_prefer_their_own_region():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        region = {s.site_id: s.region for s in sites}
        mentor_region = {m.mentor_id: m.region for m in mentors}
        for m in proposal.mentors:
            if m.mentor_id and not m.same_region:
                # no mentor of the mentee's region had room in that wave
                local = [x for x in mentors if x.region == region[m.mentee_id]]
                used = Counter((a.mentor_id, a.wave) for a in proposal.mentors if a.mentor_id)
                assert all(used[(x.mentor_id, m.wave)] >= settings.mentor_limit for x in local), (
                    case
                )
            if m.mentor_id and m.same_region:
                assert mentor_region[m.mentor_id] == region[m.mentee_id], case


def test_every_site_that_needs_a_mentor_is_listed_with_reasons():
    for case, sites, mentors, settings in cases():
        if not mentors:
            continue
        proposal = plan_rollout(sites, settings, mentors)
        listed = {m.mentee_id for m in proposal.mentors}
        by_id = {s.site_id: s for s in sites}
        for p in proposal.sites:
            if p.holdback:
                continue
            att = by_id[p.site_id].attitude
            needs = p.tier in settings.mentor_tiers or (
                att is not None and att <= settings.resistant_attitude
            )
            assert (p.site_id in listed) == needs, case
        assert all(m.reasons for m in proposal.mentors), case


def test_same_seed_same_plan_and_other_seed_can_differ():
    differs = 0
    for case, sites, mentors, settings in cases():
        first = plan_rollout(sites, settings, mentors)
        again = plan_rollout(list(sites), settings, mentors)
        assert first.to_dict() == again.to_dict(), case
        if settings.randomize and len(sites) > 10:
            other = plan_rollout(
                sites, PlanSettings(**{**_fields(settings), "seed": settings.seed + 1}), mentors
            )
            differs += other.to_dict()["sites"] != first.to_dict()["sites"]
    assert differs > 0


def _fields(settings: PlanSettings) -> dict:
    import dataclasses

    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def test_every_planned_site_carries_reasons():
    for case, sites, mentors, settings in cases():
        proposal = plan_rollout(sites, settings, mentors)
        for p in proposal.sites:
            codes = {r.code for r in p.reasons}
            assert "readiness_score" in codes or "readiness_unknown" in codes, case
            assert ("holdback" in codes) == p.holdback, case
            assert all(r.text for r in p.reasons), case
        assert proposal.summary()


def test_readiness_is_the_weighted_mean_and_missing_weights_are_spread():
    site = SiteInput("A", management_score=80, digital_readiness=40, attitude=5.0)
    result = readiness(site, ReadinessWeights(1, 1, 1, 2))
    # capability missing: weights 1, 1, 2 over 4 -> 0.25*80 + 0.25*40 + 0.5*100
    assert result.score == pytest.approx(80.0)
    assert result.tier == "high"
    assert any(r.code == "missing_capability" for r in result.reasons)
    empty = readiness(SiteInput("B"))
    assert math.isnan(empty.score) and empty.tier == "low"


def test_a_site_heavier_than_the_capacity_is_refused():
    site = SiteInput("L", size_weight=2.0)
    with pytest.raises(ValueError, match="raise the capacity"):
        plan_rollout([site], PlanSettings(start=date(2027, 1, 4), sites_per_week=1.5, wave_count=1))


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="wave_count or wave_size"):
        PlanSettings(start=date(2027, 1, 4))
    with pytest.raises(ValueError, match="holdback_share"):
        PlanSettings(start=date(2027, 1, 4), wave_count=2, holdback_share=0.9)
    with pytest.raises(ValueError, match="non-negative"):
        ReadinessWeights(-1, 1, 1, 1)
    with pytest.raises(ValueError, match="duplicate"):
        plan_rollout(
            [SiteInput("A"), SiteInput("A")], PlanSettings(start=date(2027, 1, 4), wave_count=1)
        )
