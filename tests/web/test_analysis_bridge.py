"""The database → analysis bridge gives the analysis engine the frames it expects."""

from datetime import date, timedelta

import pandas as pd

import analysis
from app.core.frames import data_fingerprint, pilot_inputs
from app.extensions import db
from app.models import MetricRole, Observation, PilotMetric


def _observe(pilot, metric, effect: float) -> None:
    for assignment in pilot.assignments:
        for offset in range(-28, 28):
            day = pilot.start_date + timedelta(days=offset)
            bump = effect if (assignment.arm.value == "pilot" and offset >= 0) else 0.0
            value = 10.0 + assignment.site_id + (offset % 7) * 0.1 + bump
            db.session.add(Observation(site=assignment.site, metric=metric, date=day, value=value))
    db.session.flush()


def test_pilot_inputs_feed_compare(make_pilot, make_metric):
    pilot = make_pilot(n_pilot=3, n_control=4, min_effect=1.0)
    guard = make_metric("ticket")
    pilot.metric_links.append(PilotMetric(metric=guard, role=MetricRole.GUARDRAIL, margin=0.5))
    primary = pilot.primary_metric
    _observe(pilot, primary, effect=-2.0)
    _observe(pilot, guard, effect=0.0)
    inputs = pilot_inputs(pilot)
    assert list(inputs.observations.columns) == ["site_id", "date", "metric", "value"]
    assert len(inputs.observations) == 7 * 56 * 2
    assert set(inputs.sites["arm"]) == {"pilot", "control"}
    assert inputs.options["primary"] == primary.key
    assert inputs.options["guardrails"] == ["ticket"]
    assert inputs.options["directions"][primary.key] == "decrease"
    report = analysis.compare(inputs.observations, inputs.sites, **inputs.options)
    # the simulated effect is exactly -2 at every pilot site-day with no noise
    headline = report.to_dict()["metrics"][primary.key]
    assert abs(headline["effect"] - (-2.0)) < 1e-9


def test_fingerprint_changes_with_the_data_and_not_with_row_order():
    obs = pd.DataFrame(
        {
            "site_id": ["A", "B"],
            "date": pd.to_datetime([date(2026, 1, 1)] * 2),
            "metric": ["m", "m"],
            "value": [1.0, 2.0],
        }
    )
    sites = pd.DataFrame({"site_id": ["A", "B"], "arm": ["pilot", "control"]})
    first = data_fingerprint(obs, sites)
    assert data_fingerprint(obs.iloc[::-1], sites) == first
    changed = obs.assign(value=[1.0, 2.5])
    assert data_fingerprint(changed, sites) != first
