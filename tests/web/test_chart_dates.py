"""Date axes write years when the chart crosses a year (or lies outside this year)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from app.core import charts, clock
from app.rollout.charts import timeline_svg
from tests.rollout.helpers import decided_pilot, make_plan


@pytest.fixture
def today_is(monkeypatch):
    def move(day: date) -> None:
        moment = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)
        monkeypatch.setattr(clock, "utc_now", lambda: moment)

    return move


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


def test_the_axis_format_adds_years_only_when_needed(today_is):
    today_is(date(2026, 12, 20))
    assert charts.date_format(date(2026, 10, 1), date(2026, 12, 20)) == "%m-%d"
    assert charts.date_format(date(2026, 12, 1), date(2027, 1, 20)) == "%Y-%m-%d"
    assert charts.date_format(date(2025, 3, 1), date(2025, 4, 1)) == "%Y-%m-%d"


def _ticks(svg: str) -> list[str]:
    return re.findall(r">\s*(\d{4}-\d{2}-\d{2}|\d{2}-\d{2})\s*<", svg)


def test_a_daily_chart_across_new_year_shows_years(rctx, today_is):
    today_is(date(2027, 1, 20))
    days = pd.date_range("2026-12-10", "2027-01-15", freq="D")
    frame = pd.DataFrame({"date": days, "pilot": 1.0, "control": 2.0})
    svg = charts.daily_series_svg(frame, title="Waiting", unit="min", start=date(2026, 12, 28))
    ticks = _ticks(svg)
    assert ticks and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in ticks)
    assert any(t.startswith("2026-") for t in ticks) and any(t.startswith("2027-") for t in ticks)


def test_a_daily_chart_within_this_year_keeps_short_dates(rctx, today_is):
    today_is(date(2026, 11, 20))
    days = pd.date_range("2026-10-01", "2026-10-30", freq="D")
    frame = pd.DataFrame({"date": days, "pilot": 1.0, "control": 2.0})
    ticks = _ticks(
        charts.daily_series_svg(frame, title="Waiting", unit="min", start=date(2026, 10, 15))
    )
    assert ticks and all(re.fullmatch(r"\d{2}-\d{2}", t) for t in ticks)


def test_the_rollout_timeline_shows_years_across_new_year(app, make_pilot, make_site, today_is):
    today_is(date(2026, 12, 1))
    with app.test_request_context():
        pilot, others = decided_pilot(make_pilot, make_site)
        plan = make_plan(pilot, start=date(2026, 12, 14))
        assert plan.waves[-1].end_date > date(2027, 1, 1) - timedelta(days=1)
        ticks = _ticks(timeline_svg(plan))
    assert ticks and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in ticks)
