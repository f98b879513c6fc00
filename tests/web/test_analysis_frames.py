"""The database-to-analysis bridge: ``observations_frame`` filters, labels and orders rows.

The expected frames are built by hand from the rows the test stores (run on SQLite and,
with TEST_DATABASE_URL, on PostgreSQL, whose date and placeholder handling differ).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from app.core.frames import OBSERVATION_COLUMNS, observations_frame
from app.extensions import db
from app.models import Observation

DAY = date(2026, 10, 1)


def _store(make_site, make_metric):
    b_site, a_site = make_site(code="B-2"), make_site(code="A-1")  # stored out of order
    wait, orders = make_metric("wait"), make_metric("orders")
    rows = []
    for site in (b_site, a_site):
        for offset in range(3):
            for metric in (wait, orders):
                value = 10.0 * offset + (1.5 if metric is wait else 100) + (site is b_site)
                day = DAY + timedelta(days=offset)
                db.session.add(Observation(site=site, metric=metric, date=day, value=value))
                rows.append((site.code, pd.Timestamp(day), metric.key, value))
    db.session.commit()
    expected = pd.DataFrame(rows, columns=OBSERVATION_COLUMNS).astype(
        {"site_id": str, "metric": str, "date": "datetime64[s]"}
    )
    return a_site, b_site, expected.sort_values(["site_id", "date", "metric"], ignore_index=True)


def test_every_observation_labelled_with_codes_and_keys_in_order(app, make_site, make_metric):
    _a, _b, expected = _store(make_site, make_metric)
    frame = observations_frame()
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame["site_id"].unique()) == ["A-1", "B-2"]


def test_filters_by_site_metric_and_dates(app, make_site, make_metric):
    a_site, _b, expected = _store(make_site, make_metric)
    frame = observations_frame([a_site.id], ["wait"], DAY + timedelta(days=1), DAY + timedelta(2))
    want = expected[
        (expected["site_id"] == "A-1")
        & (expected["metric"] == "wait")
        & (expected["date"] >= pd.Timestamp(DAY + timedelta(days=1)))
    ].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, want)
    assert list(frame["value"]) == [11.5, 21.5]  # 10 × day offset + 1.5 (wait), site A-1


def test_no_sites_no_metric_or_nothing_in_range_gives_an_empty_typed_frame(
    app, make_site, make_metric
):
    _store(make_site, make_metric)
    for frame in (
        observations_frame([], None),
        observations_frame(None, ["no_such_metric"]),
        observations_frame(None, None, DAY + timedelta(days=30)),
    ):
        assert frame.empty and list(frame.columns) == OBSERVATION_COLUMNS
        assert frame["date"].dtype.kind == "M" and frame["value"].dtype == float
