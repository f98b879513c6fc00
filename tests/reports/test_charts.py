"""The report's daily series is the shared chart, and its failures are not hidden.

``app.reports.charts.daily_chart`` used to import the shared chart under ``except
ImportError`` and call it under ``except TypeError``, falling back to a chart of its own: a
leftover from when the shared chart did not exist yet or did not take the report's arguments
(labels, planned end). Both exist, so the fallback only ever hid real errors behind a chart
in another style.
"""

from __future__ import annotations

from datetime import date

import pytest

from app.core import charts as shared
from app.core.charts import ADJUSTMENT_COLOUR, CONTROL_COLOUR, PILOT_COLOUR
from app.reports import charts

SERIES = {
    "dates": [f"2026-10-{d:02d}" for d in range(1, 11)],
    "pilot": [10.0, 10.2, 9.9, 10.1, 8.0, 7.9, None, 7.7, 7.8, 7.6],
    "control": [10.1, 10.0, 10.2, 9.9, 10.0, 10.1, 9.8, None, 10.0, 10.2],
}


def _daily_chart() -> str:
    return charts.daily_chart(
        SERIES,
        start=date(2026, 10, 5),
        adjustments=[(date(2026, 10, 7), "Second queue")],
        title="Waiting time: daily mean, pilot vs control",
        unit="min",
        end=date(2026, 10, 9),
    )


def test_the_daily_series_with_start_end_and_adjustments_is_the_shared_chart():
    svg = _daily_chart()
    assert svg.startswith('<svg role="img" aria-label="Waiting time: daily mean')
    assert f'stroke="{PILOT_COLOUR}"' in svg and f'stroke="{CONTROL_COLOUR}"' in svg
    assert f'stroke="{ADJUSTMENT_COLOUR}"' in svg and "① 10-07 Second queue" in svg


def test_an_error_in_the_shared_chart_surfaces(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("daily_series_svg() got an unexpected keyword argument")

    monkeypatch.setattr(shared, "daily_series_svg", broken)
    monkeypatch.setattr(charts, "daily_series_svg", broken, raising=False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        _daily_chart()
