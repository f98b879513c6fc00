"""The feedback page's charts only draw: what they mark comes from the analytics workflow."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pandas as pd

from app.extensions import db
from app.feedback import analytics as fa
from app.feedback.charts import overview_charts
from app.models import Adjustment


def test_the_charts_draw_the_overview_without_reading_the_database():
    pilot = SimpleNamespace(start_date=date(2026, 10, 3), end_date=None)  # no id, no session
    counts = pd.DataFrame(
        {
            "date": [date(2026, 10, d) for d in (1, 1, 5, 5)],
            "arm": ["pilot", "control"] * 2,
            "n": [3, 2, 4, 1],
        }
    )
    overview = {
        "daily_counts": counts,
        "headline": {},
        "adjustments": [(date(2026, 10, 4), "Seniors helped at the kiosk")],
    }
    charts = overview_charts(pilot, overview, label=lambda option: option["label"])
    assert list(charts) == ["responses"]
    assert "① 10-04 Seniors helped at the kiosk" in charts["responses"]


def test_the_overview_lists_the_adjustments_to_mark(app, make_pilot):
    pilot = make_pilot(1, 1, start_date=date(2026, 10, 1))
    db.session.add_all(
        [
            Adjustment(pilot=pilot, effective_date=date(2026, 10, 9), title="Later"),
            Adjustment(pilot=pilot, effective_date=date(2026, 10, 4), title="Earlier"),
        ]
    )
    db.session.commit()
    assert fa.pilot_overview(pilot)["adjustments"] == [
        (date(2026, 10, 4), "Earlier"),
        (date(2026, 10, 9), "Later"),
    ]
