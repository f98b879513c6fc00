"""Adjustments: conditions select the right sites, scopes, reuse for new sites, chart marks,
and the exploratory before/after comparison."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from app.extensions import db
from app.models import AdjustmentScope, Observation, Role, SizeTier
from app.pilots.observations import chart_marks
from app.retros import adjustments as service
from app.retros import meetings as retro_service
from app.retros.meetings import RetroError


@pytest.fixture
def sites(make_site):
    return {
        "young": make_site(code="A1", senior_share=0.05, region="East", staff_count=10),
        "edge": make_site(code="A2", senior_share=0.30, region="North", staff_count=20),
        "old": make_site(code="A3", senior_share=0.45, region="north", staff_count=30),
        "unknown": make_site(
            code="A4",
            senior_share=None,
            staff_count=40,
            region="South",
            size_tier=SizeTier.LARGE,
            attributes={"opened": 2015, "format": "mall"},
        ),
    }


def codes(found) -> list[str]:
    return sorted(s.code for s in found)


def adjust(retro, lead, *, title="x", effective_date=None, **options):
    """Record an adjustment of ``retro`` by ``lead``; by default for every pilot site from the
    retro's own date, with no description."""
    options.setdefault("description", None)
    options.setdefault("scope", AdjustmentScope.ALL_PILOT_SITES)
    return service.create_adjustment(
        retro,
        title=title,
        effective_date=retro.date if effective_date is None else effective_date,
        by=lead,
        **options,
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"attribute": "senior_share", "op": ">", "value": 0.3}, ["A3"]),
        ({"attribute": "senior_share", "op": ">=", "value": 0.3}, ["A2", "A3"]),
        ({"attribute": "senior_share", "op": "<", "value": 0.3}, ["A1"]),  # missing never fits
        ({"attribute": "staff_count", "op": "<=", "value": 20}, ["A1", "A2"]),
        ({"attribute": "region", "op": "==", "value": "North"}, ["A2", "A3"]),  # any case
        ({"attribute": "region", "op": "!=", "value": "north"}, ["A1", "A4"]),
        ({"attribute": "size_tier", "op": "==", "value": "large"}, ["A4"]),
        ({"attribute": "opened", "op": "<", "value": 2020}, ["A4"]),  # a free attribute
        ({"attribute": "format", "op": "==", "value": "Mall"}, ["A4"]),
        ({"attribute": "nonexistent", "op": ">", "value": 1}, []),
    ],
)
def test_conditions_select_the_right_sites(sites, condition, expected):
    found = [s for s in sites.values() if service.condition_matches(condition, s)]
    assert codes(found) == expected


@pytest.mark.parametrize(
    ("attribute", "op", "raw", "value"),
    [
        ("senior_share", ">", "30 %", 0.3),
        ("senior_share", ">", "30", 0.3),
        ("senior_share", ">", "0.3", 0.3),
        ("senior_share", ">=", "0,25", 0.25),
        ("staff_count", "<", "15", 15.0),
        ("region", "==", " North ", "North"),
        ("opened", ">=", "2018", 2018.0),
        ("format", "==", "mall", "mall"),
    ],
)
def test_typed_conditions_are_normalised(attribute, op, raw, value):
    condition = service.normalise_condition(attribute, op, raw)
    assert condition == {"attribute": attribute, "op": op, "value": pytest.approx(value)}


@pytest.mark.parametrize(
    ("attribute", "op", "raw"),
    [
        ("senior_share", ">", "abc"),
        ("senior_share", ">", "150"),
        ("senior_share", ">", ""),
        ("senior_share", "~", "0.3"),
        ("region", ">", "North"),
        ("", ">", "1"),
        ("staff_count", ">", "nan"),
        ("staff_count", ">", "inf"),
    ],
)
def test_bad_conditions_are_refused_with_a_message(attribute, op, raw):
    with pytest.raises(RetroError):
        service.normalise_condition(attribute, op, raw)


@pytest.fixture
def retro_with_sites(make_pilot, make_user, sites, make_site):
    control = [make_site(senior_share=0.2) for _ in range(2)]
    pilot = make_pilot(n_pilot=4, n_control=2, sites=[*sites.values(), *control])
    lead = make_user(Role.CHANGE_LEAD)
    retro, _ = retro_service.open_retro(pilot, pilot.start_date + timedelta(days=6), by=lead)
    db.session.commit()
    return retro, lead


def test_scopes_fix_the_sites_when_decided(retro_with_sites, sites):
    retro, lead = retro_with_sites
    every = adjust(retro, lead, title="All", scope=AdjustmentScope.ALL_PILOT_SITES)
    assert codes(every.sites) == ["A1", "A2", "A3", "A4"]  # pilot arm only, no controls
    chosen = adjust(
        retro,
        lead,
        title="Two",
        scope=AdjustmentScope.SELECTED_SITES,
        site_ids=[sites["young"].id, sites["old"].id],
    )
    assert codes(chosen.sites) == ["A1", "A3"]
    seniors = adjust(
        retro,
        lead,
        title="Seniors",
        description="help at the door",
        effective_date=retro.date + timedelta(days=1),
        scope=AdjustmentScope.CONDITION,
        condition=service.normalise_condition("senior_share", ">", "30 %"),
    )
    assert codes(seniors.sites) == ["A3"]
    assert seniors.condition == {"attribute": "senior_share", "op": ">", "value": 0.3}
    assert chart_marks(retro.pilot) == [
        (retro.date, "All"),
        (retro.date, "Two"),
        (retro.date + timedelta(days=1), "Seniors"),
    ]


def test_adjustments_are_checked(retro_with_sites, make_site):
    retro, lead = retro_with_sites
    outsider = make_site()
    with pytest.raises(RetroError):  # before the retro that decides it
        adjust(retro, lead, effective_date=retro.date - timedelta(days=1))
    with pytest.raises(RetroError):  # a site outside the pilot is not a choice
        adjust(retro, lead, scope=AdjustmentScope.SELECTED_SITES, site_ids=[outsider.id])
    with pytest.raises(RetroError):
        adjust(retro, lead, scope=AdjustmentScope.CONDITION, condition=None)


def test_a_practice_applies_to_new_sites_that_match_its_condition(
    retro_with_sites, make_site, sites
):
    retro, lead = retro_with_sites
    practice = adjust(
        retro,
        lead,
        title="Assist seniors",
        scope=AdjustmentScope.CONDITION,
        condition={"attribute": "senior_share", "op": ">=", "value": 0.3},
    )
    chosen = adjust(
        retro,
        lead,
        title="Only A1",
        scope=AdjustmentScope.SELECTED_SITES,
        site_ids=[sites["young"].id],
    )
    everywhere = adjust(retro, lead, title="All", scope=AdjustmentScope.ALL_PILOT_SITES)
    new = [make_site(code="N1", senior_share=0.5), make_site(code="N2", senior_share=0.1)]
    assert codes(service.matching_sites(practice, new)) == ["N1"]
    assert service.matching_sites(chosen, new) == []
    assert codes(service.matching_sites(chosen, [*new, sites["young"]])) == ["A1"]
    assert codes(service.matching_sites(everywhere, new)) == ["N1", "N2"]
    assert {a.title for a in service.reusable_practices()} == {"Assist seniors", "Only A1", "All"}


def test_describe_condition_is_readable(app):
    with app.test_request_context():
        assert service.describe_condition(
            {"attribute": "senior_share", "op": ">", "value": 0.3}
        ) == ("Share of senior customers > 30 %")
        assert service.describe_condition(
            {"attribute": "region", "op": "==", "value": "North"}
        ) == ("Region = North")
        assert service.describe_condition(
            {"attribute": "size_tier", "op": "==", "value": "small"}
        ) == ("Size tier = Small")


def test_before_after_compares_affected_sites_with_controls(make_pilot, make_user):
    """Affected pilot sites improve by 2 units after the adjustment; others do not."""
    pilot = make_pilot(n_pilot=4, n_control=6)
    lead = make_user(Role.CHANGE_LEAD)
    metric = pilot.primary_metric
    effective = pilot.start_date + timedelta(days=10)
    rng = np.random.default_rng(7)
    rows = []
    for i, assignment in enumerate(pilot.assignments):
        base = 10 + i * 0.5
        for offset in range(-14, 20):
            day = pilot.start_date + timedelta(days=offset)
            lift = -2.0 if (assignment.arm.value == "pilot" and day >= effective) else 0.0
            rows.append(
                Observation(
                    site_id=assignment.site_id,
                    metric_id=metric.id,
                    date=day,
                    value=float(base + lift + rng.normal(0, 0.3)),
                )
            )
    db.session.add_all(rows)
    retro, _ = retro_service.open_retro(pilot, effective - timedelta(days=1), by=lead)
    adjustment = adjust(
        retro, lead, title="Help", effective_date=effective, scope=AdjustmentScope.ALL_PILOT_SITES
    )
    db.session.commit()
    result = service.before_after(adjustment)
    assert result.error is None
    assert result.before_start == pilot.start_date  # the pilot's own run-up, not the pre-period
    assert result.after_end == pilot.start_date + timedelta(days=19)
    line = result.results[0]
    assert line.key == metric.key
    # simulated: -2 at affected sites after the date; noise sd 0.3 over 4 vs 6 sites
    assert line.effect == pytest.approx(-2.0, abs=0.3)
    assert line.ci_low < -1.5 and line.ci_high < 0
    assert (line.n_pilot_sites, line.n_control_sites) == (4, 6)


def test_before_after_degrades_without_data(retro_with_sites):
    retro, lead = retro_with_sites
    adjustment = adjust(retro, lead, scope=AdjustmentScope.ALL_PILOT_SITES)
    result = service.before_after(adjustment)
    assert result.error == "no_data_after"
    assert result.results == []


def test_effective_date_defaults_to_the_next_day(retro_with_sites):
    retro, _ = retro_with_sites
    assert service.default_effective_date(retro) == retro.date + timedelta(days=1)
    assert isinstance(service.default_effective_date(retro), date)
