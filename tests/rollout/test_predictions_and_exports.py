"""Predicted effects with extrapolation warnings, and exports read back by their libraries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import numpy as np
from openpyxl import load_workbook

from app.extensions import db
from app.models import Arm, Observation
from app.rollout import exports
from app.rollout import plans as service
from tests.rollout.helpers import decided_pilot, make_plan


def _pilot_data(pilot, effect=-3.0, seed=4):
    rng = np.random.default_rng(seed)
    metric = pilot.primary_metric
    rows = []
    days = [pilot.pre_start + timedelta(days=i) for i in range(56)]
    day_fx = rng.normal(0, 0.5, len(days))
    for a in pilot.assignments:
        level = 10 + rng.normal(0, 1)
        for i, day in enumerate(days):
            treated = a.arm is Arm.PILOT and day >= pilot.start_date
            value = level + day_fx[i] + rng.normal(0, 0.4) + (effect if treated else 0.0)
            rows.append(
                {"site_id": a.site_id, "metric_id": metric.id, "date": day, "value": float(value)}
            )
    db.session.execute(Observation.__table__.insert(), rows)
    db.session.flush()


def test_predicted_effects_come_with_intervals_and_extrapolation_warnings(make_pilot, make_site):
    pilot, others = decided_pilot(make_pilot, make_site)
    _pilot_data(pilot)
    inside, outside = others[0], others[1]
    inside.digital_readiness, outside.digital_readiness = 60.0, 97.0
    plan = make_plan(pilot)
    assert plan.settings["prediction"]["error"] is None
    ws_in = service.get_plan_site(plan, inside.id)
    ws_out = service.get_plan_site(plan, outside.id)
    assert ws_in.predicted_low < -3.0 < ws_in.predicted_high
    assert ws_out.is_extrapolation
    assert any(
        r["code"] in ("extrapolation", "extrapolation_model") and "digital" in str(r["params"])
        for r in ws_out.reasons
    )
    model_notes = [r["params"] for r in ws_out.reasons if r["code"] == "extrapolation_model"]
    assert model_notes, "the prediction model flags the site outside the pilot sites' range"
    assert model_notes[0]["kind"] == "range"
    assert model_notes[0]["attribute"] == "digital_readiness"
    assert model_notes[0]["value"] == 97.0 > model_notes[0]["high"]
    # the wave's prediction is the mean of its sites' predictions, with an interval
    wave = ws_in.wave
    summary = service.wave_summary(plan, wave)
    mean = np.mean([ws.predicted_effect for ws in summary["sites"]])
    assert summary["prediction"]["effect"] == __import__("pytest").approx(mean, abs=1e-6)
    assert (
        summary["prediction"]["low"]
        < summary["prediction"]["effect"]
        < summary["prediction"]["high"]
    )


def test_a_pilot_without_data_gives_a_plan_without_predictions(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    assert plan.settings["prediction"]["error"]
    assert service.plan_prediction(plan) is None


def test_csv_export_opens_with_the_csv_module(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot, holdback_share=0.2, seed=1, randomize=True)
    data = exports.to_csv(plan)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == len(plan.sites)
    assert {r["Site code"] for r in rows} == {ws.site.code for ws in plan.sites}
    held = [r for r in rows if r["Holdback"]]
    assert len(held) == sum(ws.is_holdback for ws in plan.sites)


def test_excel_export_opens_with_openpyxl(make_pilot, make_site):
    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    book = load_workbook(io.BytesIO(exports.to_xlsx(plan)))
    assert book.sheetnames == ["Sites", "Waves", "Capacity"]
    sites = list(book["Sites"].iter_rows(values_only=True))
    assert len(sites) == 1 + len(plan.sites)
    waves = list(book["Waves"].iter_rows(min_row=2, values_only=True))
    assert [w[0] for w in waves] == [w.number for w in plan.waves]
    assert waves[0][1].date() == plan.waves[0].start_date


def test_icalendar_export_parses_with_icalendar(make_pilot, make_site):
    from icalendar import Calendar

    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot)
    cal = Calendar.from_ical(exports.to_ics(plan))
    events = list(cal.walk("VEVENT"))
    windows = [e for e in events if str(e["uid"]).endswith(f"wave-{plan.waves[0].number}@rollwise")]
    assert windows and windows[0].decoded("dtstart") == plan.waves[0].start_date
    gates = [e for e in events if "-gate@" in str(e["uid"])]
    assert [g.decoded("dtstart") for g in gates] == [w.end_date for w in plan.waves]
    site_events = [e for e in events if "-site-" in str(e["uid"])]
    assert len(site_events) == sum(1 for ws in plan.sites if ws.go_live_date)
    assert len({str(e["uid"]) for e in events}) == len(events)


def test_a_chinese_export_names_size_and_readiness_tiers_in_chinese(app, make_pilot, make_site):
    from flask_babel import force_locale

    pilot, _ = decided_pilot(make_pilot, make_site)
    plan = make_plan(pilot, holdback_share=0.2, seed=1, randomize=True)
    with app.test_request_context(), force_locale("zh_CN"):
        data = exports.to_csv(plan)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    stored = {"small", "medium", "large", "high", "low"}
    for column in ("规模", "准备度档位"):
        assert column in header, header
        values = {row[header.index(column)] for row in body}
        assert values and not values & stored, values
