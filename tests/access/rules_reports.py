"""Reports: admins, change leads and analysts see them; only analysts explore and sign off.

Staff never see reports (every site's results; an interim result seen at a pilot site can
change how its staff behave). ``setup`` computes a small snapshot of ``world.pilot``.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from app.extensions import db
from app.models import Observation
from app.reports import snapshots as service
from tests.access.rules import ALL_SEEING, ANALYSTS, get, post


def setup(world) -> None:
    pilot = world.pilot
    metric = pilot.metric_links[0].metric
    rng = np.random.default_rng(1)
    rows = [
        {
            "site_id": a.site_id,
            "metric_id": metric.id,
            "date": pilot.start_date + timedelta(days=offset),
            "value": float(rng.normal(10, 1)),
        }
        for a in pilot.assignments
        for offset in range(-7, 7)
    ]
    db.session.execute(Observation.__table__.insert(), rows)
    report = service.start_snapshot(pilot, by=None, n_permutations=1000)
    db.session.commit()
    service.compute_report(report.id)
    world.report = report


def _r(path: str):
    return lambda w: f"/reports/{w.report.id}{path}"


RULES = {
    "reports.index": [
        get(lambda w: f"/reports/pilot/{w.pilot.id}", ALL_SEEING),
        get(lambda w: f"/reports/pilot/{w.other_pilot.id}", ALL_SEEING),
    ],
    "reports.create": post(
        lambda w: f"/reports/pilot/{w.pilot.id}/create", ALL_SEEING, ok=frozenset({302})
    ),
    "reports.explore": post(
        lambda w: f"/reports/pilot/{w.pilot.id}/explore",
        ANALYSTS,
        data=lambda w: {"method": "did", "metrics": [w.pilot.metric_links[0].metric.key]},
        ok=frozenset({302}),
    ),
    "reports.detail": get(_r(""), ALL_SEEING),
    "reports.status": get(_r("/status"), ALL_SEEING),
    "reports.chart": get(_r("/charts/forest-metrics.svg"), ALL_SEEING),
    "reports.review": post(
        _r("/review"), ANALYSTS, data=lambda w: {"comment": "Please check.", "request_changes": "1"}
    ),
    "reports.export_pdf": get(_r("/export.pdf"), ALL_SEEING),
    "reports.export_csv": get(_r("/export-csv.zip"), ALL_SEEING),
    "reports.export_json": get(_r("/export.json"), ALL_SEEING),
    "reports.export_bundle": get(_r("/bundle.zip"), ALL_SEEING),
}
