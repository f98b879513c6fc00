"""Daily feedback rates per site become metric observations (upserted, idempotent)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.feedback.daily_metrics import MetricConflict, sync_pilot_metrics
from app.models import Audience, Metric, MetricKind, Observation, ObservationRevision


def _obs(key, site, day):
    return db.session.scalar(
        select(Observation)
        .join(Metric)
        .where(Metric.key == key, Observation.site_id == site.id, Observation.date == day)
    )


def test_daily_rates_per_site(feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    day = date(2026, 10, 3)
    when = datetime(2026, 10, 3, 4, tzinfo=UTC)
    for overall, nps, age in ((5, 10, "60+"), (4, 8, "30_59"), (2, 3, "60+")):
        add_response(
            feedback_pilot, site, when, overall=overall, ease=3, recommend=nps, age_band=age
        )
    for attitude in (2, 5):
        add_response(
            feedback_pilot, site, when, Audience.STAFF, workload=3, ease=3, attitude=attitude
        )
    result = sync_pilot_metrics(feedback_pilot, today=date(2026, 10, 10))
    db.session.commit()
    assert result.inserted == 5
    csat = _obs("csat", site, day)
    assert (csat.value, csat.denominator) == (pytest.approx(2 / 3), 3)  # 5 and 4 of 5,4,2
    assert _obs("senior_csat", site, day).value == pytest.approx(1 / 2)  # 5 of 5,2
    assert _obs("avg_rating", site, day).value == pytest.approx(11 / 3)
    assert _obs("nps", site, day).value == pytest.approx(0.0)  # 1 promoter, 1 detractor of 3
    assert _obs("staff_attitude", site, day).value == pytest.approx(3.5)
    metric = db.session.scalar(select(Metric).where(Metric.key == "csat"))
    assert (metric.source, metric.kind) == ("feedback", MetricKind.PROPORTION)
    # a day without answers has no observation (not a zero)
    assert _obs("csat", site, date(2026, 10, 4)) is None


def test_sync_is_idempotent_and_keeps_history(feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    when = datetime(2026, 10, 3, 4, tzinfo=UTC)
    add_response(feedback_pilot, site, when, overall=5, ease=3, recommend=9)
    sync_pilot_metrics(feedback_pilot, today=date(2026, 10, 10))
    again = sync_pilot_metrics(feedback_pilot, today=date(2026, 10, 10))
    assert (again.inserted, again.updated) == (0, 0)
    add_response(feedback_pilot, site, when, overall=1, ease=3, recommend=0)
    third = sync_pilot_metrics(feedback_pilot, today=date(2026, 10, 10))
    assert third.updated >= 1
    assert _obs("csat", site, date(2026, 10, 3)).value == pytest.approx(0.5)
    assert db.session.scalar(select(ObservationRevision)) is not None


def test_a_metric_key_owned_by_operations_is_not_overwritten(feedback_pilot, make_metric):
    make_metric("csat", source="operations")
    with pytest.raises(MetricConflict):
        sync_pilot_metrics(feedback_pilot, today=date(2026, 10, 10))


def test_the_cli_syncs_every_pilot(runner, feedback_pilot, add_response):
    site = feedback_pilot.assignments[0].site
    add_response(
        feedback_pilot, site, datetime(2026, 10, 3, 4, tzinfo=UTC), overall=5, ease=3, recommend=9
    )
    db.session.commit()
    result = runner.invoke(args=["feedback", "sync-metrics", "--today", "2026-10-10"])
    assert result.exit_code == 0, result.output
    assert f"pilot {feedback_pilot.id}: 3 inserted" in result.output
