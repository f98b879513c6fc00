"""Snapshots: what they store, that they never change, and the stale-data banner."""

from __future__ import annotations

import re

import pytest
from numpy.testing import assert_allclose

import analysis
from app.core.frames import pilot_inputs
from app.extensions import db
from app.models import AuditEvent, Observation, Report, ReportStatus
from app.models.report import SnapshotImmutableError
from app.reports import snapshots as service
from tests.reports.conftest import create_report

NUMBERS = ("effect", "se", "ci_low", "ci_high", "p_value", "p_adjusted", "relative_effect")


def engine_results(pilot) -> dict:
    """The engine on the same data with the same options, independently of the service."""
    inputs = pilot_inputs(pilot)
    return analysis.compare(inputs.observations, inputs.sites, **inputs.options).to_dict()


def test_create_report_stores_parameters_fingerprint_version_and_full_results(
    client, analyst_client, report_pilot
):
    pilot = report_pilot()
    report = create_report(client, pilot)

    assert report.status is ReportStatus.DRAFT
    assert not report.is_exploration
    assert report.engine_version == analysis.__version__
    assert report.data_fingerprint == pilot_inputs(pilot).fingerprint
    assert report.results_digest == service.results_digest(report.results)
    compare_options = report.parameters["compare"]
    assert compare_options["primary"] == pilot.primary_metric.key
    assert compare_options["method"] == "auto"
    expected = engine_results(pilot)
    for key, want in expected["metrics"].items():
        got = report.results["comparison"]["metrics"][key]
        for field in NUMBERS:
            assert_allclose(got[field], want[field], rtol=1e-12), (key, field)
        assert got["verdict"] == want["verdict"]
        assert got["method"] == want["method"]
    assert {"daily", "site_effects", "segments", "sequential", "feedback", "recommendation"} <= set(
        report.results
    )
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "report.create" in actions


def _displayed(html: str, key: str, field: str) -> str:
    block = html.split(f'data-metric="{key}"', 1)[1]
    return re.search(rf'data-field="{field}">([^<]*)<', block).group(1)


def test_numbers_on_the_page_equal_the_engine_results(client, analyst_client, report_pilot):
    from app.core import numbers as fmt
    from app.reports import sentences as say

    pilot = report_pilot()
    report = create_report(client, pilot)
    html = client.get(f"/reports/{report.id}").get_data(as_text=True)
    expected = engine_results(pilot)
    with client.application.test_request_context():
        for key, res in expected["metrics"].items():
            digits = say.digits_for(res, None)
            assert _displayed(html, key, "effect") == fmt.num(res["effect"], digits, signed=True)
            assert _displayed(html, key, "ci") == (
                f"{fmt.num(res['ci_low'], digits)} – {fmt.num(res['ci_high'], digits)}"
            )
            assert _displayed(html, key, "p").replace("&lt;", "<") == fmt.p_text(res["p_value"])
            assert _displayed(html, key, "p_adjusted").replace("&lt;", "<") == fmt.p_text(
                res["p_adjusted"]
            )
    primary = expected["metrics"][pilot.primary_metric.key]
    assert f'data-verdict="{primary["verdict"]}"' in html
    assert "fell by" in html  # the primary metric falls at the pilot sites


def test_json_export_holds_the_engine_numbers_exactly(client, analyst_client, report_pilot):
    pilot = report_pilot()
    report = create_report(client, pilot)
    payload = client.get(f"/reports/{report.id}/export.json").get_json()
    expected = engine_results(pilot)
    for key, want in expected["metrics"].items():
        for field in NUMBERS:
            assert_allclose(payload["results"]["comparison"]["metrics"][key][field], want[field])
    assert payload["report"]["data_fingerprint"] == report.data_fingerprint


def test_a_computed_snapshot_cannot_be_changed(client, analyst_client, report_pilot):
    report = create_report(client, report_pilot())
    report.results = {"comparison": {"metrics": {}}}
    with pytest.raises(SnapshotImmutableError):
        db.session.commit()
    db.session.rollback()
    report = db.session.get(Report, report.id)
    report.data_fingerprint = "0" * 64
    with pytest.raises(SnapshotImmutableError):
        db.session.commit()
    db.session.rollback()


def test_a_snapshot_whose_data_changed_says_so(client, analyst_client, report_pilot):
    pilot = report_pilot()
    report = create_report(client, pilot)
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'data-testid="stale-banner"' not in page
    assert not service.is_stale(report)

    observation = db.session.scalars(db.select(Observation).limit(1)).first()
    observation.value += 1.5
    db.session.commit()

    assert service.looks_stale(report)
    assert service.is_stale(report)
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert 'data-testid="stale-banner"' in page
    # the snapshot itself is untouched: same numbers, same fingerprint
    db.session.expire_all()
    again = db.session.get(Report, report.id)
    assert again.data_fingerprint == report.data_fingerprint
    assert again.results_digest == service.results_digest(again.results)


def test_a_new_snapshot_of_changed_data_has_a_new_fingerprint(client, analyst_client, report_pilot):
    pilot = report_pilot()
    first = create_report(client, pilot)
    observation = db.session.scalars(db.select(Observation).limit(1)).first()
    observation.value += 1.5
    db.session.commit()
    second = create_report(client, pilot)
    assert second.data_fingerprint != first.data_fingerprint
    assert not service.is_stale(second)
    assert service.latest_preregistered(pilot).id == second.id


def test_a_pilot_without_data_gives_a_failed_report_not_a_500(client, analyst_client, make_pilot):
    pilot = make_pilot()
    db.session.commit()
    report = create_report(client, pilot)
    assert report.status is ReportStatus.FAILED
    assert "no observations" in report.error.lower()
    page = client.get(f"/reports/{report.id}")
    assert page.status_code == 200
    assert "The computation failed" in page.get_data(as_text=True)
    assert client.get(f"/reports/{report.id}/export.pdf").status_code == 404


def test_status_endpoint_reports_progress(client, analyst_client, report_pilot):
    report = create_report(client, report_pilot())
    status = client.get(f"/reports/{report.id}/status").get_json()
    assert status == {
        "id": report.id,
        "status": "draft",
        "progress": 100,
        "step": "done",
        "done": True,
        "error": None,
        "url": f"/reports/{report.id}",
    }


def test_charts_are_svg_and_unknown_ones_404(client, analyst_client, report_pilot):
    pilot = report_pilot()
    report = create_report(client, pilot)
    key = pilot.primary_metric.key
    for name in (
        "forest-metrics",
        f"daily-{key}",
        f"event-{key}",
        f"permutation-{key}",
        f"sites-{key}",
    ):
        response = client.get(f"/reports/{report.id}/charts/{name}.svg")
        assert response.status_code == 200, name
        assert response.mimetype == "image/svg+xml"
        assert response.get_data(as_text=True).startswith("<svg")
    assert client.get(f"/reports/{report.id}/charts/nope.svg").status_code == 404
    assert client.get(f"/reports/{report.id}/charts/daily-nope.svg").status_code == 404


def test_unknown_reports_and_pilots_are_404(client, analyst_client):
    assert client.get("/reports/999").status_code == 404
    assert client.get("/reports/pilot/999").status_code == 404
    assert client.post("/reports/pilot/999/create").status_code == 404


def test_stalled_jobs_are_marked_failed(app, report_pilot):
    from datetime import UTC, datetime, timedelta

    pilot = report_pilot()
    report = service.start_snapshot(pilot, by=None)
    db.session.commit()
    assert not service.fail_if_stalled(report, now=datetime.now(UTC))
    assert service.fail_if_stalled(report, now=datetime.now(UTC) + timedelta(hours=1))
    assert report.status is ReportStatus.FAILED


def test_extension_weeks_use_analysis_power_when_history_allows(app, report_pilot):
    """No effect + 60 days of history before the pre-period: the rule says extend, and the
    weeks come from ``analysis.power`` (not the square-root approximation)."""
    from datetime import timedelta

    import numpy as np

    pilot = report_pilot(effect=0.0, seed=3, noise=3.0)
    metric = pilot.primary_metric
    rng = np.random.default_rng(5)
    rows = [
        {
            "site_id": a.site_id,
            "metric_id": metric.id,
            "value": float(rng.normal(10, 1)),
            "date": pilot.pre_start - timedelta(days=d),
        }
        for a in pilot.assignments
        for d in range(1, 61)
    ]
    db.session.execute(Observation.__table__.insert(), rows)
    db.session.commit()
    report = service.start_snapshot(pilot, by=None, n_permutations=1000)
    db.session.commit()
    report = service.compute_report(report.id)
    rec = report.results["recommendation"]
    assert rec["decision"] == "extend", rec
    assert rec["extension"]["method"] == "power", rec["extension"]
    assert rec["extension"]["effect"] == 1.0


def test_the_page_reads_in_chinese(client, analyst_client, report_pilot):
    pilot = report_pilot()
    pilot.primary_metric.name_zh = "平均等待时间"
    db.session.commit()
    report = create_report(client, pilot)
    client.get("/lang/zh_CN")
    page = client.get(f"/reports/{report.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "平均等待时间" in html  # metric names in the reader's language
    svg = client.get(f"/reports/{report.id}/charts/forest-metrics.svg?lang=zh_CN")
    assert svg.status_code == 200


def test_deviations_from_the_pre_registered_design_come_from_the_audit_log(
    client, analyst_client, report_pilot
):
    from app.core import audit

    pilot = report_pilot()
    audit.record(
        "pilot.change_end",
        pilot,
        by=None,
        pilot_id=pilot.id,
        is_deviation=True,
        reason="Extended by a week after the holiday",
        before={"end": "2026-10-14"},
        after={"end": "2026-10-21"},
    )
    audit.record("pilot.rename", pilot, by=None, pilot_id=pilot.id)  # not a deviation
    db.session.commit()
    report = create_report(client, pilot)
    assert [d["action"] for d in report.results["deviations"]] == ["pilot.change_end"]
    html = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "Extended by a week after the holiday" in html
    assert "pilot.rename" not in html
